"""Console pages of credit evaluations (CONTRACT section 9): the bureau's "health checks".

- ``GET /console/credit/evaluations`` (officer, enterprise): the evaluations a session may
  see, newest first (an officer: its jurisdiction's, with every enterprise's standing, its
  initial evaluation or the lack of one, and links to evaluate it; an enterprise: its own);
  ``?enterprise_id=`` adds that enterprise's level history (an enterprise always sees its own).
- ``GET /console/credit/evaluations/new?enterprise_id=&catalog=&kind=`` (officer): the form of
  an evaluation: the enterprise, initial or periodic, when, and one row per item of the chosen
  catalog grouped by category (name, deduction or bonus, maximum points, the points found, a
  note, evidence): every problem found in one go. ``POST`` to the same address records it
  (``credit.evaluation.record_evaluation``, as ``POST /api/v1/credit/evaluations``) and
  redirects (303) to the evaluation's page. Points are typed as numbers from 0 to the item's
  maximum; a deduction item's are recorded negative, as the ledger signs them.
- ``GET /console/credit/evaluations/{id}`` (officer, enterprise own): the evaluation, the
  problems and merits it recorded, the enterprise's level history, and
  ``/console/credit/evaluations/{id}/report``: the printable report in the page's language
  (``/api/v1/credit/evaluations/{id}.html`` prints it in Chinese with English).

A refused evaluation (422: an unknown enterprise or one outside the jurisdiction, points
over an item's maximum, a time in the future; 409: a second initial evaluation) renders the
form again with every problem beside its field or row, in the page's language, and the typed
values kept (``api/_console_page.py``). Another enterprise's evaluation is the same 404 as a
missing one (:func:`api.auth.visibility`).
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Final

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from psycopg.rows import dict_row
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ecowarn.alerts.audit import load_actor
from ecowarn.api._console_forms import FormGuard
from ecowarn.api._console_lang import lang_of, local_minute, url_for, with_lang
from ecowarn.api._console_page import NOTHING_REFUSED, Pages, Refused, read_console_form, texts
from ecowarn.api._credit_db import fetch_scores
from ecowarn.api._db import connect
from ecowarn.api._evaluation_html import render_evaluation_report
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api._templates import templates
from ecowarn.api._time import CST
from ecowarn.api.auth import Auth, Visibility, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.pagination import BIGINT_MAX
from ecowarn.api.routes_credit import PAGE_HEADERS
from ecowarn.credit import evaluation
from ecowarn.credit.evaluation import (
    EVALUATION_KINDS,
    Catalog,
    CreditModel,
    EvaluationNotFound,
    EvaluationRefused,
    InvalidEvaluation,
    ItemInput,
    Problem,
)
from ecowarn.credit.hooks import actor_info
from ecowarn.credit.ledger import FULL_SCORE, enterprise_standing
from ecowarn.i18n import ENTRY_TYPES, Lang
from ecowarn.store.tokens import Principal

__all__ = ["build_evaluations_console"]

EvaluationId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
PAGE_SIZE: Final = 50
# Forty items with a long note each, percent-encoded Chinese.
MAX_FORM_BYTES: Final = 512 * 1024
_BASE: Final = f"{CONSOLE_PREFIX}/credit/evaluations"
_ITEM_PATH = re.compile(r"^body\.items\[(\d+)\]\.(\w+)$")
_EVIDENCE_SPLIT = re.compile(r"[;；\n]")
# The form's fields (``f_<name>`` in the catalog) and the parts of an item's row, in page order.
_FIELDS: Final = ("enterprise_id", "kind", "evaluated_at", "catalog")
_ITEM_PARTS: Final = ("item", "points", "note", "evidence")


def _level_name(model: CreditModel, level: str, lang: Lang) -> str:
    found = model.scheme.level(level)
    return level if found is None else getattr(found.name, lang)


def _kind(kind: str, lang: Lang) -> str:
    return texts(lang).get(f"kind_{kind}", kind)


def _entry_type(entry_type: str, lang: Lang) -> str:
    pair = ENTRY_TYPES.get(entry_type, (entry_type, entry_type))
    return pair[0] if lang == "zh" else pair[1]


async def _evaluated(conn: psycopg.AsyncConnection[Any], ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Enterprise id -> its newest standing evaluation (id, kind, evaluated_at, score, level)
    and its standing initial one (``initial_id``); enterprises never evaluated are left out."""
    standing = ("NOT EXISTS (SELECT 1 FROM credit_ledger r WHERE r.ref_id = {v}.entry_id"
                " AND r.entry_type = 'reversal')")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT DISTINCT ON (v.enterprise_id) v.enterprise_id, v.id, v.kind, v.evaluated_at, v.score,"
            " v.level, (SELECT min(i.id) FROM evaluations i WHERE i.enterprise_id = v.enterprise_id"
            f" AND i.kind = 'initial' AND {standing.format(v='i')}) AS initial_id"
            f" FROM evaluations v WHERE v.enterprise_id = ANY(%s) AND {standing.format(v='v')}"
            " ORDER BY v.enterprise_id, v.id DESC", (list(ids),))
        return {str(r["enterprise_id"]): r for r in await cur.fetchall()}


def _history_view(rows: list[dict[str, Any]], model: CreditModel, lang: Lang) -> list[dict[str, Any]]:
    """Level history, newest first, worded."""
    return [{"at": local_minute(h["at"]), "level": h["level"], "previous": h["previous_level"],
             "level_name": _level_name(model, h["level"], lang), "score": h["score"],
             "entry_id": h["entry_id"], "entry_type": _entry_type(h["entry_type"], lang),
             "changed": h["level"] != h["previous_level"]} for h in reversed(rows)]


def _points(raw: str) -> int | None:
    """A points field: a whole number of 0 or more (blank: 0), else None."""
    text = raw.strip()
    if not text:
        return 0
    if not re.fullmatch(r"\+?\d{1,3}", text):
        return None
    return int(text)


def _read_items(cat: Catalog, form: Mapping[str, str], lang: Lang
                ) -> tuple[list[ItemInput], list[str], dict[str, str]]:
    """The items the officer filled in (points, a note or evidence), in catalog order, the
    item id of each, and the rows whose points are not a number of 0 or more."""
    s = texts(lang)
    items: list[ItemInput] = []
    ids: list[str] = []
    errors: dict[str, str] = {}
    for it in cat.ordered_items():
        found = _points(form.get(f"points.{it.id}", ""))
        note = form.get(f"note.{it.id}", "").strip()
        evidence = tuple(e.strip() for e in _EVIDENCE_SPLIT.split(form.get(f"evidence.{it.id}", "")) if e.strip())
        if found is None:
            errors[f"points.{it.id}"] = s["points_range"].format(max=it.max_points)
            continue
        if found == 0 and not note and not evidence:
            continue  # checked, nothing found
        items.append(ItemInput(it.id, -found if it.kind == "deduction" else found, note, evidence))
        ids.append(it.id)
    return items, ids, errors


def _problem_fields(problems: Sequence[Problem], ids: Sequence[str], cat: Catalog | None,
                    lang: Lang) -> tuple[dict[str, str], list[str]]:
    """Messages by form field (``points.<item>``, ``note.<item>``, ``enterprise_id``...), and
    those of no field of the form."""
    fields: dict[str, str] = {}
    elsewhere: list[str] = []
    for p in problems:
        m = _ITEM_PATH.match(p.path)
        if m is None:
            fields[p.path.removeprefix("body.")] = p.text(lang)
            continue
        index, part = int(m.group(1)), m.group(2)
        item = cat.items.get(ids[index]) if cat is not None and index < len(ids) else None
        if item is None:
            elsewhere.append(p.text(lang))
            continue
        text = texts(lang)["points_range"].format(max=item.max_points) if part == "points" else p.text(lang)
        fields[f"{part}.{item.id}"] = text
    return fields, elsewhere


def _listing(fields: Mapping[str, str], elsewhere: Sequence[str], cat: Catalog | None, lang: Lang) -> list[str]:
    """Every problem once, in the order of the form: its fields, then its rows."""
    s = texts(lang)
    sep = "：" if lang == "zh" else ": "
    out = [f"{s['f_' + name]}{sep}{fields[name]}" for name in _FIELDS if name in fields]
    for it in cat.ordered_items() if cat is not None else ():
        out += [f"{getattr(it.name, lang)}{sep}{fields[f'{part}.{it.id}']}" for part in _ITEM_PARTS
                if f"{part}.{it.id}" in fields]
    return out + list(elsewhere)


def build_evaluations_console(ctx: ApiContext, auth: Auth, guard: FormGuard) -> APIRouter:
    """The routes above, sharing the console's form token (``guard``)."""
    pages = Pages(guard)
    # No prefix: these routes join the console's router, which carries /console.
    router = APIRouter(include_in_schema=False)
    viewers = auth.require_cookie("officer", "enterprise")
    officers = auth.require_cookie("officer")
    reg = ctx.registry
    model: CreditModel = ctx.credit_model
    env = templates()

    def choices(seen: Visibility) -> list[tuple[str, str]]:
        return [(e.id, f"{e.name} ({e.id})") for e in sorted(reg.enterprises.values(), key=lambda e: e.id)
                if seen.sees(e.id)]

    def evaluation_view(row: dict[str, Any], lang: Lang, *, for_enterprise: bool) -> dict[str, Any]:
        ent = reg.enterprises.get(row["enterprise_id"])
        cat = model.catalogs.get(row["catalog"])
        return {
            "id": row["id"], "url": with_lang(f"{_BASE}/{row['id']}", lang),
            "report_url": with_lang(f"{_BASE}/{row['id']}/report", lang),
            "enterprise_id": row["enterprise_id"], "enterprise": ent.name if ent else row["enterprise_id"],
            "kind": _kind(row["kind"], lang), "kind_id": row["kind"],
            "catalog": getattr(cat.name, lang) if cat else row["catalog"],
            # the level in the active scheme, whichever was active when it was recorded
            "score": row["score"], "level": model.level_for(row["score"]),
            "level_name": _level_name(model, model.level_for(row["score"]), lang),
            "deductions": row["deductions"], "bonuses": row["bonuses"], "base": row["base"],
            "evaluated_at": local_minute(row["evaluated_at"]), "recorded_at": local_minute(row["created_at"]),
            "officer": "" if for_enterprise else (row["officer_label"] or f"#{row['officer_token'] or ''}"),
            "reversed_by": row["reversed_by"], "entry_id": row["entry_id"], "sha256": row["sha256"],
        }

    # --- the list -----------------------------------------------------------------------

    @router.get("/credit/evaluations")
    async def list_page(request: Request, principal: Annotated[Principal, Depends(viewers)],
                        enterprise_id: str | None = None, kind: str | None = None,
                        before: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None) -> Response:
        lang = lang_of(request)
        s = texts(lang)
        seen = visibility(ctx, principal)
        officer = principal.role in ("officer", "admin")
        if principal.enterprise_id is not None:
            enterprise_id = principal.enterprise_id
        enterprise_id = enterprise_id or None
        kind = kind if kind in EVALUATION_KINDS else None
        ids = [e for e, _ in choices(seen)]
        async with connect(ctx) as conn:
            rows = await evaluation.list_evaluations(
                conn, limit=PAGE_SIZE, enterprise_id=enterprise_id, kind=kind, before_id=before,
                enterprise_ids=seen.enterprises)
            history = None
            if enterprise_id is not None and seen.sees(enterprise_id):
                history = _history_view(await evaluation.level_history(conn, model, enterprise_id), model, lang)
            scores = await fetch_scores(conn) if officer else {}
            evaluated = await _evaluated(conn, ids) if officer else {}
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        overview = []
        for eid in ids if officer else ():
            ent = reg.enterprises[eid]
            score = scores.get(eid, (FULL_SCORE, ""))[0]
            level = model.level_for(score)
            latest = evaluated.get(eid)
            initial_id = latest["initial_id"] if latest else None
            overview.append({
                "id": eid, "name": ent.name, "region": ent.region, "score": score, "level": level,
                "level_name": _level_name(model, level, lang),
                "initial_url": with_lang(f"{_BASE}/{initial_id}", lang) if initial_id else None,
                "initial_id": initial_id,
                "latest": None if latest is None else {
                    "id": latest["id"], "url": with_lang(f"{_BASE}/{latest['id']}", lang),
                    "kind": _kind(latest["kind"], lang), "at": local_minute(latest["evaluated_at"])},
                "evaluate_url": url_for(f"{_BASE}/new", lang, enterprise_id=eid,
                                        kind="periodic" if initial_id else "initial"),
                "history_url": url_for(_BASE, lang, enterprise_id=eid),
            })
        chosen = reg.enterprises.get(enterprise_id or "")
        return pages.render(
            request, principal, "evaluations.html", path=_BASE,
            query={"enterprise_id": enterprise_id if officer else None, "kind": kind, "before": before},
            officer=officer, overview=overview, enterprises=choices(seen) if officer else [],
            kinds=[(k, _kind(k, lang)) for k in EVALUATION_KINDS],
            selected={"enterprise_id": enterprise_id or "", "kind": kind or ""},
            items=[evaluation_view(r, lang, for_enterprise=not officer) for r in rows],
            older=url_for(_BASE, lang, enterprise_id=enterprise_id if officer else None, kind=kind,
                          before=rows[-1]["id"]) if more else None,
            history=history, history_of=(chosen.name if chosen else enterprise_id),
            new_url=with_lang(f"{_BASE}/new", lang), scheme_name=getattr(model.scheme.name, lang),
            levels_note=s["levels_note"])

    # --- the form -----------------------------------------------------------------------

    async def form_response(request: Request, principal: Principal, *, enterprise_id: str, catalog_id: str,
                            kind: str, refused: Refused = NOTHING_REFUSED,
                            problems: Sequence[str] = ()) -> HTMLResponse:
        lang = lang_of(request)
        seen = visibility(ctx, principal)
        cat = model.catalogs.get(catalog_id) or next(iter(model.catalogs.values()))
        if kind not in EVALUATION_KINDS:
            kind = "periodic"
            if enterprise_id and seen.sees(enterprise_id):
                async with connect(ctx) as conn:
                    if await evaluation.initial_evaluation(conn, enterprise_id) is None:
                        kind = "initial"
            elif not enterprise_id:
                kind = "initial"
        categories = []
        for c in cat.categories:
            rows = []
            for item_id in c.items:
                it = cat.items[item_id]
                rows.append({
                    "id": it.id, "name": getattr(it.name, lang), "kind": it.kind,
                    "kind_name": texts(lang)[f"kind_{it.kind}"], "max": it.max_points,
                    "evidence_expected": ("；".join(e.zh for e in it.evidence) if lang == "zh"
                                          else "; ".join(e.en for e in it.evidence)),
                    "placeholder": it.source == "placeholder",
                    "points": refused.value("evaluation", f"points.{it.id}"),
                    "note": refused.value("evaluation", f"note.{it.id}"),
                    "evidence": refused.value("evaluation", f"evidence.{it.id}"),
                    "error": refused.field_error(f"points.{it.id}") or refused.field_error(f"evidence.{it.id}")
                    or refused.field_error(f"note.{it.id}") or refused.field_error(f"item.{it.id}"),
                })
            categories.append({"id": c.id, "name": getattr(c.name, lang), "items": rows})
        return pages.render(
            request, principal, "evaluation_form.html", status=refused.status,
            path=f"{_BASE}/new", query={"enterprise_id": enterprise_id or None, "catalog": cat.id, "kind": kind},
            catalogs=[(c.id, getattr(c.name, lang)) for c in model.catalogs.values()],
            catalog={"id": cat.id, "name": getattr(cat.name, lang), "base": cat.base,
                     "require_evidence": cat.require_evidence, "items": len(cat.items),
                     "scheme": getattr(model.schemes[cat.scheme].name, lang) if cat.scheme in model.schemes
                     else cat.scheme},
            categories=categories, enterprises=choices(seen),
            kinds=[(k, _kind(k, lang)) for k in cat.kinds],
            selected={"enterprise_id": enterprise_id, "kind": kind,
                      "evaluated_at": refused.value("evaluation", "evaluated_at")},
            refused=refused, problems=problems,
            existing_url=(with_lang(f"{_BASE}/{refused.kept['existing']}", lang)
                          if refused.kept.get("existing") else None),
            action=with_lang(f"{_BASE}/new", lang), list_url=with_lang(_BASE, lang))

    @router.get("/credit/evaluations/new")
    async def form_page(request: Request, principal: Annotated[Principal, Depends(officers)],
                        enterprise_id: str = "", catalog: str = "", kind: str = "") -> Response:
        return await form_response(request, principal, enterprise_id=enterprise_id.strip(),
                                   catalog_id=catalog, kind=kind)

    @router.post("/credit/evaluations/new")
    async def record_form(request: Request, principal: Annotated[Principal, Depends(officers)]) -> Response:
        lang = lang_of(request)
        form = await read_console_form(request, pages.guard, MAX_FORM_BYTES)
        enterprise_id = form.get("enterprise_id", "").strip()
        catalog_id = form.get("catalog", "").strip()
        kind = form.get("kind", "").strip()
        cat = model.catalogs.get(catalog_id)
        items, ids, fields = _read_items(cat, form, lang) if cat is not None else ([], [], {})
        at = None
        when = form.get("evaluated_at", "").strip()
        if when:
            try:
                parsed = datetime.fromisoformat(when)
                at = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CST)
            except ValueError:
                fields["evaluated_at"] = texts(lang)["bad_time"]
        kept = {k: v for k, v in form.items() if k != "csrf"}
        # Every problem at once: the values the form could not read, and what the domain refuses.
        _, problems = evaluation.check_evaluation(model, catalog_id, kind, items)
        if not (enterprise_id in reg.enterprises and visibility(ctx, principal).sees(enterprise_id)):
            problems.insert(0, Problem("body.enterprise_id", "unknown_enterprise", {"enterprise": enterprise_id}))
        found, elsewhere = _problem_fields(problems, ids, cat, lang)
        fields = {**found, **fields}
        if fields or elsewhere:
            listed = _listing(fields, elsewhere, cat, lang)
            refused = Refused("evaluation", 422, texts(lang)["refused_n"].format(n=len(listed)), fields, kept)
            return await form_response(request, principal, enterprise_id=enterprise_id, catalog_id=catalog_id,
                                       kind=kind, refused=refused, problems=listed)
        try:
            async with connect(ctx) as conn:
                # The officer's token label (name and unit) goes on the evaluation and its report.
                actor = await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)
                row = await evaluation.record_evaluation(
                    conn, model, enterprise_id=enterprise_id, kind=kind, catalog_id=catalog_id, items=items,
                    actor=actor_info(actor), evaluated_at=at)
        except InvalidEvaluation as exc:
            fields, elsewhere = _problem_fields(exc.problems, ids, cat, lang)
            listed = _listing(fields, elsewhere, cat, lang)
            refused = Refused("evaluation", 422, texts(lang)["refused_n"].format(n=len(listed)), fields, kept)
            return await form_response(request, principal, enterprise_id=enterprise_id, catalog_id=catalog_id,
                                       kind=kind, refused=refused, problems=listed)
        except EvaluationRefused as exc:
            worded = Refused.of(exc, lang, "evaluation", kept)
            assert worded is not None
            existing = exc.extra.get("evaluation_id")
            refused = Refused("evaluation", worded.status, worded.message, {},
                              {**kept, "existing": str(existing) if existing else ""})
            return await form_response(request, principal, enterprise_id=enterprise_id, catalog_id=catalog_id,
                                       kind=kind, refused=refused)
        return RedirectResponse(url_for(f"{_BASE}/{row['id']}", lang, saved=1), status_code=303)

    # --- one evaluation -----------------------------------------------------------------

    async def load(conn: psycopg.AsyncConnection[Any], principal: Principal, evaluation_id: int) -> dict[str, Any]:
        row = await evaluation.fetch_evaluation(conn, evaluation_id)
        if row is None or not visibility(ctx, principal).sees(row["enterprise_id"]):
            raise EvaluationNotFound(evaluation_id)
        return row

    @router.get("/credit/evaluations/{evaluation_id}")
    async def evaluation_page(request: Request, principal: Annotated[Principal, Depends(viewers)],
                              evaluation_id: EvaluationId, saved: bool = False) -> Response:
        lang = lang_of(request)
        officer = principal.role in ("officer", "admin")
        async with connect(ctx) as conn:
            row = await load(conn, principal, evaluation_id)
            history = _history_view(await evaluation.level_history(conn, model, row["enterprise_id"]), model, lang)
            score, _, _ = await enterprise_standing(conn, row["enterprise_id"])
        groups: list[dict[str, Any]] = []
        for item in row["items"]:
            if not groups or groups[-1]["id"] != item["category"]:
                groups.append({"id": item["category"], "name": item["category_name"][lang], "items": []})
            groups[-1]["items"].append({
                "name": item["name"][lang], "kind": texts(lang)[f"kind_{item['kind']}"], "kind_id": item["kind"],
                "max": item["max_points"], "points": item["points"], "note": item["note"],
                "evidence": item["evidence"]})
        level_now = model.level_for(score)
        return pages.render(
            request, principal, "evaluation.html", path=f"{_BASE}/{evaluation_id}", saved=saved,
            e=evaluation_view(row, lang, for_enterprise=not officer), groups=groups, history=history,
            now={"score": score, "level": level_now, "level_name": _level_name(model, level_now, lang)},
            list_url=url_for(_BASE, lang, enterprise_id=row["enterprise_id"] if officer else None),
            periodic_url=url_for(f"{_BASE}/new", lang, enterprise_id=row["enterprise_id"], kind="periodic",
                                 catalog=row["catalog"]) if officer else None)

    @router.get("/credit/evaluations/{evaluation_id}/report")
    async def report_page(request: Request, principal: Annotated[Principal, Depends(viewers)],
                          evaluation_id: EvaluationId) -> Response:
        """The printable report in the page's language (the API's ``.html`` has both)."""
        async with connect(ctx) as conn:
            row = await load(conn, principal, evaluation_id)
            score, _, _ = await enterprise_standing(conn, row["enterprise_id"])
        html = render_evaluation_report(env, row, model, reg.enterprises.get(row["enterprise_id"]),
                                        (score, model.level_for(score)), lang=lang_of(request))
        return HTMLResponse(html, headers=PAGE_HEADERS)

    return router
