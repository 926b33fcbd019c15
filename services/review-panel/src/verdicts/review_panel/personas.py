"""Personas are data: one YAML file each in ``personas/``; adding a file adds a reviewer."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

PERSONAS_DIR = Path(__file__).parent / "personas"


class Persona(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    display_name: str
    lens: str
    default_route: str
    template_version: str
    opening: str = Field(
        default="",
        pattern=r"^([a-z]+( [a-z]+){0,5})?$",
        description="Words the review opens with after the name",
    )
    rubric: str
    prompt: str


def load_personas(directory: Path = PERSONAS_DIR) -> list[Persona]:
    personas = [
        Persona.model_validate(yaml.safe_load(p.read_text())) for p in sorted(directory.glob("*.yaml"))
    ]
    ids = [p.id for p in personas]
    if len(ids) != len(set(ids)):
        raise ValueError(f"duplicate persona ids in {directory}: {ids}")
    return personas
