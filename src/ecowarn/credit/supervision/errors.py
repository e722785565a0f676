"""Errors of the supervision package.

    SupervisionError (a CreditError)
     ├── SupervisionConfigError   the supervision file is invalid (``file:line: key: problem``)
     ├── PeriodError              a period that is not a month, quarter or year (ValueError)
     ├── SupervisionInputError    a request value refused, naming its field   -> 422
     └── SupervisionNotFound      no such positive-list entry, draw or region
                                  (or one the actor may not see)              -> 404

The last two are also kinds of the alert workflow's ``InvalidWorkflowInput`` and
``AlertNotFound``, which the HTTP layer maps in one place (``api/errors.py``); each carries
its message in Chinese (``detail_zh``).
"""

from __future__ import annotations

from typing import Any

from ecowarn.alerts.errors import AlertNotFound, InvalidWorkflowInput, WorkflowError
from ecowarn.credit.errors import CreditError
from ecowarn.i18n import catalog

__all__ = ["PeriodError", "SupervisionConfigError", "SupervisionError", "SupervisionInputError",
           "SupervisionNotFound"]


class SupervisionError(CreditError):
    """Base of the supervision package's errors (a kind of credit error)."""


class SupervisionConfigError(SupervisionError, ValueError):
    """The supervision file is invalid; ``problems`` holds one ``file:line: key: problem``
    line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid supervision configuration {source}:\n  " + "\n  ".join(problems))


class PeriodError(SupervisionError, ValueError):
    """``value`` is not a period: a month (``2026-12``), a quarter (``2026-Q4``) or a year
    (``2026``)."""

    def __init__(self, value: str) -> None:
        super().__init__(catalog("en", "SUPERVISION")["period"].format(value=value))
        self.value = value


class SupervisionInputError(SupervisionError, InvalidWorkflowInput):
    """A request value that cannot be taken (422); ``field`` is its path, e.g. ``body.end``."""

    def __init__(self, field: str, key: str, **values: Any) -> None:
        InvalidWorkflowInput.__init__(self, field, catalog("en", "SUPERVISION")[key].format(**values))
        self.detail_zh = f"{field}：{catalog('zh', 'SUPERVISION')[key].format(**values)}"


class SupervisionNotFound(SupervisionError, AlertNotFound):
    """No positive-list entry, draw or region of this id, or one outside what the actor may
    see (not disclosed: the same answer). A kind of ``AlertNotFound`` so that it is a 404
    like one; ``alert_id`` is 0."""

    def __init__(self, key: str, **values: Any) -> None:
        WorkflowError.__init__(self, catalog("en", "SUPERVISION")[key].format(**values))
        self.alert_id = 0
        self.detail_zh = catalog("zh", "SUPERVISION")[key].format(**values)
