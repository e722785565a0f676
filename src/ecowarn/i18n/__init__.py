"""Wording in the users' languages: one catalog module per language (``zh``, ``en``).

Chinese is the default everywhere; English is equally complete (``tests/test_i18n.py``). The
console, the printable evidence page, the labels of statuses, dispositions and rules, API
error details and alert summaries read their texts here; :func:`catalog` gives a language's
tables by area name.

Alert summaries are worded from facts: a rule evaluator calls :func:`summary` with a message
key of ``ALERTS`` and fields, and gets the (English, Chinese) pair. A field is a ready string
(numbers formatted by :func:`fmt`) or a value worded in each language: :class:`Phrase` (a
message of ``PHRASES``, ``FORMS`` or ``ALERTS`` with its own fields, nested at will),
:class:`Minutes` (a duration), :class:`Count` (a number with its noun) or :class:`Join` (a
list, ``", "`` in English, ``"、"`` in Chinese).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Final, Literal, TypeAlias

from ecowarn.i18n import en, zh

__all__ = ["CATALOGS", "CREDIT_TEXTS", "ENTRY_TYPES", "EVIDENCE_LABELS", "HOURS_FROM_MIN", "LANGS", "RULE_NAMES",
           "TEXTS", "WORKFLOW_TEXTS", "Count", "Field", "Join", "Lang", "Localisable", "Minutes", "Phrase",
           "catalog", "fmt", "label", "render", "rule_name", "summary"]

Lang = Literal["zh", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh", "en")
CATALOGS: Final[dict[Lang, ModuleType]] = {"zh": zh, "en": en}


def catalog(lang: Lang, area: str) -> dict[str, str]:
    """One area's messages (``CONSOLE``, ``CREDIT``, ``WORKFLOW``, ``RULES``...) in ``lang``."""
    table: dict[str, str] = getattr(CATALOGS[lang], area)
    return table


# Per-page tables, by language (what the templates receive as ``t``, ``c`` and ``w``).
TEXTS: Final[dict[Lang, dict[str, str]]] = {lang: catalog(lang, "CONSOLE") for lang in LANGS}
CREDIT_TEXTS: Final[dict[Lang, dict[str, str]]] = {lang: catalog(lang, "CREDIT") for lang in LANGS}
WORKFLOW_TEXTS: Final[dict[Lang, dict[str, str]]] = {lang: catalog(lang, "WORKFLOW") for lang in LANGS}


def _pairs(area: str) -> dict[str, tuple[str, str]]:
    english = catalog("en", area)
    return {k: (v, english[k]) for k, v in catalog("zh", area).items()}


# (Chinese, English) pairs, for pages that show both languages side by side.
RULE_NAMES: Final[dict[str, tuple[str, str]]] = _pairs("RULES")
ENTRY_TYPES: Final[dict[str, tuple[str, str]]] = _pairs("ENTRY_TYPES")
EVIDENCE_LABELS: Final[dict[str, tuple[str, str]]] = _pairs("EVIDENCE")


def rule_name(rule: str, lang: Lang) -> str:
    """Display name of a rule id (the id itself when unknown)."""
    return catalog(lang, "RULES").get(rule, rule)


def label(value: str | None, lang: Lang) -> str:
    """Display name of a status, action, disposition, answer kind or role."""
    if value is None:
        return ""
    return catalog(lang, "LABELS").get(value, value)


# --- alert summaries -----------------------------------------------------------------------

# Durations from this many minutes on read in hours.
HOURS_FROM_MIN: Final = 180

# Every message a Phrase may name, by language: the three tables share no key (tested).
_WORDING: Final[dict[Lang, dict[str, str]]] = {
    lang: {**catalog(lang, "PHRASES"), **catalog(lang, "FORMS"), **catalog(lang, "ALERTS")} for lang in LANGS}


def fmt(x: float, nd: int = 1) -> str:
    """A number for a summary: rounded to ``nd`` decimals, trailing zeros dropped."""
    r = round(float(x), nd)
    if nd <= 0:
        return f"{r:.0f}"
    return f"{r:.{nd}f}".rstrip("0").rstrip(".")


class Localisable(ABC):
    """A value worded differently in each language."""

    __slots__ = ()

    @abstractmethod
    def render(self, lang: Lang) -> str:
        """The value in ``lang``."""


Field: TypeAlias = str | int | float | Localisable


def render(value: Field, lang: Lang) -> str:
    """A field's text in ``lang``: a localisable value rendered, anything else as ``format`` prints it."""
    return value.render(lang) if isinstance(value, Localisable) else format(value)


def _fill(lang: Lang, key: str, fields: Mapping[str, Field]) -> str:
    return _WORDING[lang][key].format_map(
        {name: v.render(lang) if isinstance(v, Localisable) else v for name, v in fields.items()})


@dataclass(frozen=True, slots=True, init=False)
class Phrase(Localisable):
    """The message ``key`` with its fields, in each language. A message may leave out a field
    (the facts its language does not state, listed in the catalog's ``OMITTED``)."""

    key: str
    fields: tuple[tuple[str, Field], ...]

    def __init__(self, key: str, /, **fields: Field) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "fields", tuple(fields.items()))

    def render(self, lang: Lang) -> str:
        return _fill(lang, self.key, dict(self.fields))


@dataclass(frozen=True, slots=True)
class Minutes(Localisable):
    """A duration: '42 min' / '42 分钟'; from :data:`HOURS_FROM_MIN` minutes on, in hours ('3.5 h')."""

    minutes: float

    def render(self, lang: Lang) -> str:
        if self.minutes < HOURS_FROM_MIN:
            return _fill(lang, "duration_min", {"n": fmt(self.minutes)})
        return _fill(lang, "duration_h", {"n": fmt(self.minutes / 60.0)})


@dataclass(frozen=True, slots=True)
class Count(Localisable):
    """``n`` with its noun: the message ``<key>_one`` when ``n`` is 1, else ``<key>_other``."""

    key: str
    n: int

    def render(self, lang: Lang) -> str:
        return _fill(lang, f"{self.key}_one" if self.n == 1 else f"{self.key}_other", {"n": self.n})


@dataclass(frozen=True, slots=True, init=False)
class Join(Localisable):
    """Items joined with the language's ``FORMS`` separator (``list``: ', ' / '、', ``clauses``:
    '; ' / '；'); ``empty`` when that leaves nothing."""

    items: tuple[Field, ...]
    sep: Literal["list", "clauses"]
    empty: Field

    def __init__(self, items: Iterable[Field], sep: Literal["list", "clauses"] = "list",
                 empty: Field = "") -> None:
        object.__setattr__(self, "items", tuple(items))
        object.__setattr__(self, "sep", sep)
        object.__setattr__(self, "empty", empty)

    def render(self, lang: Lang) -> str:
        return _WORDING[lang][self.sep].join(render(i, lang) for i in self.items) or render(self.empty, lang)


def summary(key: str, /, **fields: Field) -> tuple[str, str]:
    """The (English, Chinese) wording of the ``ALERTS`` message ``key`` with ``fields``."""
    if key not in catalog("en", "ALERTS"):
        raise KeyError(f"no alert message {key!r}")
    phrase = Phrase(key, **fields)
    return phrase.render("en"), phrase.render("zh")
