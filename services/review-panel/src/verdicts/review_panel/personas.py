"""The reviewer personas: data, one YAML file each in ``personas/``; adding a file adds a reviewer.

The panel (``Roster``) is the personas in file-name order, each with the inference route it is
assigned (its own ``default_route``, unless the assignment file names another).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Roster:
    """The panel: its personas in order, and the route each persona is assigned."""

    personas: tuple[Persona, ...]
    assignment: Mapping[str, str]

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.personas]

    def get(self, persona_id: str) -> Persona | None:
        return next((p for p in self.personas if p.id == persona_id), None)

    def order(self, persona_id: str) -> int | None:
        """Where the persona sits on the panel (0 first); ``None`` for one not on it."""
        return next((i for i, p in enumerate(self.personas) if p.id == persona_id), None)

    def route(self, persona: Persona) -> str:
        return self.assignment.get(persona.id, persona.default_route)


def load_personas(directory: Path = PERSONAS_DIR) -> list[Persona]:
    personas = [
        Persona.model_validate(yaml.safe_load(p.read_text())) for p in sorted(directory.glob("*.yaml"))
    ]
    ids = [p.id for p in personas]
    if len(ids) != len(set(ids)):
        raise ValueError(f"duplicate persona ids in {directory}: {ids}")
    return personas


def load_roster(directory: Path | None = None, assignment_file: Path | None = None) -> Roster:
    """The personas of ``directory`` (default: built in), routed by ``assignment_file`` (YAML:
    persona id -> route) where it names one, else by their ``default_route``."""
    personas = load_personas(directory or PERSONAS_DIR)
    assignment = {p.id: p.default_route for p in personas}
    if assignment_file is not None:
        assignment |= {str(k): str(v) for k, v in (yaml.safe_load(assignment_file.read_text()) or {}).items()}
    return Roster(tuple(personas), assignment)
