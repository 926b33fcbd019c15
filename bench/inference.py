"""Gateway overhead: the same call to the same llama.cpp server, direct and through NATS + the
inference service, interleaved sample by sample; p50/p99 of the paired difference, in the same
run. Then throughput at concurrency 1, 4 and 16 on the local model.

Every sample asks for the same fixed answer (a one-value enum, temperature 0, fixed seed, the
same JSON-schema response_format the gateway sends), so both paths generate the same tokens and
the difference is the gateway's own cost.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import openai

from bench.harness import Servers, service
from verdicts.contracts import InferenceReply, InferenceRequest, Message, Role
from verdicts.inference.backends.openai_compatible import response_format
from verdicts.inference.domain import Dialect
from verdicts.platform.embedded.llama import LOCAL_MODEL_ALIAS
from verdicts.platform.inference_client import request_inference

SCHEMA = {
    "type": "object",
    "properties": {"v": {"type": "string", "enum": ["ship"]}},
    "required": ["v"],
}
PROMPT = "Ship or skip a small, well-tested CLI? Answer as JSON."
MAX_TOKENS = 16  # the whole answer plus trailing whitespace: always 16 tokens, never a repair call
SEED = 1
SAMPLES = 400  # per path
TIMEOUT_S = 60


def request() -> InferenceRequest:
    return InferenceRequest(
        route="local",
        messages=(Message(role=Role.USER, content=PROMPT),),
        json_schema=SCHEMA,
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=SEED,
        deadline=datetime.now(UTC) + timedelta(seconds=TIMEOUT_S),
        caller="bench",
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(env: Servers, model_url: str) -> dict[str, Any]:
    direct_client = openai.AsyncOpenAI(base_url=model_url, api_key="unused", max_retries=0)
    fmt = response_format(Dialect.JSON_SCHEMA, SCHEMA)

    async def direct() -> tuple[float, int]:
        started = time.perf_counter()
        completion = await direct_client.chat.completions.create(
            model=LOCAL_MODEL_ALIAS,
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=MAX_TOKENS,
            temperature=0,
            seed=SEED,
            response_format=fmt,  # type: ignore[arg-type]
        )
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, completion.usage.completion_tokens if completion.usage else -1

    with service("inference", env, extra_env={"VERDICTS_MODEL_URL": model_url}):
        nc = await nats.connect(env.nats_url)
        try:

            async def gateway() -> tuple[float, int]:
                started = time.perf_counter()
                reply = await request_inference(nc, request(), timeout_s=TIMEOUT_S)
                elapsed = (time.perf_counter() - started) * 1000
                assert isinstance(reply, InferenceReply), reply
                return elapsed, reply.usage.tokens_out

            for _ in range(5):  # warm both paths (prompt cache, connections, schema caches)
                await direct()
                await gateway()
            direct_ms: list[float] = []
            gateway_ms: list[float] = []
            tokens: set[int] = set()
            for i in range(SAMPLES):
                # Interleaved, and alternating which goes first, so drift hits both alike.
                pair = (direct, gateway) if i % 2 == 0 else (gateway, direct)
                first, second = [await call() for call in pair]
                (d, d_tokens), (g, g_tokens) = (first, second) if i % 2 == 0 else (second, first)
                direct_ms.append(d)
                gateway_ms.append(g)
                tokens.update((d_tokens, g_tokens))
            throughput = {}
            for concurrency in (1, 4, 16):
                total = max(4, concurrency)
                started = time.perf_counter()
                sem = asyncio.Semaphore(concurrency)

                async def one(sem: asyncio.Semaphore = sem) -> None:
                    async with sem:
                        await gateway()

                await asyncio.gather(*(one() for _ in range(total)))
                throughput[concurrency] = total / (time.perf_counter() - started)
        finally:
            await nc.close()
    return {"direct": direct_ms, "gateway": gateway_ms, "tokens": sorted(tokens), "throughput": throughput}


def report(result: dict[str, Any]) -> str:
    d, g = result["direct"], result["gateway"]
    paired = [gw - di for gw, di in zip(g, d, strict=True)]
    lines = [
        f"inference: {len(d)} interleaved samples per path, answer tokens {result['tokens']}",
        f"inference: direct llama.cpp p50 {statistics.median(d):.2f} ms p99 {pct(d, 0.99):.2f} ms; "
        f"through NATS + gateway p50 {statistics.median(g):.2f} ms p99 {pct(g, 0.99):.2f} ms",
        f"inference: gateway overhead (paired) p50 {statistics.median(paired):+.2f} ms, "
        f"p99 {pct(paired, 0.99):+.2f} ms; "
        f"ratio gateway/direct p50 {statistics.median(g) / statistics.median(d):.3f}",
        "inference: throughput on the local model "
        + ", ".join(f"concurrency {c}: {r:.2f} req/s" for c, r in result["throughput"].items()),
    ]
    return "\n".join(lines)
