"""One persona's review of one tool: route choice, generation, grounding, provenance.

Inference errors are retried by kind: rate limits and outages wait (the job is
redelivered later), bad requests do not. A job that runs out of deliveries, or a
review that fails grounding twice, is stored as failed with its reason.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from faststream.exceptions import NackMessage
from faststream.nats import NatsBroker
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from verdicts.contracts import (
    Choice,
    InferenceError,
    InferenceErrorKind,
    InferenceReply,
    InferenceRequest,
    Message,
    Provenance,
    ReviewStatus,
    Role,
    Tool,
)
from verdicts.contracts.subjects import INFERENCE_GENERATE
from verdicts.platform.backoff import Backoff
from verdicts.platform.inference_client import REPLY_GRACE_S, parse_inference_answer
from verdicts.review_panel.config import PanelSettings
from verdicts.review_panel.domain import (
    SCHEMA_VERSION,
    ReviewOutcome,
    build_messages,
    choose_route,
    copy_problems,
    grounding_problems,
    prompt_sha256,
    untrusted_record,
    verdict_schema,
)
from verdicts.review_panel.personas import Persona, Roster

log = logging.getLogger(__name__)


class Reviewer:
    """Writes one persona's review of one tool through ``inference.generate`` on the broker."""

    def __init__(self, settings: PanelSettings, roster: Roster) -> None:
        self.settings = settings
        self.roster = roster
        self.available = settings.available_routes or sorted(set(roster.assignment.values()))
        # An unavailable route: the job is redelivered after 2 s, 4 s, ... up to the cap.
        self.backoff = Backoff(first_s=2.0, cap_s=settings.retry_max_delay_s)

    async def review(
        self, broker: NatsBroker, tool: Tool, persona_id: str, *, deliveries: int
    ) -> ReviewOutcome:
        persona = self.roster.get(persona_id)
        if persona is None:
            return ReviewOutcome(ReviewStatus.FAILED, failure_reason=f"unknown persona {persona_id!r}")
        choice = choose_route(
            self.roster.route(persona),
            tool,
            families=self.settings.route_families,
            preference=self.settings.route_preference,
            available=self.available,
        )
        messages = build_messages(persona, tool)
        withheld = untrusted_record(tool).fields
        schema = verdict_schema(tool, persona.opening)
        spent: dict[str, Any] = {"tokens_in": 0, "tokens_out": 0, "cost": Decimal(0), "latency": 0.0}
        problems: list[str] = []
        invalid = False  # whether the last attempt's answer was not even schema-valid
        for attempt in range(2):  # the second attempt is the grounding retry
            seed = self.settings.seed + attempt
            answer = await self._generate(broker, choice.route, messages, schema, seed, deliveries)
            if isinstance(answer, InferenceError) and answer.kind is InferenceErrorKind.INVALID_OUTPUT:
                # The model's own failure (an answer cut off mid-loop, say), like an answer that
                # fails grounding: the second attempt samples again with the next seed.
                problems = [f"inference {answer.kind}: {answer.message}"]
                invalid = True
                continue
            invalid = False
            if isinstance(answer, InferenceError):
                return ReviewOutcome(
                    ReviewStatus.FAILED,
                    failure_reason=f"inference {answer.kind}: {answer.message}",
                    route_note=choice.note,
                )
            spent["tokens_in"] += answer.usage.tokens_in
            spent["tokens_out"] += answer.usage.tokens_out
            spent["cost"] += answer.cost_usd
            spent["latency"] += answer.latency_ms
            problems = grounding_problems(answer.answer, tool)
            if not problems:
                return ReviewOutcome(
                    ReviewStatus.COMPLETED,
                    verdict=Choice(answer.answer["verdict"]),
                    review=answer.answer["review"],
                    key_points=tuple(answer.answer["key_points"]),
                    confidence=float(answer.answer["confidence"]),
                    route_note=choice.note,
                    withheld_fields=withheld,
                    provenance=self._provenance(persona, answer, messages, seed, spent, tool),
                )
            if copy_problems(answer.answer, tool):
                # Shown again, a small model copies again: the retry reads why, and the record
                # without its description (and without the copied answer).
                messages = build_messages(persona, tool, copied=problems)
                continue
            messages = [
                *messages,
                Message(role=Role.ASSISTANT, content=answer.raw_text),
                Message(
                    role=Role.USER,
                    content="That review cannot be published: "
                    + "; ".join(problems)
                    + ". Write it again as JSON. Begin with the tool's name from the record; "
                    "quote no URL that is not in the record; do not repeat the record's description: "
                    "give your own judgement from your lens.",
                ),
            ]
        return ReviewOutcome(
            ReviewStatus.FAILED,
            failure_reason=("no valid answer in two attempts: " if invalid else "grounding failed twice: ")
            + "; ".join(problems),
            route_note=choice.note,
            withheld_fields=withheld,
        )

    async def _generate(
        self,
        broker: NatsBroker,
        route: str,
        messages: list[Message],
        schema: dict[str, Any],
        seed: int,
        deliveries: int,
    ) -> InferenceReply | InferenceError:
        request = InferenceRequest(
            route=route,
            messages=tuple(messages),
            json_schema=schema,
            max_tokens=self.settings.max_tokens,
            temperature=self.settings.temperature,
            seed=seed,
            # Inference stops working for this review when the review stops waiting for it.
            deadline=datetime.now(UTC) + timedelta(seconds=self.settings.inference_timeout_s),
            caller="review-panel",
        )
        last_try = deliveries >= self.settings.job_max_deliver
        try:
            response = await broker.request(
                request.model_dump_json().encode(),
                INFERENCE_GENERATE,
                # Just past the deadline: the gateway's own answer (deadline_exceeded) gets here.
                timeout=self.settings.inference_timeout_s + REPLY_GRACE_S,
            )
            answer = parse_inference_answer(response.body)
        except (NoRespondersError, NatsTimeout, TimeoutError) as exc:
            answer = InferenceError(
                kind="upstream_error",
                message=f"inference unavailable ({exc.__class__.__name__})",
                retryable=True,
            )
        if isinstance(answer, InferenceError) and answer.kind is InferenceErrorKind.DEADLINE_EXCEEDED:
            # This attempt's deadline, not the job's: a later delivery asks again with a fresh one.
            answer = answer.model_copy(update={"retryable": True})
        if isinstance(answer, InferenceError) and answer.retryable and not last_try:
            delay = self.backoff.delay(deliveries, retry_after_s=answer.retry_after_s)
            log.warning(
                "review waits for inference: %s %s",
                answer.kind,
                answer.message,
                extra={"route": route, "kind": answer.kind, "delay_s": delay, "deliveries": deliveries},
            )
            raise NackMessage(delay=delay)
        return answer

    def _provenance(
        self,
        persona: Persona,
        answer: InferenceReply,
        messages: list[Message],
        seed: int,
        spent: dict[str, Any],
        tool: Tool,
    ) -> Provenance:
        return Provenance(
            route=answer.route,
            backend=answer.backend,
            model=answer.model,
            prompt_template_version=persona.template_version,
            prompt_sha256=prompt_sha256(messages),
            schema_version=SCHEMA_VERSION,
            temperature=self.settings.temperature,
            seed=seed,
            tokens_in=spent["tokens_in"],
            tokens_out=spent["tokens_out"],
            cost_usd=spent["cost"],
            latency_ms=spent["latency"],
            withheld_passages=untrusted_record(tool).passages,
        )
