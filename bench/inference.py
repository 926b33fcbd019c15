"""Gateway overhead (NATS + service minus a direct call to the same llama.cpp server), p50/p99,
measured in the same run; throughput at concurrency 1, 4 and 16 on the local model."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import nats
import openai

from bench.harness import Servers, service
from verdicts.contracts import InferenceReply, InferenceRequest, Message, Role
from verdicts.platform.embedded.llama import LOCAL_MODEL_ALIAS
from verdicts.platform.inference_client import request_inference

SCHEMA = {
    "type": "object",
    "properties": {"v": {"type": "string", "enum": ["ship", "skip"]}},
    "required": ["v"],
}
PROMPT = "Ship or skip a small, well-tested CLI? Answer as JSON."
ROUNDS = 40


def request(max_tokens: int) -> InferenceRequest:
    return InferenceRequest(
        route="local",
        messages=(Message(role=Role.USER, content=PROMPT),),
        json_schema=SCHEMA,
        max_tokens=max_tokens,
        temperature=0,
        seed=1,
        caller="bench",
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(env: Servers, model_url: str) -> dict[str, Any]:
    direct_client = openai.AsyncOpenAI(base_url=model_url, api_key="unused", max_retries=0)

    async def direct(max_tokens: int) -> float:
        started = time.perf_counter()
        await direct_client.chat.completions.create(
            model=LOCAL_MODEL_ALIAS,
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=max_tokens,
            temperature=0,
            seed=1,
            response_format={"type": "json_object", "schema": SCHEMA},  # type: ignore[typeddict-item]
        )
        return (time.perf_counter() - started) * 1000

    with service("inference", env, extra_env={"VERDICTS_MODEL_URL": model_url}):
        nc = await nats.connect(env.nats_url)
        try:

            async def gateway(max_tokens: int) -> float:
                started = time.perf_counter()
                reply = await request_inference(nc, request(max_tokens), timeout_s=120)
                assert isinstance(reply, InferenceReply), reply
                return (time.perf_counter() - started) * 1000

            for _ in range(3):  # warm both paths (prompt cache, connections)
                await direct(24)
                await gateway(24)
            direct_ms, gateway_ms = [], []
            for _ in range(ROUNDS):  # interleaved, so drift hits both alike
                # 24 tokens: room for the whole answer, so no repair call muddies the figure.
                direct_ms.append(await direct(24))
                gateway_ms.append(await gateway(24))
            throughput = {}
            for concurrency in (1, 4, 16):
                total = concurrency * 4
                started = time.perf_counter()
                sem = asyncio.Semaphore(concurrency)

                async def one(sem: asyncio.Semaphore = sem) -> None:
                    async with sem:
                        await gateway(24)

                await asyncio.gather(*(one() for _ in range(total)))
                throughput[concurrency] = total / (time.perf_counter() - started)
        finally:
            await nc.close()
    return {"direct": direct_ms, "gateway": gateway_ms, "throughput": throughput}


def report(result: dict[str, Any]) -> str:
    d, g = result["direct"], result["gateway"]
    lines = [
        f"inference: direct llama.cpp p50 {statistics.median(d):.1f} ms p99 {pct(d, 0.99):.1f} ms; "
        f"through NATS + gateway p50 {statistics.median(g):.1f} ms p99 {pct(g, 0.99):.1f} ms",
        f"inference: gateway overhead p50 {statistics.median(g) - statistics.median(d):+.1f} ms, "
        f"p99 {pct(g, 0.99) - pct(d, 0.99):+.1f} ms "
        f"(ratio p50 {statistics.median(g) / statistics.median(d):.3f})",
        "inference: throughput on the local model "
        + ", ".join(f"concurrency {c}: {r:.2f} req/s" for c, r in result["throughput"].items()),
    ]
    return "\n".join(lines)
