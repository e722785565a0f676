"""Evaluation catalogs and level schemes: configuration files, validated at start.

A **catalog** (评价指标体系) is one YAML file: its categories, and in each category its
items, each a ``deduction`` (扣分项: a problem found takes up to ``max_points``) or a
``bonus`` (加分项: a merit adds up to ``max_points``), with the evidence that supports it
and whether the item comes from published practice or is a placeholder a bureau edits.
An evaluation's score is the catalog's ``base`` plus the signed points of its items,
clamped to the ledger's 0..100.

A **level scheme** reads a score as a level: Hebei's A-E bands, a star scheme. One
file holds the schemes and names the ``active`` one, whose level the API reports.

Every problem in the files is reported as ``file:line: path: message`` (like the
registry) in one :class:`CatalogConfigError`, and the service refuses to start. The
core gets a frozen :class:`CreditModel`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from ecowarn.config import packaged_file
from ecowarn.credit.errors import CreditConfigError
from ecowarn.credit.ledger import FULL_SCORE, LEVELS

__all__ = [
    "DEFAULT_CATALOG_FILES",
    "DEFAULT_SCHEMES_FILE",
    "EVALUATION_KINDS",
    "ITEM_KINDS",
    "SCORE_RANGE",
    "Catalog",
    "CatalogConfigError",
    "CatalogItem",
    "Category",
    "CreditModel",
    "Level",
    "LevelScheme",
    "Name",
    "default_credit_model",
    "load_credit_model",
    "parse_catalog",
    "parse_level_schemes",
]

DEFAULT_CATALOG_FILES = ("credit_catalog_hebei_initial.yaml", "credit_catalog_daxing_green.yaml")
DEFAULT_SCHEMES_FILE = "credit_levels.yaml"
ITEM_KINDS = ("deduction", "bonus")
EVALUATION_KINDS = ("initial", "periodic")
# Every score lives on the ledger's scale: credit_scores clamps 100 + points to 0..100.
SCORE_RANGE = (0, FULL_SCORE)
# The scheme whose bands the ledger itself records (level_after, the credit_scores view).
LEDGER_SCHEME = "hebei"

_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LEVEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")


class CatalogConfigError(CreditConfigError):
    """A catalog or level-scheme file is invalid; ``problems`` holds one
    ``file:line: path: message`` line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid credit evaluation configuration:\n  " + "\n  ".join(self.problems))


# --- the core model ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Name:
    zh: str
    en: str

    def as_json(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True, slots=True)
class CatalogItem:
    id: str
    category: str
    name: Name
    kind: Literal["deduction", "bonus"]
    max_points: int
    # What supports a finding (documents, records, site checks), in the bureau's words, in
    # Chinese and English.
    evidence: tuple[Name, ...] = ()
    source: Literal["published", "placeholder"] = "placeholder"
    basis: str = ""

    @property
    def points_range(self) -> tuple[int, int]:
        """Signed points allowed, as the ledger signs them: deductions -max..0, bonuses 0..max."""
        return (-self.max_points, 0) if self.kind == "deduction" else (0, self.max_points)


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: Name
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    id: str
    name: Name
    scheme: str          # the level scheme its scores were designed for
    base: int            # the score before any item: 100 for deduction catalogs
    kinds: tuple[str, ...]
    require_evidence: bool
    categories: tuple[Category, ...]
    items: Mapping[str, CatalogItem]
    source: str          # the file it was read from

    def ordered_items(self) -> list[CatalogItem]:
        """Items in file order, category by category."""
        return [self.items[i] for c in self.categories for i in c.items]

    def category(self, category_id: str) -> Category:
        return next(c for c in self.categories if c.id == category_id)


@dataclass(frozen=True, slots=True)
class Level:
    id: str
    min: int
    name: Name


@dataclass(frozen=True, slots=True)
class LevelScheme:
    id: str
    name: Name
    levels: tuple[Level, ...]   # highest first; the last one starts at 0
    source: Literal["published", "placeholder"]
    basis: str = ""

    def level_for(self, score: int) -> str:
        for level in self.levels:
            if score >= level.min:
                return level.id
        return self.levels[-1].id

    def bands(self) -> list[tuple[Level, int, int]]:
        """(level, lowest score, highest score) of each level, highest first."""
        out, top = [], SCORE_RANGE[1]
        for level in self.levels:
            out.append((level, level.min, top))
            top = level.min - 1
        return out

    def level(self, level_id: str) -> Level | None:
        return next((lv for lv in self.levels if lv.id == level_id), None)


@dataclass(frozen=True)
class CreditModel:
    """The loaded catalogs and level schemes, with the scheme whose level the API reports."""

    catalogs: Mapping[str, Catalog]
    schemes: Mapping[str, LevelScheme]
    active: str

    @property
    def scheme(self) -> LevelScheme:
        return self.schemes[self.active]

    def level_for(self, score: int) -> str:
        """The active scheme's level of ``score``."""
        return self.scheme.level_for(score)

    def levels_for(self, score: int) -> dict[str, str]:
        """Every configured scheme's level of ``score``."""
        return {sid: s.level_for(score) for sid, s in self.schemes.items()}


# --- the edge: YAML ----------------------------------------------------------------------


class _Name(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: _Name
    kind: Literal["deduction", "bonus"]
    max_points: StrictInt = Field(ge=1, le=100)
    # Each entry {zh, en}, checked by _evidence so that a bare (Chinese only) string or a
    # missing language is one problem naming the entry's line.
    evidence: list[Any] = []
    source: Literal["published", "placeholder"]
    basis: str = ""


class _Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: _Name
    items: list[_Item] = Field(min_length=1)


class _Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: _Name
    scheme: str
    base: StrictInt = Field(ge=SCORE_RANGE[0], le=SCORE_RANGE[1])
    kinds: list[Literal["initial", "periodic"]] = Field(default=["initial", "periodic"], min_length=1)
    require_evidence: bool = False
    categories: list[_Category] = Field(min_length=1)


class _Level(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    min: StrictInt = Field(ge=SCORE_RANGE[0], le=SCORE_RANGE[1])
    name: _Name


class _Scheme(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: _Name
    source: Literal["published", "placeholder"]
    basis: str = ""
    levels: list[_Level] = Field(min_length=1)


class _Schemes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: str
    schemes: list[_Scheme] = Field(min_length=1)


_Path = tuple[str | int, ...]


class _Lines:
    """Line numbers of a YAML document's paths, and the problems found in it."""

    def __init__(self, source: str, node: yaml.Node | None) -> None:
        self.source = source
        self.lines: dict[_Path, int] = {}
        self.problems: list[str] = []
        self._walk(node, ())

    def _walk(self, node: yaml.Node | None, path: _Path) -> None:
        if node is None:
            return
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                self.lines[(*path, key_node.value)] = key_node.start_mark.line + 1
                self._walk(value_node, (*path, key_node.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def line(self, path: _Path) -> int:
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return 1

    def problem(self, path: _Path, message: str) -> None:
        shown = ""
        for p in path:
            shown += f"[{p}]" if isinstance(p, int) else (f".{p}" if shown else str(p))
        self.problems.append(f"{self.source}:{self.line(path)}: {shown or '<document>'}: {message}")


def _read(text: str, source: str, model: type[BaseModel]) -> tuple[Any, _Lines]:
    """Parse ``text`` into ``model``; (None, lines with problems) when it does not fit."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        lines = _Lines(source, None)
        lines.problems.append(f"{source}:{mark.line + 1 if mark is not None else 1}: not valid YAML: {exc}")
        return None, lines
    lines = _Lines(source, node)
    if not isinstance(data, dict):
        lines.problems.append(f"{source}:1: the file must be a mapping")
        return None, lines
    try:
        return model.model_validate(data), lines
    except ValidationError as exc:
        for err in exc.errors():
            lines.problem(tuple(err["loc"]), err["msg"])
        return None, lines


def _check_id(lines: _Lines, path: _Path, value: str, pattern: re.Pattern[str], what: str) -> None:
    if not pattern.fullmatch(value):
        lines.problem(path, f"{what} {value!r} must match {pattern.pattern}")


def parse_level_schemes(text: str, source: str = "<memory>") -> tuple[dict[str, LevelScheme], str, list[str]]:
    """(schemes by id, active scheme id, problems) of a level-scheme file."""
    f, lines = _read(text, source, _Schemes)
    if f is None:
        return {}, "", lines.problems
    schemes: dict[str, LevelScheme] = {}
    first: dict[str, int] = {}
    for si, s in enumerate(f.schemes):
        path: _Path = ("schemes", si)
        _check_id(lines, (*path, "id"), s.id, _ID, "scheme id")
        if s.id in first:
            lines.problem((*path, "id"), f"duplicate scheme id {s.id!r} (first at line "
                                         f"{lines.line(('schemes', first[s.id], 'id'))})")
            continue
        first[s.id] = si
        if s.source == "published" and not s.basis.strip():
            lines.problem((*path, "basis"), "a published scheme names its publication in basis")
        seen: set[str] = set()
        for li, lv in enumerate(s.levels):
            lpath: _Path = (*path, "levels", li)
            _check_id(lines, (*lpath, "id"), lv.id, _LEVEL_ID, "level id")
            if lv.id in seen:
                lines.problem((*lpath, "id"), f"duplicate level id {lv.id!r}")
            seen.add(lv.id)
            if li and lv.min >= s.levels[li - 1].min:
                lines.problem((*lpath, "min"), f"levels go from the highest down: min {lv.min} must be "
                                               f"below the previous level's {s.levels[li - 1].min}")
        if s.levels[-1].min != SCORE_RANGE[0]:
            lines.problem((*path, "levels", len(s.levels) - 1, "min"),
                          f"the lowest level must start at {SCORE_RANGE[0]} so that every score has a level")
        scheme = LevelScheme(s.id, Name(s.name.zh, s.name.en),
                             tuple(Level(lv.id, lv.min, Name(lv.name.zh, lv.name.en)) for lv in s.levels),
                             s.source, s.basis.strip())
        if s.id == LEDGER_SCHEME and tuple((lv.id, lv.min) for lv in scheme.levels) != LEVELS:
            lines.problem((*path, "levels"), "the hebei bands are those the ledger records (A 85, B 70, C 50, "
                                             "D 30, E 0: credit_level() in SQL); give another scheme an id "
                                             "of its own instead")
        schemes[s.id] = scheme
    if f.active not in schemes:
        lines.problem(("active",), f"no scheme {f.active!r}; schemes: {', '.join(sorted(schemes))}")
    return schemes, f.active, lines.problems


def _evidence(lines: _Lines, path: _Path, entries: Sequence[Any]) -> tuple[Name, ...]:
    """An item's expected evidence, each entry ``{zh, en}`` (Chinese and English, neither
    empty); every other entry is reported as a problem at its line."""
    out = []
    for k, e in enumerate(entries):
        if isinstance(e, str):
            lines.problem((*path, k), f"evidence {e!r} needs its Chinese and English: {{zh: ..., en: ...}}")
            continue
        if not isinstance(e, dict) or set(e) != {"zh", "en"}:
            lines.problem((*path, k), "an evidence entry is {zh: ..., en: ...}: Chinese and English, nothing else")
            continue
        zh, en = e["zh"], e["en"]
        missing = [lang for lang, text in (("zh", zh), ("en", en)) if not isinstance(text, str) or not text.strip()]
        if missing:
            lines.problem((*path, k), f"evidence entries must not be empty: {' and '.join(missing)}")
            continue
        out.append(Name(zh.strip(), en.strip()))
    return tuple(out)


def parse_catalog(text: str, source: str, schemes: Mapping[str, LevelScheme]) -> tuple[Catalog | None, list[str]]:
    """(the catalog, problems) of one catalog file; ``schemes`` are the known level schemes."""
    f, lines = _read(text, source, _Catalog)
    if f is None:
        return None, lines.problems
    _check_id(lines, ("id",), f.id, _ID, "catalog id")
    if schemes and f.scheme not in schemes:
        lines.problem(("scheme",), f"no level scheme {f.scheme!r}; schemes: {', '.join(sorted(schemes))}")
    if len(set(f.kinds)) != len(f.kinds):
        lines.problem(("kinds",), "a kind is listed twice")
    items: dict[str, CatalogItem] = {}
    item_paths: dict[str, _Path] = {}
    categories: list[Category] = []
    category_paths: dict[str, _Path] = {}
    for ci, c in enumerate(f.categories):
        cpath: _Path = ("categories", ci)
        _check_id(lines, (*cpath, "id"), c.id, _ID, "category id")
        if c.id in category_paths:
            lines.problem((*cpath, "id"), f"duplicate category id {c.id!r} (first at line "
                                          f"{lines.line((*category_paths[c.id], 'id'))})")
        category_paths.setdefault(c.id, cpath)
        ids: list[str] = []
        for ii, it in enumerate(c.items):
            ipath: _Path = (*cpath, "items", ii)
            _check_id(lines, (*ipath, "id"), it.id, _ID, "item id")
            if it.id in item_paths:
                lines.problem((*ipath, "id"), f"duplicate item id {it.id!r} (first at line "
                                              f"{lines.line((*item_paths[it.id], 'id'))})")
                continue
            if it.source == "published" and not it.basis.strip():
                lines.problem((*ipath, "basis"), "a published item names its publication in basis")
            evidence = _evidence(lines, (*ipath, "evidence"), it.evidence)
            item_paths[it.id] = ipath
            items[it.id] = CatalogItem(it.id, c.id, Name(it.name.zh, it.name.en), it.kind, it.max_points,
                                       evidence, it.source, it.basis.strip())
            ids.append(it.id)
        categories.append(Category(c.id, Name(c.name.zh, c.name.en), tuple(ids)))
    if lines.problems:
        return None, lines.problems
    return Catalog(f.id, Name(f.name.zh, f.name.en), f.scheme, f.base, tuple(f.kinds), f.require_evidence,
                   tuple(categories), MappingProxyType(items), source), []


def _text(path: Path, problems: list[str]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}:1: cannot read: {exc}")
        return None


def load_credit_model(catalog_files: Sequence[Path] | None = None, schemes_file: Path | None = None,
                      active: str | None = None) -> CreditModel:
    """Read and validate the catalogs and level schemes (default: the packaged files);
    ``active`` overrides the scheme file's ``active``. Raises :class:`CatalogConfigError`
    listing every problem of every file."""
    problems: list[str] = []
    schemes_path = schemes_file or packaged_file(DEFAULT_SCHEMES_FILE)
    text = _text(schemes_path, problems)
    schemes: dict[str, LevelScheme] = {}
    file_active = ""
    if text is not None:
        schemes, file_active, found = parse_level_schemes(text, str(schemes_path))
        problems += found
    chosen = active or file_active
    if active is not None and schemes and active not in schemes:
        problems.append(f"ECOWARN_CREDIT_LEVEL_SCHEME: no scheme {active!r} in {schemes_path}; "
                        f"schemes: {', '.join(sorted(schemes))}")
    paths = list(catalog_files) if catalog_files is not None else [packaged_file(n) for n in DEFAULT_CATALOG_FILES]
    if not paths:
        problems.append("no evaluation catalog configured")
    catalogs: dict[str, Catalog] = {}
    for path in paths:
        text = _text(Path(path), problems)
        if text is None:
            continue
        catalog, found = parse_catalog(text, str(path), schemes)
        problems += found
        if catalog is None:
            continue
        if catalog.id in catalogs:
            problems.append(f"{path}:1: id: catalog {catalog.id!r} is also defined in "
                            f"{catalogs[catalog.id].source}")
            continue
        catalogs[catalog.id] = catalog
    if problems:
        raise CatalogConfigError(problems)
    return CreditModel(MappingProxyType(catalogs), MappingProxyType(schemes), chosen)


@cache
def default_credit_model() -> CreditModel:
    """The packaged catalogs and schemes (Hebei levels), loaded once."""
    return load_credit_model()
