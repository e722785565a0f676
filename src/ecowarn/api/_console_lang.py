"""The console's language and local times: one copy for every console page.

The language is ``zh`` unless the query says ``lang=en``; links keep it. Times are shown in
China Standard Time, to the minute.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from ecowarn.api._time import CST
from ecowarn.i18n import Lang

__all__ = ["lang_of", "local_minute", "url_for", "with_lang"]


def lang_of(request: Request) -> Lang:
    return "en" if request.query_params.get("lang") == "en" else "zh"


def with_lang(path: str, lang: Lang) -> str:
    return f"{path}?lang=en" if lang == "en" else path


def url_for(path: str, lang: Lang, **params: Any) -> str:
    """``path`` with the non-None ``params`` and the language in its query."""
    query = {k: v for k, v in params.items() if v is not None}
    if lang == "en":
        query["lang"] = "en"
    return f"{path}?{urlencode(query)}" if query else path


def local_minute(ts: datetime | None) -> str:
    return "" if ts is None else ts.astimezone(CST).strftime("%Y-%m-%d %H:%M")
