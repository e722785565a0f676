"""URL prefixes of the HTTP layer."""

from __future__ import annotations

__all__ = ["API_PREFIX", "CONSOLE_LOGIN", "CONSOLE_PREFIX"]

API_PREFIX = "/api/v1"
CONSOLE_PREFIX = "/console"
CONSOLE_LOGIN = "/console/login"
