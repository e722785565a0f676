"""Errors of the credit package.

    CreditError
     ├── CreditConfigError   the deduction table file is invalid (names file and key)
     ├── EntryNotFound       no such ledger entry, evidence package or alert
     └── NotEligible         the entry cannot be repaired or reversed (yet), with the reason

The HTTP layer maps them once (``api/errors.py``): 404 and 409.
"""

from __future__ import annotations

__all__ = ["CreditConfigError", "CreditError", "EntryNotFound", "NotEligible"]


class CreditError(Exception):
    """Base class of credit errors."""


class CreditConfigError(CreditError, ValueError):
    """The credit configuration is invalid; the message names the file and the key."""


class EntryNotFound(CreditError, LookupError):
    """The ledger entry, evidence package or alert does not exist."""


class NotEligible(CreditError):
    """The requested repair or reversal is not allowed (now); the message says why."""
