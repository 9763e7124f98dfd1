# One entry point for people and CI alike. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
SERVICES := services/core-django services/ai-fastapi services/realtime
# The core's tests run on PostgreSQL (CI points DATABASE_URL at the machine's server) and again
# on SQLite, the embedded default of `make run`.
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/helpdesk)

.PHONY: help install run test lint fmt typecheck unit integration browser deploy-check bench readiness clean system-packages frontend

help: ## List every target
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# AI_ACCURATE=1 also installs the AI's optional accurate tier (services/ai-fastapi/README.md).
install: $(UV) ## Create .venv and install every locked dependency (uv.lock)
	@$(UV) sync --frozen --all-packages --all-groups --quiet $(if $(AI_ACCURATE),--extra accurate)

system-packages: ## Install nginx with apt-get when it is missing (needs root)
	@tools/ensure_system_packages.sh

run: install ## Run the whole platform in the foreground with demo data (Ctrl-C stops it)
	@tools/ensure_system_packages.sh || true
	@services/core-django/frontend/build.sh
	@$(BIN)/python -m tools.run

frontend: ## Build the dashboard's script bundle (npm ci from the lockfile, then esbuild)
	@services/core-django/frontend/build.sh

test: install ## Lint, type-check, unit tests of every service, then the integration tests
	@tools/ensure_system_packages.sh --required
	@services/core-django/frontend/build.sh
	@$(MAKE) --no-print-directory --keep-going lint typecheck unit integration browser deploy-check

lint: install ## ruff: lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install ## ruff: fix what can be fixed and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install ## mypy (strict) on every package and service, each on its own
	cd shared && ../$(BIN)/mypy --config-file ../pyproject.toml helpdesk_shared tests
	cd libs/kit && ../../$(BIN)/mypy --config-file ../../pyproject.toml helpdesk_kit tests
	cd services/core-django && ../../$(BIN)/mypy --config-file mypy.ini config helpdesk tests
	cd services/ai-fastapi && ../../$(BIN)/mypy --config-file ../../pyproject.toml app tests
	cd services/realtime && ../../$(BIN)/mypy --config-file ../../pyproject.toml app tests
	$(BIN)/mypy --config-file pyproject.toml tools tests/integration tests/browser tests/deploy bench

unit: install ## Unit tests of shared/, the kit and each service
	cd shared && ../$(BIN)/pytest -q
	cd libs/kit && ../../$(BIN)/pytest -q
	cd services/core-django && DATABASE_URL=$(TEST_DATABASE_URL) ../../$(BIN)/pytest -q --create-db
	cd services/core-django && env -u DATABASE_URL ../../$(BIN)/pytest -q --create-db
	cd services/ai-fastapi && ../../$(BIN)/pytest -q
	cd services/realtime && ../../$(BIN)/pytest -q

integration: install ## The real processes together: PostgreSQL, Redis, nginx, core, relay, ai, realtime
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest -q tests/integration

browser: install ## Browser tests: Playwright driving Debian's chromium through the real gateway
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest -q tests/browser

deploy-check: install ## Deployment files: compose schema, hadolint, cfn-lint, checkov, Dockerfile build steps
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest -q tests/deploy

# One benchmark at a time on the machine (flock): they share its cores with nothing else.
BENCH := DATABASE_URL=$(TEST_DATABASE_URL) flock /tmp/helpdesk-bench.lock $(BIN)/python -m
bench: AI_ACCURATE = 1  # (the AI benchmark's accurate-tier section needs the extra)
bench: install ## Benchmarks (never tests): core API, AI, realtime fan-out, event delay, dashboard
	@tools/ensure_system_packages.sh --required
	@services/core-django/frontend/build.sh
	$(BENCH) bench.core_api
	$(BENCH) bench.ai_classify
	$(BENCH) bench.realtime_fanout
	$(BENCH) bench.event_latency
	$(BENCH) bench.dashboard_render

readiness: install ## Run every check behind the seed's claims and write readiness-report.md
	@tools/ensure_system_packages.sh --required
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python -m tools.readiness

clean: ## Remove the environment, caches and local run state
	rm -rf $(VENV) $(TOOLS) .run .mypy_cache .ruff_cache .pytest_cache
