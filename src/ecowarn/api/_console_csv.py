"""CSV downloads of the console's lists: what a spreadsheet opens as the page showed it.

UTF-8 with a byte order mark (Excel reads UTF-8 without one as the local code page and turns
Chinese into mojibake), RFC 4180 quoting, CRLF line ends, headers in the page's language
(``BUREAU`` catalog ``col_*`` keys) and values as the page shows them (names, local times,
worded statuses), with the ids next to them for machines. At most :data:`CSV_MAX_ROWS` rows.
Text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return: an officer's reason or a registry name typed that way) is kept as
text with a leading apostrophe (OWASP's advice against CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from starlette.responses import Response

from ecowarn.api._time import CST
from ecowarn.i18n import Lang, catalog

__all__ = ["CSV_BOM", "CSV_MAX_ROWS", "csv_response", "csv_text", "yes_no"]

CSV_BOM: Final = "\ufeff"
CSV_MAX_ROWS: Final = 10_000


_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def yes_no(value: bool, lang: Lang) -> str:
    return catalog(lang, "BUREAU")["yes" if value else "no"]


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]], lang: Lang) -> str:
    """The CSV of ``rows`` under the headers of ``columns`` (``col_*`` keys) in ``lang``."""
    b = catalog(lang, "BUREAU")
    buf = io.StringIO()
    buf.write(CSV_BOM)
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([b[c] for c in columns])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def csv_response(columns: Sequence[str], rows: Iterable[Sequence[Any]], lang: Lang, name: str) -> Response:
    """A download named ``<name>-<local time>.csv``."""
    stamp = datetime.now(UTC).astimezone(CST).strftime("%Y%m%d-%H%M")
    return Response(csv_text(columns, rows, lang).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
