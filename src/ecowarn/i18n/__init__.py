"""Wording in the users' languages: one catalog module per language (``zh``, ``en``).

Chinese is the default everywhere; English is equally complete (``tests/test_i18n.py``). The
console, the printable evidence page and the labels of statuses, dispositions and rules
read their texts here; :func:`catalog` gives a language's tables by area name.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final, Literal

from ecowarn.i18n import en, zh

__all__ = ["CATALOGS", "CREDIT_TEXTS", "ENTRY_TYPES", "EVIDENCE_LABELS", "LANGS", "RULE_NAMES", "TEXTS",
           "WORKFLOW_TEXTS", "Lang", "catalog", "label", "rule_name"]

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
