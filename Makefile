# liveobs — make targets. Each bootstraps what it needs on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DISTS  := liveobs sdk correlator cli
SRC    := liveobs/src sdk/src correlator/src cli/src

.PHONY: install lint typecheck test test-fast bench browser clean

$(STAMP): liveobs/pyproject.toml sdk/pyproject.toml correlator/pyproject.toml cli/pyproject.toml requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(foreach d,$(DISTS),-e ./$(d)) -r requirements-dev.txt
	@touch $@

## install: create .venv and install the four distributions (editable) and the dev tools
install: $(STAMP)

## browser: make sure headless Chromium is on the machine (Debian's package, as root)
browser:
	@sh scripts/ensure-chromium

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy $(SRC)

## test: lint, type-check and run every test
test: install browser lint typecheck
	$(BIN)/python -m pytest

## bench: every benchmark; each prints its figures and ratios against its baselines
bench: install
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# --- the Kukulkan example and `make demo` ------------------------------------------
.PHONY: demo
## demo: the main job: collector, the Kukulkan app, a session with a failing click, its trace and the gates
demo: install
	PYTHONPATH=examples/kukulkan $(BIN)/python -m kukulkan.demo
