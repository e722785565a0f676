"""Environmental credit: evidence packages, the append-only credit ledger, its hash chain.

- :mod:`credit.hooks`: :func:`on_alert_confirmed` (called when an officer confirms an
  alert) and :class:`CreditService`;
- :mod:`credit.evidence`: freezing an evidence package (canonical JSON + SHA-256);
- :mod:`credit.ledger`: deductions, repairs, reversals; scores and levels;
- :mod:`credit.chain`: the one hash chain over evidence and ledger entries;
- :mod:`credit.feed`: the event feed for the credit evaluation system;
- :mod:`credit.verify`: ``ecowarn verify``.
"""

from ecowarn.credit.errors import CreditConfigError, CreditError, EntryNotFound, NotEligible
from ecowarn.credit.hooks import CreditMetrics, CreditService, install, on_alert_confirmed
from ecowarn.credit.ledger import level_for
from ecowarn.credit.params import CreditParams, load_credit_params
from ecowarn.credit.verify import VerifyResult, verify_chain

__all__ = [
    "CreditConfigError",
    "CreditError",
    "CreditMetrics",
    "CreditParams",
    "CreditService",
    "EntryNotFound",
    "NotEligible",
    "VerifyResult",
    "install",
    "level_for",
    "load_credit_params",
    "on_alert_confirmed",
    "verify_chain",
]
