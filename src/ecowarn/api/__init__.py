"""HTTP layer: JSON API under ``/api/v1``, health and metrics, the web console."""

from ecowarn.api.app import create_app
from ecowarn.api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
