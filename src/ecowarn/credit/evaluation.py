"""Credit evaluations: an officer's initial ("health check") or periodic evaluation of an
enterprise against a catalog (:mod:`credit._catalogs`), written into the credit ledger.

**Scoring.** Each recorded item carries signed points, as the ledger signs them: a
deduction item takes ``-max_points..0`` (a problem found), a bonus item ``0..max_points``;
items left out score 0 (checked, nothing found). The evaluation's score is the catalog's
``base`` plus the points, clamped to 0..100, and its level is the active level scheme's.
Every problem of a request is reported at once (:class:`InvalidEvaluation`, 422, naming
each field).

**In the ledger.** An evaluation is a ledger entry of type ``evaluation`` (no ``ref_id``)
written under the chain lock, whose points reset the base::

    points = evaluation score - (100 + raw sum of the enterprise's points before it)

The raw sum is not clamped, so right after the entry the score (100 + sum, clamped:
``credit_scores``) is exactly the evaluation's score, and later deductions, first offences,
repairs and reversals move it from there. "Latest evaluation + ledger since" holds by
construction, the feed carries evaluations like any entry, and a consumer rebuilds every
score from the feed's points alone. The whole evaluation is kept as canonical JSON in
``evaluations`` and its SHA-256 is in the entry's reason, so the hash chain covers it.

**Kinds.** ``initial`` once per enterprise: a second one is refused (409,
:class:`EvaluationRefused`) while the first stands; an initial evaluation recorded in error
is reversed like any ledger entry (``POST /credit/entries/{entry_id}/reversal``), which
also takes its effect on the score back, and can then be recorded again. ``periodic``
evaluations may follow at any time (a catalog lists the kinds it serves).

Errors (mapped to HTTP in ``api/errors.py``)::

    InvalidWorkflowInput (alerts.errors)   422, names the field; all problems in ``problems``
     └── InvalidEvaluation
    NotEligible (credit.errors)            409, reason in English and Chinese (detail_zh)
     └── EvaluationRefused                 a second initial evaluation
    EntryNotFound (credit.errors)          404
     └── EvaluationNotFound
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ecowarn.alerts.errors import InvalidWorkflowInput
from ecowarn.credit._canonical import canonical_json, sha256_hex, ts
from ecowarn.credit._catalogs import (
    DEFAULT_CATALOG_FILES,
    DEFAULT_SCHEMES_FILE,
    EVALUATION_KINDS,
    ITEM_KINDS,
    SCORE_RANGE,
    Catalog,
    CatalogConfigError,
    CatalogItem,
    Category,
    CreditModel,
    Level,
    LevelScheme,
    Name,
    default_credit_model,
    load_credit_model,
    parse_catalog,
    parse_level_schemes,
)
from ecowarn.credit.chain import lock_chain, next_slot
from ecowarn.credit.errors import EntryNotFound, NotEligible
from ecowarn.credit.ledger import FULL_SCORE, append_entry
from ecowarn.i18n import Lang, catalog

__all__ = [
    "DEFAULT_CATALOG_FILES",
    "DEFAULT_SCHEMES_FILE",
    "DOCUMENT_FORMAT",
    "EVALUATION_KINDS",
    "ITEM_KINDS",
    "SCORE_RANGE",
    "Catalog",
    "CatalogConfigError",
    "CatalogItem",
    "Category",
    "CreditModel",
    "EvaluationNotFound",
    "EvaluationRefused",
    "InvalidEvaluation",
    "ItemInput",
    "Level",
    "LevelScheme",
    "Name",
    "Problem",
    "Scored",
    "ScoredItem",
    "check_evaluation",
    "default_credit_model",
    "fetch_evaluation",
    "initial_evaluation",
    "latest_evaluation",
    "level_history",
    "list_evaluations",
    "load_credit_model",
    "parse_catalog",
    "parse_level_schemes",
    "record_evaluation",
    "standing",
]

log = logging.getLogger(__name__)

DOCUMENT_FORMAT = "ecowarn-evaluation/1"
_EN = catalog("en", "EVALUATION")
_ZH = catalog("zh", "EVALUATION")


# --- errors --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused value: its path (``body.items[2].points``) and the reason, in both languages."""

    path: str
    key: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def text(self, lang: Lang) -> str:
        table = _ZH if lang == "zh" else _EN
        values = {k: (v(lang) if callable(v) else v) for k, v in self.values.items()}
        return table[self.key].format(**values)


class InvalidEvaluation(InvalidWorkflowInput):
    """The evaluation cannot be recorded as sent (422): ``field`` and the message are the
    first problem's, ``extra["problems"]`` lists them all ({path, message, message_zh})."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("an InvalidEvaluation needs at least one problem")
        first = problems[0]
        more = len(problems) - 1
        en, zh = first.text("en"), first.text("zh")
        if more:
            en += "; " + _EN["more_problems"].format(n=more)
            zh += "；" + _ZH["more_problems"].format(n=more)
        super().__init__(first.path, en)
        self.problems = tuple(problems)
        self.detail_zh = zh
        self.extra: dict[str, Any] = {"problems": [
            {"path": p.path, "message": p.text("en"), "message_zh": p.text("zh")} for p in problems]}


class EvaluationRefused(NotEligible):
    """The evaluation is refused in the enterprise's present state (409), in both languages."""

    def __init__(self, key: str, *, extra: Mapping[str, Any] | None = None, **values: Any) -> None:
        super().__init__(_EN[key].format(**values))
        self.detail_zh = _ZH[key].format(**values)
        self.extra: dict[str, Any] = dict(extra or {})
        self.key = key


class EvaluationNotFound(EntryNotFound):
    """No evaluation with this id, or one the reader may not see (404)."""

    def __init__(self, evaluation_id: int) -> None:
        super().__init__(_EN["not_found"].format(id=evaluation_id))
        self.evaluation_id = evaluation_id


# --- scoring (pure) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemInput:
    """One item as the officer records it."""

    item: str
    points: int
    note: str = ""
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScoredItem:
    item: CatalogItem
    points: int
    note: str
    evidence: tuple[str, ...]

    def as_json(self, cat: Catalog) -> dict[str, Any]:
        category = cat.category(self.item.category)
        return {"item": self.item.id, "category": category.id, "category_name": category.name.as_json(),
                "name": self.item.name.as_json(), "kind": self.item.kind,
                "max_points": self.item.max_points, "points": self.points, "note": self.note,
                "evidence": list(self.evidence)}


@dataclass(frozen=True, slots=True)
class Scored:
    """An evaluation checked against its catalog: its items and score."""

    catalog: Catalog
    kind: str
    items: tuple[ScoredItem, ...]
    deductions: int   # sum of the negative points (<= 0)
    bonuses: int      # sum of the positive points (>= 0)
    score: int        # base + points, clamped to 0..100

    def checklist(self) -> list[dict[str, Any]]:
        """Every item of the catalog in its order, as the catalog words it now (the items
        the officer left out were checked and nothing was found)."""
        return [{"item": it.id, "category": it.category,
                 "category_name": self.catalog.category(it.category).name.as_json(),
                 "name": it.name.as_json(), "kind": it.kind, "max_points": it.max_points,
                 "evidence_expected": [e.zh for e in it.evidence],
                 "evidence_expected_en": [e.en for e in it.evidence], "source": it.source}
                for it in self.catalog.ordered_items()]


def _kind_name(kind: str) -> Any:
    return lambda lang: (_ZH if lang == "zh" else _EN).get(kind, kind)


def check_evaluation(model: CreditModel, catalog_id: str, kind: str,
                     items: Sequence[ItemInput]) -> tuple[Scored | None, list[Problem]]:
    """The scored evaluation, or None and every problem found (paths as in the request body)."""
    problems: list[Problem] = []
    cat = model.catalogs.get(catalog_id)
    if cat is None:
        return None, [Problem("body.catalog", "unknown_catalog",
                              {"catalog": catalog_id, "known": ", ".join(sorted(model.catalogs))})]
    if kind not in cat.kinds:
        sep = {"zh": "、", "en": ", "}
        problems.append(Problem("body.kind", "kind_not_allowed", {
            "catalog": cat.id, "kind": _kind_name(kind),
            "kinds": lambda lang: sep[lang].join(_kind_name(k)(lang) for k in cat.kinds)}))
    scored: list[ScoredItem] = []
    first_at: dict[str, int] = {}
    for i, given in enumerate(items):
        path = f"body.items[{i}]"
        item = cat.items.get(given.item)
        if item is None:
            problems.append(Problem(f"{path}.item", "unknown_item", {"catalog": cat.id, "item": given.item}))
            continue
        if given.item in first_at:
            problems.append(Problem(f"{path}.item", "duplicate_item", {"item": given.item,
                                                                       "first": first_at[given.item]}))
            continue
        first_at[given.item] = i
        low, high = item.points_range
        if not low <= given.points <= high:
            problems.append(Problem(f"{path}.points", f"{item.kind}_points",
                                    {"item": item.id, "max": item.max_points}))
            continue
        evidence = tuple(e.strip() for e in given.evidence if e.strip())
        if cat.require_evidence and given.points != 0 and not evidence:
            problems.append(Problem(f"{path}.evidence", "evidence_required", {"catalog": cat.id, "item": item.id}))
            continue
        scored.append(ScoredItem(item, given.points, given.note.strip(), evidence))
    if problems:
        return None, problems
    deductions = sum(s.points for s in scored if s.points < 0)
    bonuses = sum(s.points for s in scored if s.points > 0)
    score = max(SCORE_RANGE[0], min(SCORE_RANGE[1], cat.base + deductions + bonuses))
    return Scored(cat, kind, tuple(scored), deductions, bonuses, score), []


# --- the ledger and the evaluations table --------------------------------------------------

_COLUMNS = ("v.id, v.enterprise_id, v.kind, v.catalog, v.scheme, v.items, v.base, v.deductions, v.bonuses,"
            " v.score, v.level, v.entry_id, v.document, v.sha256, v.officer_token, v.officer_label,"
            " v.evaluated_at, v.created_at,"
            " (SELECT r.id FROM credit_ledger r WHERE r.ref_id = v.entry_id AND r.entry_type = 'reversal')"
            "   AS reversed_by")


async def _live(conn: psycopg.AsyncConnection[Any], enterprise_id: str, *, kind: str | None,
                newest: bool) -> dict[str, Any] | None:
    """The first (or newest) unreversed evaluation of the enterprise, of ``kind`` if given."""
    order = "DESC" if newest else "ASC"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM evaluations v WHERE v.enterprise_id = %s"
            " AND (%s::text IS NULL OR v.kind = %s) AND NOT EXISTS (SELECT 1 FROM credit_ledger r"
            f" WHERE r.ref_id = v.entry_id AND r.entry_type = 'reversal') ORDER BY v.id {order} LIMIT 1",
            (enterprise_id, kind, kind))
        return await cur.fetchone()


async def latest_evaluation(conn: psycopg.AsyncConnection[Any], enterprise_id: str) -> dict[str, Any] | None:
    """The enterprise's newest evaluation that was not reversed: the base of its score."""
    return await _live(conn, enterprise_id, kind=None, newest=True)


async def initial_evaluation(conn: psycopg.AsyncConnection[Any], enterprise_id: str) -> dict[str, Any] | None:
    """The enterprise's initial evaluation that stands (not reversed), if any."""
    return await _live(conn, enterprise_id, kind="initial", newest=False)


async def record_evaluation(
    conn: psycopg.AsyncConnection[Any], model: CreditModel, *, enterprise_id: str, kind: str,
    catalog_id: str, items: Sequence[ItemInput], actor: Mapping[str, Any],
    evaluated_at: datetime | None = None,
) -> dict[str, Any]:
    """Score the evaluation, write its ledger entry (chain lock held) and its row, in one
    transaction (a savepoint in the caller's); returns the row (:func:`fetch_evaluation`)."""
    scored, problems = check_evaluation(model, catalog_id, kind, items)
    if scored is None:
        raise InvalidEvaluation(problems)
    async with conn.transaction():
        await lock_chain(conn)
        if kind == "initial":
            prior = await initial_evaluation(conn, enterprise_id)
            if prior is not None:
                raise EvaluationRefused("initial_exists", enterprise=enterprise_id, evaluation=prior["id"],
                                        entry=prior["entry_id"],
                                        extra={"evaluation_id": prior["id"], "entry_id": prior["entry_id"]})
        cur = await conn.execute(
            "SELECT coalesce(sum(points), 0), nextval('evaluations_id_seq') FROM credit_ledger"
            " WHERE enterprise_id = %s", (enterprise_id,))
        row = await cur.fetchone()
        assert row is not None
        raw_before, evaluation_id = int(row[0]), int(row[1])
        slot = await next_slot(conn)
        at = evaluated_at or slot.now
        if at > slot.now:
            raise InvalidEvaluation([Problem("body.evaluated_at", "evaluated_in_future", {"at": ts(at)})])
        points = scored.score - (FULL_SCORE + raw_before)
        level = model.level_for(scored.score)
        items_json = [s.as_json(scored.catalog) for s in scored.items]
        actor_json = {"token_id": actor.get("token_id"), "role": actor.get("role"), "label": actor.get("label")}
        document = {
            "format": DOCUMENT_FORMAT, "id": evaluation_id, "enterprise_id": enterprise_id, "kind": kind,
            "catalog": {"id": scored.catalog.id, "name": scored.catalog.name.as_json(),
                        "base": scored.catalog.base, "scheme": scored.catalog.scheme},
            "items": items_json, "checklist": scored.checklist(),
            "deductions": scored.deductions, "bonuses": scored.bonuses, "score": scored.score,
            "scheme": model.active, "level": level, "evaluated_at": at, "recorded_at": slot.now,
            "actor": actor_json, "ledger": {"raw_points_before": raw_before, "points": points},
        }
        digest = sha256_hex(canonical_json(document))
        entry = await append_entry(
            conn, slot, enterprise_id=enterprise_id, entry_type="evaluation", points=points, occurred_at=at,
            reason=(f"{kind} evaluation {evaluation_id} against catalog {scored.catalog.id}: score "
                    f"{scored.score} ({model.active} {level}); evaluation document sha256 {digest}"),
            actor=actor)
        assert entry["score_after"] == scored.score, (entry["score_after"], scored.score)
        token = actor.get("token_id")
        await conn.execute(
            "INSERT INTO evaluations (id, enterprise_id, kind, catalog, scheme, items, base, deductions,"
            " bonuses, score, level, entry_id, document, sha256, officer_token, officer_label,"
            " evaluated_at, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (evaluation_id, enterprise_id, kind, scored.catalog.id, model.active, Jsonb(items_json),
             scored.catalog.base, scored.deductions, scored.bonuses, scored.score, level, entry["id"],
             canonical_json(document).decode("utf-8"), digest, token if isinstance(token, int) else None,
             str(actor.get("label") or ""), at, slot.now))
        log.info("%s evaluation %d of %s (%s): score %d, level %s; ledger entry %d (%+d)", kind,
                 evaluation_id, enterprise_id, scored.catalog.id, scored.score, level, entry["id"], points)
        recorded = await fetch_evaluation(conn, evaluation_id)
    assert recorded is not None
    return recorded


async def fetch_evaluation(conn: psycopg.AsyncConnection[Any], evaluation_id: int) -> dict[str, Any] | None:
    """One evaluation row, with ``reversed_by`` (the reversal of its ledger entry, if any)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM evaluations v WHERE v.id = %s", (evaluation_id,))
        return await cur.fetchone()


async def list_evaluations(
    conn: psycopg.AsyncConnection[Any], *, limit: int, enterprise_id: str | None = None,
    enterprise_ids: Collection[str] | None = None, kind: str | None = None, before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Evaluations newest first, at most ``limit`` + 1 (one more tells the caller another page
    follows); of ``enterprise_id`` and within ``enterprise_ids`` (what the reader sees) when given."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM evaluations v"
            " WHERE (%(ent)s::text IS NULL OR v.enterprise_id = %(ent)s)"
            " AND (%(ents)s::text[] IS NULL OR v.enterprise_id = ANY(%(ents)s))"
            " AND (%(kind)s::text IS NULL OR v.kind = %(kind)s)"
            " AND (%(before)s::bigint IS NULL OR v.id < %(before)s)"
            " ORDER BY v.id DESC LIMIT %(limit)s",
            {"ent": enterprise_id, "ents": None if enterprise_ids is None else sorted(enterprise_ids),
             "kind": kind, "before": before_id, "limit": limit + 1})
        return await cur.fetchall()


async def level_history(conn: psycopg.AsyncConnection[Any], model: CreditModel,
                        enterprise_id: str) -> list[dict[str, Any]]:
    """The enterprise's levels in the active scheme over time, oldest first: each ledger entry
    that changed the level (from the level of 100 before any entry), and every evaluation
    (which sets it), with the entry's id, type, time and the score after it."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, entry_type, score_after, created_at FROM credit_ledger WHERE enterprise_id = %s"
            " ORDER BY id", (enterprise_id,))
        rows = await cur.fetchall()
    previous = model.level_for(FULL_SCORE)
    out = []
    for r in rows:
        level = model.level_for(int(r["score_after"]))
        if level != previous or r["entry_type"] == "evaluation":
            out.append({"at": r["created_at"], "level": level, "previous_level": previous,
                        "score": int(r["score_after"]), "entry_id": int(r["id"]), "entry_type": r["entry_type"]})
        previous = level
    return out


async def standing(conn: psycopg.AsyncConnection[Any], model: CreditModel, enterprise_id: str,
                   score: int) -> dict[str, Any]:
    """What the enterprise's credit page adds to its ``score``: the active scheme's ``level``
    and its id, the ``level_history`` and the evaluation the score starts from (or None)."""
    return {"level": model.level_for(score), "level_scheme": model.active,
            "level_history": await level_history(conn, model, enterprise_id),
            "evaluation": await latest_evaluation(conn, enterprise_id)}
