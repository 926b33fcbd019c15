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
# llama.cpp's Python server, compiled from source once per machine and kept in a
# wheel cache (uv cannot cache sdist builds behind a proxy that sends no cache headers).
LLAMA_CPP_VERSION := 0.3.36
WHEELHOUSE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/verdicts/wheels

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

# --inexact keeps the llama-cpp-python wheel installed beside the locked packages;
# --no-config, or the override in pyproject.toml would drop it.
$(VENV): uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml | $(UV)
	$(UV) sync --locked --inexact
	@if ! ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) once (about 8 minutes on 2 cores)..."; \
	  .tools/bin/pip wheel --quiet --no-deps --disable-pip-version-check \
	    -w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_CPP_VERSION); \
	fi
	$(UV) pip install --no-config --quiet --python .venv/bin/python --no-deps \
	  $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
	@touch $@

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
