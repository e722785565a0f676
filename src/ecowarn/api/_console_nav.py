"""The console's header: which links a session's role gets, and the officers' search box.

One list per role, built here and nowhere else (the base template only draws it): officers
(and admin) start at the jurisdiction overview and get the working pages, the map and the
search box; an enterprise session gets its own alerts, rectification ledger, credit page,
evaluations and the positive list.
"""

from __future__ import annotations

from ecowarn.api._console_lang import with_lang
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.i18n import CREDIT_TEXTS, TEXTS, WORKFLOW_TEXTS, Lang, catalog
from ecowarn.store.tokens import Principal

__all__ = ["NavLinks", "nav_links"]


class NavLinks(list[tuple[str, str]]):
    """(url, text) of each header link; ``search`` is the search page's address when the
    session may search (officers), else empty, and ``search_label``/``search_hint`` word it."""

    search: str = ""
    search_label: str = ""
    search_hint: str = ""


def nav_links(principal: Principal, lang: Lang) -> NavLinks:
    """The header links of ``principal``'s console, in ``lang``."""
    w = WORKFLOW_TEXTS[lang]
    t = TEXTS[lang]
    b = catalog(lang, "BUREAU")
    r = catalog(lang, "RECTIFICATION")

    def link(path: str, text: str) -> tuple[str, str]:
        return with_lang(f"{CONSOLE_PREFIX}{path}", lang), text

    links = NavLinks()
    officer = principal.role in ("officer", "admin")
    if officer:
        links.append(link("/overview", b["nav_overview"]))
    links.append(link("", w["alerts"]))
    if officer:
        links.append(link("/queue", w["queue"]))
    links.append(link("/rectifications", r["c_own_ledger"] if principal.role == "enterprise" else r["c_ledger"]))
    links.append(link("/enterprises", CREDIT_TEXTS[lang]["enterprises"]))
    if officer:
        links.append(link("/map", b["nav_map"]))
    links.append(link("/credit/evaluations", t["nav_evaluations"]))
    links.append(link("/positive-list", t["nav_positive_list"]))
    if officer:
        links.extend([link("/supervision", t["nav_supervision"]), link("/stats", t["nav_stats"]),
                      link("/credit/repair-applications", t["nav_repair"]),
                      link("/notifications", t["nav_notifications"])])
        links.search = f"{CONSOLE_PREFIX}/search"
        links.search_label = b["search"]
        links.search_hint = b["search_placeholder"]
    return links
