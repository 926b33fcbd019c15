"""Answer schemas: checked once per distinct schema, answers validated against a cached validator."""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema

from verdicts.inference.backends import Completion
from verdicts.inference.errors import bad_request


def check_schema(schema: dict[str, Any]) -> None:
    """A ``bad_request`` unless ``schema`` is a valid JSON schema describing an object."""
    _validator(_key(schema))


def parse_answer(completion: Completion, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The answer and ``None``, or ``None`` and why it does not follow the schema."""
    answer: Any = completion.parsed
    if answer is None:
        try:
            answer = json.loads(completion.text)
        except json.JSONDecodeError as exc:
            return None, f"not JSON ({exc.msg})"
    errors = sorted(_validator(_key(schema)).iter_errors(answer), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        return None, f"{where}: {errors[0].message}"
    if not isinstance(answer, dict):
        return None, "the answer must be a JSON object"
    return answer, None


def _key(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=256)
def _validator(key: str) -> jsonschema.Draft202012Validator:
    # Checking a schema against the metaschema costs far more than one answer's validation:
    # reviewers send a handful of schemas, so do it once per schema.
    schema = json.loads(key)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise bad_request(f"json_schema is not a valid JSON schema: {exc.message}") from None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise bad_request('json_schema must describe an object ("type": "object")')
    return jsonschema.Draft202012Validator(schema)
