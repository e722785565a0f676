"""Database layer: migrations, the readings writer, queries."""

from store._errors import StoreError, StoreUnavailable
from store._migrate import StorageMode, detect_mode, list_migrations, migrate

__all__ = [
    "StorageMode",
    "StoreError",
    "StoreUnavailable",
    "detect_mode",
    "list_migrations",
    "migrate",
]
