"""Database layer: migrations, the readings writer, queries."""

from ecowarn.store._errors import StoreError, StoreUnavailable
from ecowarn.store._migrate import StorageMode, detect_mode, list_migrations, migrate

__all__ = [
    "StorageMode",
    "StoreError",
    "StoreUnavailable",
    "detect_mode",
    "list_migrations",
    "migrate",
]
