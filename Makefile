# The two commands of the README: `make run` and `make test`. Each sets everything up.
.DEFAULT_GOAL := help
PY := .venv/bin/python
# Test processes (pytest-xdist, a file at a time); PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: help setup run test test-fast browser lint clean package deploy soak bench

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Create .venv (Python 3.12+) and install the pinned dependencies
	@scripts/bootstrap.sh

run: setup ## Run the whole stack locally (emulated AWS) and the example job; Ctrl-C stops it
	@$(PY) manage.py run_local

test: setup browser ## What CI runs: the whole test suite, cfn-lint, and the Lambda package (zappa package prod)
	@$(PYTEST)
	@echo "==> cfn-lint infra/*.yaml"
	@$(MAKE) --no-print-directory lint
	@echo "==> zappa package prod"
	@$(MAKE) --no-print-directory package

test-fast: setup ## Run the tests without the browser ones
	@$(PYTEST) -m "not browser"

browser: ## Install Debian's Chromium for the browser tests (needs root; skipped otherwise)
	@scripts/install-browser.sh

lint: setup ## cfn-lint the infrastructure templates
	@.venv/bin/cfn-lint infra/*.yaml

package: setup ## Build prod's Lambda package from a slim venv (zappa package) and print its size
	@scripts/package.sh prod

deploy: setup ## Deploy a stage to AWS in order: make deploy STAGE=dev (README: Deploy to AWS)
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=dev|prod" >&2; exit 2; }
	@$(PY) -m deploy $(STAGE)

bench: setup ## Benchmarks (not tests): request counts, DAG validation, dashboard render, end-to-end latency; writes docs/benchmarks.md
	@$(PY) -m scripts.bench $(BENCH_ARGS)

soak: setup ## Random DAG jobs with injected faults (task errors, killed workers, duplicates), then check every job
	@$(PY) scripts/soak.py $(SOAK_ARGS)

clean: ## Remove the virtualenv and local data
	rm -rf .venv .venv-package .deploy .local staticfiles
