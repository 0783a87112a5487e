# liveobs — make targets. Each bootstraps what it needs on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed
GATE_STAMP := $(VENV)/.gates-installed
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
	@touch $@ $(GATE_STAMP)

# The gates need only the contract, the correlator and the CLI: no SDK, no dev tools.
$(GATE_STAMP): liveobs/pyproject.toml correlator/pyproject.toml cli/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ./liveobs -e ./correlator -e ./cli
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
	MYPYPATH=examples/kukulkan $(BIN)/mypy -p kukulkan -p kukulkan_release

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
# make reports any of them as its own exit 2, so each target also prints the gate's own
# code and status and writes them beside the report: $(GATES_OUT)/<gate>.exit holds
# "<code> <status> <report>" (scripts/run_gate.py); the recipe then exits with that code.
# DB= the store, RELEASE= the release to judge (empty: the newest in the evidence),
# BASELINE= the release to compare performance with (empty: the one before),
# SERVICE= and ENVIRONMENT= the service and environment whose evidence counts,
# SINCE= and UNTIL= the window (90m, 24h, 7d or an ISO 8601 time), BUDGETS= a budgets file.
DB          ?= var/kukulkan/liveobs.duckdb
RELEASE     ?=
BASELINE    ?=
SERVICE     ?=
ENVIRONMENT ?=
SINCE       ?=
UNTIL       ?=
BUDGETS     ?=
GATES_OUT   ?= var/gates
# The release `make demo` leaves deployed: the fix 1.4.1 (release-manifest.toml is 1.4.0's).
KUKULKAN_MANIFEST ?= examples/kukulkan/release-manifest-1.4.1.toml
# Kukulkan's targets judge the evidence `make demo` leaves, whose rollback target serves for
# seconds, not hours: with the demo's budgets unless BUDGETS= names others.
KUKULKAN_BUDGETS  ?= examples/kukulkan/demo-budgets.toml
KUKULKAN_ARGS      = --manifest $(KUKULKAN_MANIFEST) $(if $(BUDGETS),,--budgets $(KUKULKAN_BUDGETS))
GATE_ARGS  = $(if $(RELEASE),--release $(RELEASE)) $(if $(BASELINE),--baseline $(BASELINE)) \
             $(if $(SERVICE),--service $(SERVICE)) $(if $(ENVIRONMENT),--environment $(ENVIRONMENT)) \
             $(if $(SINCE),--since $(SINCE)) $(if $(UNTIL),--until $(UNTIL)) $(if $(BUDGETS),--budgets $(BUDGETS))
CHECK      = $(BIN)/liveobs --db $(DB) check
# $(call gate,<report name>,<selection and options>)
gate       = @$(BIN)/python scripts/run_gate.py $(GATES_OUT)/$(1).xml -- \
             $(CHECK) $(2) $(GATE_ARGS) --format junit --output $(GATES_OUT)/$(1).xml

.PHONY: bench-gates live-observability-check live-security-check live-performance-check \
        kukulkan-live-adoption-check kukulkan-app-deploy-check kukulkan-deployment-production-check

## bench-gates: every gate over a generated 10M-row store (target: under 5 s)
bench-gates: install
	$(BIN)/python benchmarks/bench_gates.py

## live-observability-check: ids on spans and logs, trace connectivity, browser joins, error classes, secret scan
live-observability-check: $(GATE_STAMP)
	$(call gate,observability,observability)

## live-security-check: CSP, SRI, WebSocket Origin/Host, limits, uploads, rate limits, scopes, keys
live-security-check: $(GATE_STAMP)
	$(call gate,security,security)

## live-performance-check: latency, size, reconnect, resource budgets and regression against the baseline
live-performance-check: $(GATE_STAMP)
	$(call gate,performance,performance)

## kukulkan-live-adoption-check: router, auth, scopes, templates, client asset, CSP, domains, rollback, smoke
kukulkan-live-adoption-check: $(GATE_STAMP)
	$(call gate,kukulkan-live-adoption,live-adoption $(KUKULKAN_ARGS))

## kukulkan-app-deploy-check: readiness, versioned evidence, rollback target, keys and CSP of one release
kukulkan-app-deploy-check: $(GATE_STAMP)
	$(call gate,kukulkan-app-deploy,app-deploy $(KUKULKAN_ARGS))

## kukulkan-deployment-production-check: every gate, with the release manifest
kukulkan-deployment-production-check: $(GATE_STAMP)
	$(call gate,kukulkan-deployment-production,deployment-production $(KUKULKAN_ARGS))
