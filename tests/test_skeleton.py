"""Every service has the same rooms, so knowing one service is knowing all five.

The skeleton (docs/architecture.md): app, config, api, handlers (not ingest: it consumes
nothing), domain (a module or a package), store and migrations/. Any other module says what it
is in a docstring whose first line stands alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p for p in (ROOT / "services").glob("*/src/verdicts/*") if p.is_dir())
ROOMS = ("app.py", "config.py", "api.py", "handlers.py", "store.py")
NO_HANDLERS = {"ingest"}  # consumes nothing from the bus


def test_five_services_are_found():
    assert [p.name for p in SERVICES] == ["inference", "ingest", "render", "review_panel", "votes"]


@pytest.mark.parametrize("package", SERVICES, ids=[p.name for p in SERVICES])
def test_a_service_has_every_room_of_the_skeleton(package: Path):
    rooms = [r for r in ROOMS if not (r == "handlers.py" and package.name in NO_HANDLERS)]
    missing = [r for r in rooms if not (package / r).is_file()]
    if not ((package / "domain.py").is_file() or (package / "domain" / "__init__.py").is_file()):
        missing.append("domain.py (or domain/)")
    if not (package / "migrations").is_dir():
        missing.append("migrations/")
    assert not missing, f"{package.name} lacks {', '.join(missing)}"


@pytest.mark.parametrize("package", SERVICES, ids=[p.name for p in SERVICES])
def test_every_other_module_says_what_it_is(package: Path):
    undocumented = []
    for module in sorted(package.rglob("*.py")):
        docstring = ast.get_docstring(ast.parse(module.read_text()))
        if module.name != "__init__.py" and not (docstring and docstring.splitlines()[0].strip()):
            undocumented.append(str(module.relative_to(package)))
    assert not undocumented, f"modules without a docstring in {package.name}: {undocumented}"
