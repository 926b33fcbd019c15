"""The service supervises its own model server: built from config, restarted when it dies."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from verdicts.inference.config import InferenceSettings
from verdicts.inference.supervisor import ModelServerSupervisor, vllm_argv
from verdicts.platform.embedded.llama import EmbeddedLlama
from verdicts.platform.embedded.process import free_port
from verdicts.platform.model_server import smollm2_gguf
from verdicts.platform.testing.plugin import eventually


@pytest.mark.unit
def test_vllm_command_line_is_built_from_config():
    settings = InferenceSettings(
        vllm_port=8123,
        vllm_max_model_len=16384,
        vllm_gpu_memory_utilization=0.9,
        vllm_extra_args="--tensor-parallel-size 2 --enable-prefix-caching",
    )
    argv = vllm_argv(settings)
    assert argv[0].endswith("vllm")
    assert argv[1:3] == ["serve", "HuggingFaceTB/SmolLM3-3B"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert pairs["--port"] == "8123"
    assert pairs["--host"] == "127.0.0.1"
    assert pairs["--max-model-len"] == "16384"
    assert pairs["--gpu-memory-utilization"] == "0.9"
    assert argv[-3:] == ["--tensor-parallel-size", "2", "--enable-prefix-caching"]


@pytest.mark.model
@pytest.mark.slow
async def test_supervised_llama_server_is_restarted_when_it_dies(tmp_path):
    llama = EmbeddedLlama(tmp_path, port=free_port())
    supervisor = ModelServerSupervisor(
        "llama.cpp",
        llama.argv(smollm2_gguf()),
        f"{llama.url}/models",
        tmp_path / "llama.log",
        max_backoff_s=1,
    )
    task = asyncio.create_task(supervisor.run())
    try:
        await eventually(lambda: supervisor.status == "ok", within=120)
        first = supervisor.process
        assert first is not None
        first.kill()
        await eventually(lambda: supervisor.status != "ok", within=10)
        await eventually(lambda: supervisor.status == "ok", within=120)
        assert supervisor.restarts == 1
        assert supervisor.process is not first
        assert supervisor.process.alive()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not supervisor.process.alive()


@pytest.mark.model
@pytest.mark.slow
async def test_a_server_that_stops_answering_is_restarted(tmp_path):
    """A live process that no longer answers /v1/models (frozen with SIGSTOP) is replaced."""
    llama = EmbeddedLlama(tmp_path, port=free_port())
    supervisor = ModelServerSupervisor(
        "llama.cpp",
        llama.argv(smollm2_gguf()),
        f"{llama.url}/models",
        tmp_path / "llama.log",
        max_backoff_s=1,
        check_interval_s=0.2,
        unanswered_checks=3,
    )
    task = asyncio.create_task(supervisor.run())
    try:
        await eventually(lambda: supervisor.status == "ok", within=120)
        frozen = supervisor.process
        assert frozen is not None
        assert frozen.pid is not None
        os.kill(frozen.pid, signal.SIGSTOP)
        await eventually(lambda: supervisor.restarts == 1, within=30)
        assert not frozen.alive()
        await eventually(lambda: supervisor.status == "ok", within=120)
        assert supervisor.process is not frozen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.unit
def test_the_supervised_server_logs_under_verdicts_home(tmp_path):
    from verdicts.inference.app import build_supervisor

    settings = InferenceSettings(supervise="vllm")
    supervisor = build_supervisor(settings, tmp_path)
    assert supervisor is not None
    assert supervisor.log_path == tmp_path / "inference" / "vllm.log"
