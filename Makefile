# Bootstraps everything a fresh machine lacks: uv (into .tools/), Python 3.13 (found by uv
# through .python-version) and the locked virtualenv (.venv/).
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
# Trust the operating system's certificate store (corporate proxies, custom CAs).
export UV_SYSTEM_CERTS := true

.PHONY: serve test lint bench sync

serve: .venv/.synced  ## Start the server on the embedded database (GraphiQL at /graphql)
	.venv/bin/kizuna serve

test: .venv/.synced  ## Run the whole test suite (lint, types, pytest)
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/pytest -n auto --maxprocesses 4

lint: .venv/.synced
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

SCENARIO ?= graphql-static
bench: .venv/.synced  ## make bench SCENARIO=me ARGS="--rate 100"  (python -m bench --help)
	.venv/bin/python -m bench $(SCENARIO) $(ARGS)

sync: .venv/.synced

# --compile-bytecode: the installed packages' .pyc files are written once, here. With
# PYTHONDONTWRITEBYTECODE set (as in our sandboxes) every Python process (each test worker,
# embedded server and CLI run the tests start) otherwise compiled them again: ~1 s of CPU each.
.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	touch $@

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"
