# liveobs — make targets. Each bootstraps what it needs on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed
DISTS  := liveobs sdk correlator cli
SRC    := liveobs/src sdk/src correlator/src cli/src

.PHONY: install lint typecheck test test-fast test-otel-matrix bench browser clean

$(STAMP): liveobs/pyproject.toml sdk/pyproject.toml correlator/pyproject.toml cli/pyproject.toml requirements-dev.txt requirements-demo.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(foreach d,$(DISTS),-e ./$(d)) -r requirements-dev.txt
	@touch $@ $(DEMO_STAMP)

# The demo needs only the distributions and the example's own dependencies, not the dev tools.
$(DEMO_STAMP): liveobs/pyproject.toml sdk/pyproject.toml correlator/pyproject.toml cli/pyproject.toml requirements-demo.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(foreach d,$(DISTS),-e ./$(d)) -r requirements-demo.txt
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
	MYPYPATH=examples/kukulkan $(BIN)/mypy -p kukulkan

## test: lint, type-check, run every test, and the SDK's tests on the oldest and newest OpenTelemetry it supports
test: install browser lint typecheck
	$(BIN)/python -m pytest
	$(MAKE) test-otel-matrix

## test-otel-matrix: the SDK's tests in one environment per pinned OpenTelemetry release (.venv-matrix/, reused)
test-otel-matrix: install
	$(BIN)/python scripts/otel_matrix.py tests floor newest

## bench: every benchmark; each prints its figures and ratios against its baselines (the SDK's also on the
## oldest OpenTelemetry release it supports)
bench: install
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done
	$(BIN)/python scripts/otel_matrix.py bench floor

clean:
	rm -rf $(VENV) .venv-matrix .mypy_cache .ruff_cache .pytest_cache

# --- the Kukulkan example and `make demo` ------------------------------------------
.PHONY: demo
## demo: the main job: collector, the Kukulkan app, a session with a failing click, its trace and the gates
demo: $(DEMO_STAMP)
	PYTHONPATH=examples/kukulkan $(BIN)/python -m kukulkan.demo

# --- release gates (liveobs check) -------------------------------------------------
# Exit codes: 0 pass, 1 a required check failed, 2 a required check unknown, 3 could not run.
# DB= the store, RELEASE= the release to judge (empty: the newest in the evidence),
# BASELINE= the release to compare performance with (empty: the one before).
DB        ?= var/kukulkan/liveobs.duckdb
RELEASE   ?=
BASELINE  ?=
GATES_OUT ?= var/gates
KUKULKAN_MANIFEST ?= examples/kukulkan/release-manifest.toml
GATE_ARGS  = $(if $(RELEASE),--release $(RELEASE)) $(if $(BASELINE),--baseline $(BASELINE))
CHECK      = $(BIN)/liveobs --db $(DB) check

.PHONY: bench-gates live-observability-check live-security-check live-performance-check \
        kukulkan-live-adoption-check kukulkan-app-deploy-check kukulkan-deployment-production-check

## bench-gates: every gate over a generated 10M-row store (target: under 5 s)
bench-gates: install
	$(BIN)/python benchmarks/bench_gates.py

## live-observability-check: ids on spans and logs, trace connectivity, browser joins, error classes, secret scan
live-observability-check: install
	$(CHECK) observability $(GATE_ARGS) --format junit --output $(GATES_OUT)/observability.xml

## live-security-check: CSP, SRI, WebSocket Origin/Host, limits, uploads, rate limits, scopes, keys
live-security-check: install
	$(CHECK) security $(GATE_ARGS) --format junit --output $(GATES_OUT)/security.xml

## live-performance-check: latency, size, reconnect, resource budgets and regression against the baseline
live-performance-check: install
	$(CHECK) performance $(GATE_ARGS) --format junit --output $(GATES_OUT)/performance.xml

## kukulkan-live-adoption-check: router, auth, scopes, templates, client asset, CSP, domains, rollback, smoke
kukulkan-live-adoption-check: install
	$(CHECK) live-adoption $(GATE_ARGS) --manifest $(KUKULKAN_MANIFEST) --format junit --output $(GATES_OUT)/kukulkan-live-adoption.xml

## kukulkan-app-deploy-check: readiness, versioned evidence, rollback target, keys and CSP of one release
kukulkan-app-deploy-check: install
	$(CHECK) app-deploy $(GATE_ARGS) --manifest $(KUKULKAN_MANIFEST) --format junit --output $(GATES_OUT)/kukulkan-app-deploy.xml

## kukulkan-deployment-production-check: every gate, with the release manifest
kukulkan-deployment-production-check: install
	$(CHECK) deployment-production $(GATE_ARGS) --manifest $(KUKULKAN_MANIFEST) --format junit --output $(GATES_OUT)/kukulkan-deployment-production.xml
