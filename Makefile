# Two commands: `make up` (the whole stack on embedded defaults) and `make test`
# (everything CI checks). Both install uv and every dependency themselves; nothing
# downloads a Python build (UV_PYTHON_DOWNLOADS=never uses the machine's 3.11).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell command -v python3.11 || command -v $(PYTHON))

UV := .tools/bin/uv
VENV := .venv/.synced

.PHONY: up test sync lint typecheck docs-check fmt asyncapi clean

up: $(VENV)
	.venv/bin/verdicts up

test: $(VENV) lint typecheck docs-check
	.venv/bin/pytest

lint: $(VENV)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: $(VENV)
	.venv/bin/mypy src/verdicts libs/contracts/src/verdicts libs/platform/src/verdicts services/*/src/verdicts

docs-check: $(VENV)
	.venv/bin/verdicts docs asyncapi --check docs/asyncapi.json

asyncapi: $(VENV)
	.venv/bin/verdicts docs asyncapi --output docs/asyncapi.json

fmt: $(VENV)
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

sync: $(VENV)

# llama-cpp-python compiles from source once (~8 min on 2 cores); uv's cache keeps
# the built wheel, so later syncs (and clean clones on the same machine) take seconds.
$(VENV): uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml | $(UV)
	$(UV) sync --locked
	@touch $@

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
