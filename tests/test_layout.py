"""The package's floor plan holds: no import circles, no import from a floor to one above it.

The floors are written down here once (``docs/architecture.md`` draws the same plan). A
module belongs to the longest unit below whose name it sits; it may import its own unit and
any unit on a lower floor, never a unit on its own floor or above. Imports inside functions
count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

FLOORS: list[tuple[str, ...]] = [
    ("ecowarn.core",),                                            # helpers, no ecowarn imports
    ("ecowarn.config", "ecowarn.i18n"),                           # settings, registry, metrics; wording
    ("ecowarn.store",),                                           # database: migrations, rows, tokens
    ("ecowarn.ingest", "ecowarn.detectors", "ecowarn.simulator",  # MQTT/HJ 212 in; pure rules; test plants;
     "ecowarn.alerts"),                                           # alerts, their workflow and warnings
    ("ecowarn.credit", "ecowarn.detectors.runtime"),              # ledger and evidence; the runner
    ("ecowarn.api",),                                                   # HTTP API and console
    ("ecowarn.embedded",),                                        # embedded PostgreSQL and broker
    ("ecowarn.service",),                                         # composition root
    ("ecowarn.demo", "ecowarn.evaluation"),                       # what runs the whole service
    ("ecowarn.cli",),                                             # the command
    ("ecowarn.__main__",),                                        # python -m ecowarn
]

SRC = Path(__file__).resolve().parent.parent / "src"


def _floor_of() -> dict[str, int]:
    return {unit: i for i, units in enumerate(FLOORS) for unit in units}


def unit_of(module: str, floors: dict[str, int]) -> str | None:
    """The longest unit name that ``module`` is or sits below."""
    best = None
    for unit in floors:
        if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best)):
            best = unit
    return best


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted((SRC / "ecowarn").rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def imports_of(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported ecowarn module, line) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            else:
                base = node.module or ""
            # ``from ecowarn.x import y`` may name a submodule y: count it when it is one.
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in MODULES else base), node.lineno


MODULES = {name for name, _ in modules()}


def graph() -> dict[str, set[tuple[str, int]]]:
    return {name: {(m, line) for m, line in imports_of(name, path) if m.split(".")[0] == "ecowarn"
                   and m != "ecowarn"}
            for name, path in modules()}


def test_every_module_is_on_a_floor() -> None:
    """Every module of the package belongs to a unit of the floor plan (a new subpackage gets
    a floor before it gets code)."""
    floors = _floor_of()
    homeless = sorted(m for m in MODULES if m != "ecowarn" and unit_of(m, floors) is None)
    assert homeless == []


def test_no_import_reaches_up_or_sideways() -> None:
    """A module imports only its own unit and units on lower floors."""
    floors = _floor_of()
    bad = []
    for module, deps in graph().items():
        here = unit_of(module, floors)
        if here is None:
            continue
        for dep, line in sorted(deps):
            there = unit_of(dep, floors)
            if there is None or there == here:
                continue
            if floors[there] >= floors[here]:
                bad.append(f"{module}:{line} imports {dep} ({here} floor {floors[here]} -> "
                           f"{there} floor {floors[there]})")
    assert bad == []


def test_no_import_circles() -> None:
    """No module reaches itself through imports (function-level imports included)."""
    edges = {m: {d for d, _ in deps if d in MODULES} for m, deps in graph().items()}
    # A package's __init__ is imported by each of its submodules' importers; edges to
    # ``pkg`` from ``pkg.sub`` are the usual re-export and not a circle of code.
    circles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(edges.get(m, ())):
            if m.startswith(d + "."):
                continue
            if state.get(d) == 1:
                circles.append([*stack[stack.index(d):], d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert circles == []


@pytest.mark.parametrize("module, dep, ok", [
    ("ecowarn.store.readings", "ecowarn.ingest.model", False),
    ("ecowarn.alerts.warnings", "ecowarn.ingest.mqtt", False),
    ("ecowarn.ingest.mqtt", "ecowarn.alerts.warnings", False),
    ("ecowarn.detectors.runtime.runner", "ecowarn.alerts.store", True),
    ("ecowarn.detectors.flatline", "ecowarn.detectors.runtime.runner", False),
    ("ecowarn.api.app", "ecowarn.credit", True),
    ("ecowarn.credit.verify", "ecowarn.service", False),
])
def test_floor_rule_itself(module: str, dep: str, ok: bool) -> None:
    """The rule the two tests above apply: the examples that motivated it come out right."""
    floors = _floor_of()
    here, there = unit_of(module, floors), unit_of(dep, floors)
    assert here is not None and there is not None
    assert (floors[there] < floors[here]) is ok
