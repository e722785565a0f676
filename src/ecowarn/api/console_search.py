"""Search from the console's header (``GET /console/search?q=``, officers).

Finds registered enterprises by name or unified social credit code and devices by id,
HJ 212 MN or equipment name: case-insensitive substrings, over the registry in memory (a
province's registry is thousands of entries: a scan costs well under a millisecond per
thousand). Only what the session may see is searched (:func:`api.auth.visibility`): a
county officer does not find another county's firm or its devices, and air stations are
found by officers without a region only. At most :data:`MAX_RESULTS` results, enterprises
first.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from ecowarn.api._console_lang import lang_of, url_for, with_lang
from ecowarn.api._console_nav import nav_links
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api.auth import Auth, Visibility, visibility
from ecowarn.api.context import ApiContext
from ecowarn.config.registry import Registry
from ecowarn.i18n import Lang, catalog
from ecowarn.store.tokens import Principal

__all__ = ["MAX_RESULTS", "MIN_QUERY", "build_search_console", "search_registry"]

Renderer = Callable[..., HTMLResponse]
MAX_RESULTS: Final = 50
MIN_QUERY: Final = 2
MAX_QUERY: Final = 100


def search_registry(registry: Registry, seen: Visibility, q: str, lang: Lang) -> list[dict[str, Any]]:
    """Enterprises, then devices, matching ``q`` within ``seen``; one row each, naming what
    matched. At most ``MAX_RESULTS + 1`` rows (the caller says when there were more)."""
    b = catalog(lang, "BUREAU")
    needle = q.strip().casefold()
    out: list[dict[str, Any]] = []
    for e in sorted(registry.enterprises.values(), key=lambda e: e.name):
        if not seen.sees(e.id):
            continue
        matched = [b[k] for k, v in (("match_name", e.name), ("match_credit_code", e.id)) if needle in v.casefold()]
        if matched:
            out.append({"kind": b["found_enterprise"], "name": e.name, "id": e.id, "region": e.region,
                        "enterprise": "", "matched": matched,
                        "url": with_lang(f"{CONSOLE_PREFIX}/enterprises/{e.id}/file", lang)})
    for d in sorted(registry.devices.values(), key=lambda d: d.id):
        if len(out) > MAX_RESULTS:
            break
        if not seen.sees_device(registry, d.id):
            continue
        fields = (("match_device_id", d.id), ("match_mn", d.hj212_mn or ""), ("match_equipment", d.equipment))
        matched = [b[k] for k, v in fields if v and needle in v.casefold()]
        if not matched:
            continue
        owner = registry.enterprises.get(d.enterprise_id or "")
        out.append({"kind": b["found_device"], "name": d.equipment or d.outlet or d.id, "id": d.id,
                    "region": owner.region if owner else "", "enterprise": owner.name if owner else "",
                    "matched": matched,
                    "url": (with_lang(f"{CONSOLE_PREFIX}/enterprises/{owner.id}/file", lang) if owner
                            else url_for(CONSOLE_PREFIX, lang, device_id=d.id))})
    return out[:MAX_RESULTS + 1]


def build_search_console(ctx: ApiContext, auth: Auth, render: Renderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    officers = auth.require_cookie("officer")

    @router.get("/search")
    async def search(request: Request, principal: Annotated[Principal, Depends(officers)],
                     q: str = "") -> Response:
        lang = lang_of(request)
        b = catalog(lang, "BUREAU")
        q = q.strip()[:MAX_QUERY]
        results: list[dict[str, Any]] = []
        message = b["search_hint"]
        if len(q) >= MIN_QUERY:
            results = search_registry(ctx.registry, visibility(ctx, principal), q, lang)
            message = (b["search_results"].format(q=q, n=min(len(results), MAX_RESULTS)) if results
                       else b["search_none"].format(q=q))
        elif q:
            message = b["search_short"]
        return render(request, "search.html", b=b, q=q, search_q=q, message=message,
                      results=results[:MAX_RESULTS],
                      more=b["search_more"].format(n=MAX_RESULTS) if len(results) > MAX_RESULTS else "",
                      nav=nav_links(principal, lang), logout=with_lang(f"{CONSOLE_PREFIX}/logout", lang))

    return router
