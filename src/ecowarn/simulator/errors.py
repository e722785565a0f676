"""Exceptions of the simulator.

::

    SimulatorError                  base of everything the simulator raises on purpose
     ├── InjectionError (ValueError)  an injection or injection spec is invalid for the registry
     └── PublishError                the broker refused, timed out or dropped the connection
          └── ClientQueueFull          the client has too many unacknowledged messages; retry
"""

from __future__ import annotations

__all__ = ["ClientQueueFull", "InjectionError", "PublishError", "SimulatorError"]


class SimulatorError(Exception):
    """Base of the simulator's exceptions."""


class InjectionError(SimulatorError, ValueError):
    """An injection (or its compact spec) does not fit the registry or the simulated span."""


class PublishError(SimulatorError):
    """Publishing to the MQTT broker failed; readings may not have been delivered."""


class ClientQueueFull(PublishError):
    """The MQTT client refused a message because too many are unacknowledged (paho's
    ``MQTT_ERR_QUEUE_SIZE``, at most 65,535 in flight); the message was not sent."""
