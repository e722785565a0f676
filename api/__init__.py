"""HTTP layer: JSON API under ``/api/v1``, health and metrics, the web console."""

from api.app import create_app
from api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
