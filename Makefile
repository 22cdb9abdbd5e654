# Quick start:  make generate IDEA="build a CLI that summarizes git logs"   |   make test
#   setup     .venv with the package and the embedded offline stack (pinned; no browser, no npm, no dev extras)
#   generate  setup, then one generation: the prompt on stdout, setup's progress lines (if any) on stderr
#   test      setup plus the test tools (dev extras, npm ci, Debian chromium where needed), then the suite
#   lint      setup-dev, then ruff check, ruff format --check and mypy (the versions pinned in the dev extra)
#   lock      regenerate src/prompt_alchemy/data/constraints.txt from this .venv (after the suite passed)
.PHONY: setup setup-dev generate test lint bench lock clean
IDEA ?= build a CLI that summarizes git logs

setup:
	@bash scripts/setup.sh

setup-dev:
	@bash scripts/setup.sh --dev

generate: setup
	@.venv/bin/prompt-alchemy generate "$(IDEA)"

test: setup-dev
	.venv/bin/python -m pytest -q -p no:cacheprovider

lint: setup-dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: setup-dev
	@for b in benchmarks/bench_*.py; do echo "== $$b"; .venv/bin/python $$b; done

lock:
	.venv/bin/python scripts/lock.py

clean:
	rm -rf .venv build src/*.egg-info
