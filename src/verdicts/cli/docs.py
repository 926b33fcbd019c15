"""The AsyncAPI document, generated from the services' FastStream routers."""

from __future__ import annotations

import json

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from verdicts.cli.registry import load_all

ASYNCAPI_PATH = "docs/asyncapi.json"


def asyncapi_document() -> str:
    broker = NatsBroker("nats://verdicts-nats:4222")
    for spec in load_all():
        broker.include_router(spec.router)
    document = AsyncAPI(
        broker,
        title="Verdicts",
        version="1.0.0",
        description="Events and requests of the Verdicts publication pipeline.",
    ).to_specification()
    return json.dumps(document.to_jsonable(), indent=2, sort_keys=True) + "\n"
