"""Errors of the store package.

    StoreError
     └── StoreUnavailable   the database cannot be reached (retry later)
"""

from __future__ import annotations

__all__ = ["StoreError", "StoreUnavailable"]


class StoreError(Exception):
    """Base class of store errors."""


class StoreUnavailable(StoreError):
    """The database cannot be reached; the caller may retry."""
