"""What the console pages of evaluations, positive lists and supervision share.

:class:`Pages` renders a page of them: the base layout's texts (``t``), this area's texts
(``s``: the ``SUPERVISION_CONSOLE`` catalog), the header links, the session's form token
and the link to the same page in the other language. That link names a page that answers
``GET`` (``path``), so a page rendered again after a refused form post links to the page
the form is on, not to the post's address.

:class:`Refused` is a form post the domain refused (409, 422, or the 404 of a region
outside the officer's jurisdiction): the page is rendered again with the reason next to
the form, in the page's language, the values as typed kept, and the refusal's status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import Request
from starlette.responses import HTMLResponse

from ecowarn.alerts.errors import InvalidWorkflowInput
from ecowarn.api._console_forms import FORM_FIELD, FormGuard
from ecowarn.api._console_lang import lang_of, url_for, with_lang
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api._templates import templates
from ecowarn.api.console_workflow import nav_links
from ecowarn.api.errors import PayloadTooLarge
from ecowarn.credit.errors import NotEligible
from ecowarn.credit.supervision.errors import SupervisionNotFound
from ecowarn.i18n import TEXTS, Lang, catalog
from ecowarn.store.tokens import Principal

__all__ = ["NOTHING_REFUSED", "SECURITY_HEADERS", "ConsoleInputError", "Pages", "Refused", "read_console_form",
           "region_choices", "texts"]

# Pages load nothing from anywhere: inline styles only (as every console page).
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def texts(lang: Lang) -> dict[str, str]:
    """The pages' own texts in ``lang``."""
    return catalog(lang, "SUPERVISION_CONSOLE")


def region_choices(codes: list[str], within: str | None) -> list[str]:
    """The division codes a filter offers: the visible enterprises' codes and their city (4
    digits) and province (2) prefixes, inside the jurisdiction ``within``."""
    out = {c[:n] for c in codes for n in (2, 4, 6) if len(c) >= n}
    return sorted(c for c in out if within is None or c.startswith(within))


class ConsoleInputError(InvalidWorkflowInput):
    """A form value the page reads itself and cannot take (422), e.g. a day that is not a
    day; worded in both languages by this area's catalog (``key``)."""

    def __init__(self, field: str, key: str, **values: Any) -> None:
        super().__init__(f"form.{field}", texts("en")[key].format(**values))
        self.detail_zh = texts("zh")[key].format(**values)


@dataclass(frozen=True, slots=True)
class Refused:
    """A refused form post: which form (``add``, ``remove:12``, ``draw``, ``evaluation``), the
    status the page is served with, the message, messages by field (``points.eia_approval``,
    ``enterprise_id``...) and the fields as typed."""

    form: str
    status: int
    message: str
    fields: Mapping[str, str] = field(default_factory=dict)
    kept: Mapping[str, str] = field(default_factory=dict)

    def value(self, form: str, name: str, default: str = "") -> str:
        """What was typed into ``name`` when ``form`` is the refused one, else ``default``."""
        return self.kept.get(name, default) if form == self.form else default

    def field_error(self, name: str) -> str:
        return self.fields.get(name, "")

    @classmethod
    def of(cls, exc: Exception, lang: Lang, form: str, kept: Mapping[str, str], *,
           region_not_found: bool = False) -> Refused | None:
        """The refusal ``exc`` words for ``form``, or None when the console's error page
        should answer (anything but the domain's 409 and 422). ``region_not_found``: a
        :class:`SupervisionNotFound` is the form's region outside the jurisdiction (404)."""
        if isinstance(exc, InvalidWorkflowInput):
            status, name = 422, exc.field.rsplit(".", 1)[-1]
        elif isinstance(exc, NotEligible):
            status, name = 409, ""
        elif isinstance(exc, SupervisionNotFound) and region_not_found:
            status, name = 404, "region"
        else:
            return None
        message = _worded(exc, lang)
        return cls(form, status, message, {name: message} if name else {},
                   {k: v for k, v in kept.items() if k != FORM_FIELD})


NOTHING_REFUSED: Final = Refused(form="", status=200, message="")


def _worded(exc: Exception, lang: Lang) -> str:
    """The domain's reason in ``lang``: its Chinese (without the field path it starts with)
    or its English, first letter capitalised."""
    if lang == "zh":
        chinese = getattr(exc, "detail_zh", None)
        if isinstance(chinese, str):
            path = getattr(exc, "field", "")
            return chinese.removeprefix(f"{path}：") if path else chinese
    english = exc.message if isinstance(exc, InvalidWorkflowInput) else str(exc)
    return english[:1].upper() + english[1:]


async def read_console_form(request: Request, guard: FormGuard, max_bytes: int) -> dict[str, str]:
    """The url-encoded body of a console form (last value of each field wins), its form token
    checked (403 without the session's); 413 past ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"form larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"form larger than {max_bytes} bytes")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    form = {k: v[-1] for k, v in parsed.items()}
    guard.check(request, form)
    return form


class Pages:
    """Renders the pages of this area with the console's form token."""

    def __init__(self, guard: FormGuard) -> None:
        self.guard = guard
        self._env = templates()

    def render(self, request: Request, principal: Principal, name: str, *, path: str,
               query: Mapping[str, Any] | None = None, status: int = 200, **kw: Any) -> HTMLResponse:
        """``name`` rendered for ``principal``; ``path`` and ``query`` give the page that the
        link to the other language opens."""
        lang = lang_of(request)
        other: Lang = "zh" if lang == "en" else "en"
        html = self._env.get_template(name).render(
            t=TEXTS[lang], s=texts(lang), lang=lang, switch_url=url_for(path, other, **(query or {})),
            nav=nav_links(principal, lang), logout=with_lang(f"{CONSOLE_PREFIX}/logout", lang),
            csrf_field=FORM_FIELD, csrf=self.guard.token_for(request), **kw)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
