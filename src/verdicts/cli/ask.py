"""`verdicts ask`: one inference.generate request from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import nats
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from verdicts.cli.status import discover
from verdicts.contracts import InferenceError, InferenceReply, InferenceRequest, Message, Role
from verdicts.platform.inference_client import request_inference


class AskError(Exception):
    pass


async def ask_inference(
    home: Path,
    route: str,
    schema_file: Path,
    prompt: str,
    max_tokens: int,
    temperature: float,
    seed: int | None,
    timeout_s: float,
) -> InferenceReply:
    try:
        schema = json.loads(schema_file.read_text())
    except json.JSONDecodeError as exc:
        raise AskError(f"{schema_file} is not JSON: {exc}") from None
    url = discover(home).get("VERDICTS_NATS_URL")
    if not url:
        raise AskError("no NATS to ask: start `verdicts up` or set VERDICTS_NATS_URL")
    request = InferenceRequest(
        route=route,
        messages=(Message(role=Role.USER, content=prompt),),
        json_schema=schema,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        caller="cli",
    )
    try:
        nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0, allow_reconnect=False)
    except (OSError, NatsError) as exc:
        raise AskError(f"cannot reach NATS at {url}: {exc.__class__.__name__}") from None
    try:
        answer = await request_inference(nc, request, timeout_s=timeout_s)
    except NoRespondersError:
        raise AskError("no inference service is running (no responders on inference.generate)") from None
    except NatsTimeout:
        raise AskError(f"no answer within {timeout_s:.0f}s") from None
    finally:
        await nc.close()
    if isinstance(answer, InferenceError):
        retry = f"; retry in {answer.retry_after_s:.0f}s" if answer.retry_after_s else ""
        raise AskError(f"{answer.kind}: {answer.message}{retry}")
    return answer
