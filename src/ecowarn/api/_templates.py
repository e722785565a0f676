"""The one jinja2 environment of the HTTP layer: console pages and printable evidence."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

__all__ = ["templates"]


@cache
def templates() -> Environment:
    """HTML templates shipped in ``ecowarn/api/templates``, autoescaped; built once, shared."""
    return Environment(loader=PackageLoader("ecowarn.api", "templates"),
                       autoescape=select_autoescape(["html"]))
