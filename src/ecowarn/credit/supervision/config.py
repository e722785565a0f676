"""The supervision configuration (``config/supervision.yaml``): inspection frequency and
draw weights per credit level, and the positive lists with their effect.

Loaded once at start with :func:`load_supervision_config`; a bad file raises
:class:`~credit.supervision.errors.SupervisionConfigError` with one ``file:line: key: problem``
line per problem, so the service refuses to start. The core gets a frozen
:class:`SupervisionConfig`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ecowarn.config import packaged_file
from ecowarn.credit.ledger import LEVELS
from ecowarn.credit.supervision.errors import SupervisionConfigError

__all__ = ["DEFAULT_SUPERVISION_PATH", "KINDS", "ROUTINE_ONSITE", "Kind", "LevelRule", "ListInfo", "OnsiteDraws",
           "Routine",
           "SupervisionConfig", "default_supervision_config", "load_supervision_config",
           "parse_supervision_config"]

DEFAULT_SUPERVISION_PATH: Final = packaged_file("supervision.yaml")

Kind = Literal["remote", "onsite"]
KINDS: Final[tuple[Kind, ...]] = ("remote", "onsite")
Routine = Literal["remote", "skip", "keep"]
ROUTINE_ONSITE: Final[tuple[Routine, ...]] = ("remote", "skip", "keep")
OnsiteDraws = Literal["exclude", "weighted"]
# Weights are kept to this many decimals, so the weights shown, stored and drawn with agree.
WEIGHT_DECIMALS: Final = 6
_LIST_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Inspections a year that split the year into whole windows of months.
_PER_YEAR_DIVISORS: Final = (1, 2, 3, 4, 6, 12)


@dataclass(frozen=True, slots=True)
class LevelRule:
    """What one credit level calls for."""

    onsite_per_year: int    # routine on-site inspections a year; 0: exempt
    remote_weight: float    # odds in remote spot-check draws
    onsite_weight: float    # odds in random on-site draws

    def weight(self, kind: Kind) -> float:
        return self.remote_weight if kind == "remote" else self.onsite_weight


@dataclass(frozen=True, slots=True)
class ListInfo:
    """A positive list a bureau keeps: its identifier and names."""

    id: str
    zh: str
    en: str


@dataclass(frozen=True)
class SupervisionConfig:
    levels: Mapping[str, LevelRule]
    unknown_level: str
    lists: Mapping[str, ListInfo]
    default_list: str
    routine_onsite: Routine = "remote"
    remote_weight_factor: float = 0.5
    onsite_weight_factor: float = 0.25
    onsite_draws: OnsiteDraws = "exclude"
    source: str = "<memory>"

    def rule(self, level: str) -> LevelRule:
        """The rule of ``level``; a level the file does not list follows ``unknown_level``."""
        return self.levels.get(level) or self.levels[self.unknown_level]

    def factor(self, kind: Kind) -> float:
        return self.remote_weight_factor if kind == "remote" else self.onsite_weight_factor

    def weight(self, kind: Kind, level: str, listed: bool) -> float:
        """An enterprise's weight in a draw of ``kind``: its level's weight, times the
        list's factor when it is on a positive list, to :data:`WEIGHT_DECIMALS` decimals."""
        weight = self.rule(level).weight(kind) * (self.factor(kind) if listed else 1.0)
        return round(weight, WEIGHT_DECIMALS)

    def list_id(self, value: str) -> str | None:
        """The identifier of the list named ``value`` (its identifier, or its Chinese or
        English name, case and surrounding blanks ignored); None when there is none."""
        wanted = value.strip().casefold()
        for info in self.lists.values():
            if wanted in (info.id, info.zh.casefold(), info.en.casefold()):
                return info.id
        return None


# --- the edge: the YAML file --------------------------------------------------------------


class _Level(BaseModel):
    model_config = ConfigDict(extra="forbid")
    onsite_per_year: int = Field(ge=0, le=366)
    remote_weight: float = Field(gt=0, le=1_000_000)
    onsite_weight: float = Field(gt=0, le=1_000_000)

    @field_validator("onsite_per_year")
    @classmethod
    def _whole_windows(cls, v: int) -> int:
        if v and v not in _PER_YEAR_DIVISORS and v % 12:
            raise ValueError(f"{v} inspections do not split the year into whole windows of months; "
                             "use 0, 1, 2, 3, 4, 6, 12 or a multiple of 12")
        return v


class _List(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: str = Field(min_length=1, max_length=100)
    en: str = Field(min_length=1, max_length=100)


class _PositiveList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lists: dict[str, _List] = Field(min_length=1)
    default: str
    routine_onsite: Routine = "remote"
    remote_weight_factor: float = Field(default=0.5, ge=0, le=1)
    onsite_weight_factor: float = Field(default=0.25, ge=0, le=1)
    onsite_draws: OnsiteDraws = "exclude"


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    levels: dict[str, _Level] = Field(min_length=1)
    unknown_level: str
    positive_list: _PositiveList


_Path = tuple[str | int, ...]


def _line_map(node: yaml.Node | None, path: _Path = (), out: dict[_Path, int] | None = None) -> dict[_Path, int]:
    """Each key path of the document -> its 1-based line."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            out[(*path, key_node.value)] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key_node.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, i), out)
    return out


def _where(source: str, lines: Mapping[_Path, int], path: _Path) -> str:
    line = next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), 1)
    key = ".".join(str(p) for p in path) or "<document>"
    return f"{source}:{line}: {key}"


def parse_supervision_config(text: str, source: str = "<memory>") -> SupervisionConfig:
    """Parse and check the YAML text of a supervision file; raise
    :class:`SupervisionConfigError` listing every problem found."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise SupervisionConfigError(source, [f"{source}:{line}: not valid YAML: {exc}"]) from exc
    lines = _line_map(node)
    if not isinstance(raw, dict):
        raise SupervisionConfigError(source, [f"{source}:1: the file must be a mapping with levels, "
                                              "unknown_level and positive_list"])
    try:
        f = _File.model_validate(raw)
    except ValidationError as exc:
        raise SupervisionConfigError(source, [f"{_where(source, lines, tuple(e['loc']))}: {e['msg']}"
                                              for e in exc.errors()]) from exc
    problems: list[str] = []
    missing = [level for level, _ in LEVELS if level not in f.levels]
    if missing:
        problems.append(f"{_where(source, lines, ('levels',))}: levels {', '.join(missing)} are missing; "
                        "every level of the credit ledger needs its rule")
    for level in f.levels:
        if not level.strip() or len(level) > 20:
            problems.append(f"{_where(source, lines, ('levels', level))}: a level name of 1 to 20 characters")
    if f.unknown_level not in f.levels:
        problems.append(f"{_where(source, lines, ('unknown_level',))}: {f.unknown_level!r} is not one of "
                        f"the levels ({', '.join(f.levels)})")
    lists = f.positive_list
    names: dict[str, str] = {}
    for list_id, info in lists.lists.items():
        where = _where(source, lines, ("positive_list", "lists", list_id))
        if not _LIST_ID.match(list_id):
            problems.append(f"{where}: a list identifier is a lower-case letter, then up to 31 "
                            "lower-case letters, digits or _")
        for name in (list_id, info.zh.strip().casefold(), info.en.strip().casefold()):
            if names.setdefault(name, list_id) != list_id:
                problems.append(f"{where}: {name!r} already names list {names[name]!r}")
    if lists.default not in lists.lists:
        problems.append(f"{_where(source, lines, ('positive_list', 'default'))}: {lists.default!r} is not "
                        f"one of the lists ({', '.join(lists.lists)})")
    for key in ("remote_weight_factor", "onsite_weight_factor"):
        if not math.isfinite(getattr(lists, key)):
            problems.append(f"{_where(source, lines, ('positive_list', key))}: not a number")
    if problems:
        raise SupervisionConfigError(source, problems)
    return SupervisionConfig(
        levels=MappingProxyType({k: LevelRule(v.onsite_per_year, v.remote_weight, v.onsite_weight)
                                 for k, v in f.levels.items()}),
        unknown_level=f.unknown_level,
        lists=MappingProxyType({k: ListInfo(k, v.zh.strip(), v.en.strip()) for k, v in lists.lists.items()}),
        default_list=lists.default, routine_onsite=lists.routine_onsite,
        remote_weight_factor=lists.remote_weight_factor, onsite_weight_factor=lists.onsite_weight_factor,
        onsite_draws=lists.onsite_draws, source=source)


def load_supervision_config(path: Path | str | None = None) -> SupervisionConfig:
    """The configuration in ``path`` (default: the packaged ``config/supervision.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_SUPERVISION_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SupervisionConfigError(str(path), [f"{path}:1: cannot read the file: {exc}"]) from exc
    return parse_supervision_config(text, str(path))


@functools.cache
def default_supervision_config() -> SupervisionConfig:
    """The packaged configuration, read once (what a context built without one uses)."""
    return load_supervision_config()
