# Quick start:  make generate IDEA="build a CLI that summarizes git logs"   |   make test
.PHONY: setup generate test lint bench docs clean
IDEA ?= build a CLI that summarizes git logs

setup:
	@bash scripts/setup.sh

generate: setup
	@.venv/bin/prompt-alchemy generate "$(IDEA)"

test: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider

# Lint and types: the configuration is in pyproject.toml ([tool.ruff], [tool.mypy]); 0 findings is the bar.
lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; .venv/bin/python $$b; done

docs: setup
	NO_MKDOCS_2_WARNING=1 .venv/bin/python -m mkdocs build --strict

clean:
	rm -rf .venv build site src/*.egg-info
