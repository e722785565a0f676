"""A Mosquitto of the tests' own: a free loopback port, persistence in a directory, stop and restart.

One class for every broker the tests start: the session's shared broker and
``private_mosquitto`` (``tests/conftest.py``, :data:`TEST_SETTINGS`: queue limits sized
for bursts, a one-second autosave) and the fault rigs' broker
(``tests/fix_stress.py``, :func:`shipped_settings`: the deploy file's queue limits,
in-flight window, persistence and logging). The broker always logs to
``mosquitto.log`` in its directory, and always runs as the current user: started as
root, Mosquitto switches to the ``mosquitto`` user and then cannot write its
persistence file into a temporary directory, silently losing every session on
restart.
"""

from __future__ import annotations

import getpass
import re
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = ["SHIPPED_BROKER_CONF", "TEST_SETTINGS", "MosquittoProcess", "shipped_settings"]

REPO = Path(__file__).resolve().parent.parent
SHIPPED_BROKER_CONF = REPO / "deploy" / "mosquitto" / "mosquitto.conf"

# Stock Mosquitto keeps 1,000 queued messages per client and silently drops the rest,
# which a test publishing a simulated day in seconds would hit.
TEST_SETTINGS = (
    "max_queued_messages 1000000",
    "max_inflight_messages 1000",
    "persistence true",
    "autosave_interval 1",
)

# Settings of the shipped file a test broker replaces: its own listener, no authentication
# (loopback only), its own persistence directory and log file.
_REPLACED = re.compile(r"^(listener|protocol|allow_anonymous|password_file|acl_file|"
                       r"persistence_location|log_dest|per_listener_settings|user)\b")


def shipped_settings(extra: Iterable[str] = ()) -> list[str]:
    """The shipped broker settings (``deploy/mosquitto/mosquitto.conf``) a test broker can run."""
    kept = [line for line in SHIPPED_BROKER_CONF.read_text().splitlines()
            if not _REPLACED.match(line.strip())]
    return [*kept, *extra]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MosquittoProcess:
    """Mosquitto on a free loopback port with ``settings``; SIGTERM and restart it at will."""

    def __init__(self, workdir: Path, settings: Iterable[str] = TEST_SETTINGS) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.log = workdir / "mosquitto.log"
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join([
            f"listener {self.port} 127.0.0.1", "allow_anonymous true",
            f"persistence_location {workdir}/", f"log_dest file {self.log}",
            f"user {getpass.getuser()}", *settings, ""]))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log.read_text(errors="replace") if self.log.exists() else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}:\n{log}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        """SIGTERM (Mosquitto writes its persistence file on the way out) and wait for the exit."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None
