"""Off-site handling first (非现场优先): remote verification (远程核查) of an alert.

An enterprise on a positive list (正面清单) is supervised off-site first: an alert of it is
checked remotely before anyone is sent. Whether the enterprise was listed is read from the
``positive_list`` table (an entry valid on the alert's start day in China Standard Time,
and not removed before the alert started), in the same query as the alert's state
(:mod:`alerts.lifecycle`): the alerts floor reads the table, it does not import the credit
package that keeps it.

An officer records a verification: how it was done (``method``: a video call with the
enterprise, a review of its monitoring data, documents it sent, or another way), the
``result`` (``confirmed``: the problem is there; ``not_confirmed``; ``inconclusive``) and a
note (:mod:`alerts.remote_verification`). Verifications are append-only (a later one is a
new row) and each appends an internal ``remote_verification`` event to the alert's trail.

:func:`assess` is the one decision, pure: until a verification is recorded, ``dispatch``
(the step that warns the enterprise and starts the on-site enforcement track) of a listed
firm's alert is refused (:class:`~alerts.errors.RemoteVerificationRequired`, reason
``remote_verification_required``). Any recorded result lifts it: after ``confirmed`` or
``inconclusive`` the alert is dispatched; after ``not_confirmed`` the usual next step is to
dismiss it (always possible before confirmation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

__all__ = ["ACTIONS_GATED", "LISTS_SQL", "METHODS", "RESULTS", "RESULTS_SQL", "OffSite", "VerificationMethod",
           "VerificationResult", "assess"]

VerificationMethod = Literal["video_call", "data_review", "documents", "other"]
VerificationResult = Literal["confirmed", "not_confirmed", "inconclusive"]
METHODS: Final[tuple[str, ...]] = get_args(VerificationMethod)
RESULTS: Final[tuple[str, ...]] = get_args(VerificationResult)
# Actions that start the on-site track and wait for a remote verification of a listed firm.
ACTIONS_GATED: Final = frozenset({"dispatch"})

# The positive lists the alert's enterprise was on when the alert started (its day, UTC+8).
LISTS_SQL: Final = (
    "ARRAY(SELECT DISTINCT p.list FROM positive_list p WHERE p.enterprise_id = alerts.enterprise_id"
    " AND p.start_date <= ((alerts.start_ts AT TIME ZONE 'UTC') + interval '8 hours')::date"
    " AND (p.end_date IS NULL OR ((alerts.start_ts AT TIME ZONE 'UTC') + interval '8 hours')::date <= p.end_date)"
    " AND (p.deleted_at IS NULL OR p.deleted_at > alerts.start_ts) ORDER BY 1)")
# The results of its remote verifications, oldest first.
RESULTS_SQL: Final = ("ARRAY(SELECT v.result FROM alert_remote_verifications v WHERE v.alert_id = alerts.id"
                      " ORDER BY v.id)")


@dataclass(frozen=True, slots=True)
class OffSite:
    """Off-site handling of one alert: the positive lists its enterprise was on when it
    started (empty: not listed) and the results of its remote verifications, oldest first."""

    lists: tuple[str, ...]
    results: tuple[str, ...]

    @property
    def listed(self) -> bool:
        return bool(self.lists)

    @property
    def latest(self) -> str | None:
        return self.results[-1] if self.results else None

    @property
    def required(self) -> bool:
        """A remote verification is still needed before the on-site track."""
        return self.listed and not self.results

    def blocks(self, action: str) -> bool:
        return action in ACTIONS_GATED and self.required

    @property
    def reason(self) -> str:
        """``remote_verification_required`` | ``remote_verification_recorded`` | ``not_listed``."""
        if not self.listed:
            return "not_listed"
        return "remote_verification_required" if self.required else "remote_verification_recorded"

    def as_json(self) -> dict[str, Any]:
        return {"handling": "off_site_first" if self.listed else "standard", "positive_list": list(self.lists),
                "required": self.required, "reason": self.reason, "verifications": len(self.results),
                "latest_result": self.latest,
                "blocked_actions": sorted(ACTIONS_GATED) if self.required else []}


def assess(lists: Sequence[str], results: Sequence[str]) -> OffSite:
    """Off-site handling of an alert whose enterprise was on ``lists`` when it started and
    whose remote verifications gave ``results`` (oldest first)."""
    return OffSite(tuple(lists), tuple(results))
