# The two commands of the README: `make demo` (the main job on the local platform) and `make test`.
# Both work on a fresh machine: they create the virtualenv, install deployer, install the Debian
# packages the local platform needs and build its pinned Kubernetes binaries on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: test unit integration faults lint prepare prerequisites demo down clean

# deployer, and the local platform's development package (localplatform/, not in deployer's wheel),
# which adds the `deployer platform` commands.
$(BIN)/.installed: pyproject.toml localplatform/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./localplatform
	touch $@

install: $(BIN)/.installed

# Style (ruff), types (mypy, strict on deployer/) and the architecture's import contracts
# (import-linter; the contracts are in pyproject.toml).
lint: $(BIN)/.installed
	$(BIN)/ruff check deployer localplatform tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

prepare: $(BIN)/.installed
	$(BIN)/deployer platform prepare

unit: $(BIN)/.installed
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

integration: prepare
	$(BIN)/pytest -q tests/integration $(PYTEST_ARGS)

# The fault-injection suite alone (docs/reliability.md): deploys through a fault proxy in front of
# each real API server; its figures go to $DEPLOYER_FAULTS_FIGURES (default: pytest's temp folder).
# `make test` and `make integration` run it too.
faults: prepare
	$(BIN)/pytest -q tests/integration/faults $(PYTEST_ARGS)

# Every outside component the suite runs (Java and the Groovy jars, Chromium, Terraform and the
# google provider), installed or built on first use; it stops naming the one it cannot get.
prerequisites:
	./scripts/test-prerequisites.sh

# The whole suite: lint, unit tests, then integration tests against the real local platform.
# Under CI=true a skipped test fails the run (tests/conftest.py).
test: lint prepare prerequisites
	$(BIN)/pytest -q tests $(PYTEST_ARGS)

# The main job: start the local platform (two real clusters, a registry, the GCP stand-in) and
# deploy the example service to both clusters.
demo: prepare
	./scripts/demo.sh

down: $(BIN)/.installed
	$(BIN)/deployer --config-dir examples/local platform down

clean: down
	rm -rf $(VENV)

# The mutation check of the modules that guard safety (docs/testing.md, "Mutation check"): about a
# quarter of an hour on two cores, so not part of `make test`. Each run starts from a clean mutants/
# so the scores printed are those of the tests as they are now.
.PHONY: mutation
mutation: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[mutation]'
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/python scripts/mutation_scores.py

# The benchmark suite of docs/benchmarks.md (issue 13): deployer against `kubectl apply
# --server-side` and Helm, every case in one run on the local platform, then the doc's tables and
# charts rewritten from that run. Long (tens of minutes), so not part of `make test`; a quick run:
# `make bench ROUNDS=1 CASES=fixed,sync MAX_CLUSTERS=2`. Helm is built on first use
# (scripts/build-helm.sh).
ROUNDS ?= 3
CASES ?= fixed,sync,deploy,failure,fanout
MAX_CLUSTERS ?= 10
.PHONY: bench
bench: prepare
	$(BIN)/python -m bench.suite --rounds $(ROUNDS) --cases $(CASES) --max-clusters $(MAX_CLUSTERS)
