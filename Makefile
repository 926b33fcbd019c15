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
.PHONY: up test bench sync lint typecheck docs-check fmt asyncapi clean browser

up: $(VENV)
	.venv/bin/verdicts up

test: $(VENV) lint typecheck docs-check browser
	.venv/bin/pytest

# The browser test drives Debian's Chromium (headless) through Playwright's Python client.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "Installing Debian's chromium for the browser test..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# Benchmarks print ratios against a baseline measured in the same run.
bench: $(VENV)
	.venv/bin/python -m bench

lint: $(VENV)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

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

$(VENV): uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml | $(UV)
	$(UV) sync --locked
	@touch $@

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
