"""The parser's typed fast path gives exactly what the general path gives, or defers to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import CONFIG_DIR
from hypothesis import given, settings
from hypothesis import strategies as st

from ecowarn.config.registry import Registry, load_registry
from ecowarn.ingest.parse import ParseResult, TelemetryParser

NOW = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def both_paths(parser: TelemetryParser, topic: str, payload: bytes,
               monkeypatch: pytest.MonkeyPatch) -> tuple[ParseResult, ParseResult]:
    fast = parser.parse_mqtt(topic, payload, now=NOW)
    with monkeypatch.context() as m:
        m.setattr(parser, "_fast", lambda *a: None)
        slow = parser.parse_mqtt(topic, payload, now=NOW)
    return fast, slow


TRICKY = [
    b'{"ts": "2026-11-23T08:01:00+08:00", "values": {"so2": 12.3, "nox": 40}, "flags": {"so2": "M"}}',
    b'[{"ts": 1795392060000, "values": {"so2": null}}, {"ts": 1795392120000, "values": {"o2": 8}}]',
    b'{"ts": "2026-11-23T08:01:00", "values": {"so2": 1}}',                 # naive
    b'{"ts": "2026-11-23T09:00:00+00:00", "values": {"so2": 1}}',           # 9 h ahead of NOW
    b'{"ts": true, "values": {"so2": 1}}',
    b'{"ts": "1795392060000", "values": {"so2": 1}}',                       # number as string
    b'{"ts": 1795392060000, "values": {}}',
    b'{"ts": 1795392060000, "values": {"p": 1}}',                           # not a cems metric
    b'{"ts": 1795392060000, "values": {"so2": true}}',
    b'{"ts": 1795392060000, "values": {"so2": "1"}}',
    b'{"ts": 1795392060000, "values": {"so2": NaN}}',
    b'{"ts": 1795392060000, "values": {"so2": 1e999}}',
    b'{"ts": 1795392060000, "values": {"so2": 1}, "flags": {"so2": "Q"}}',
    b'{"ts": 1795392060000, "values": {"so2": 1}, "flags": {"nox": "N"}}',
    b'{"ts": 1795392060000, "values": {"so2": 1}, "flags": null}',
    b'{"ts": 1795392060000, "values": {"so2": 1}, "extra": [1, 2]}',
    b'[{"ts": 1795392060000, "values": {"so2": 1}}, 7, {"values": {"so2": 2}}]',
    b'[]',
    b'{"ts": 99999999999999999999, "values": {"so2": 1}}',
    b'{not json',
]


@pytest.mark.parametrize("payload", TRICKY)
def test_fast_path_matches_the_general_path_on_tricky_payloads(
        payload: bytes, sample_registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """Valid, invalid and mixed payloads parse to the same rows, rejections and counts either way."""
    parser = TelemetryParser(sample_registry)
    fast, slow = both_paths(parser, "telemetry/cems/13010500000001", payload, monkeypatch)
    assert fast == slow


def test_fast_path_is_taken_for_valid_messages(sample_registry: Registry,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid message does not reach the general path (or the speed-up would be lost)."""
    parser = TelemetryParser(sample_registry)
    monkeypatch.setattr("ecowarn.ingest.parse._decode", lambda payload: pytest.fail("general path used"))
    res = parser.parse_mqtt("telemetry/power/PWR-KILN-1",
                            b'[{"ts": 1795392060000, "values": {"p": 1, "e": 2.5}}]', now=NOW)
    assert [(r.metric, r.value) for r in res.rows] == [("p", 1.0), ("e", 2.5)]
    assert res.readings == 1 and not res.rejections


reading = st.fixed_dictionaries(
    {"ts": st.one_of(st.integers(1_700_000_000_000, 1_900_000_000_000),
                     st.sampled_from(["2026-11-23T08:01:00+08:00", "2026-11-22T23:59:59Z",
                                      "2026-11-23 07:00:00+08:00", "2026-11-23T08:01:00",
                                      "yesterday", "2030-01-01T00:00:00+00:00"]),
                     st.booleans(), st.none())},
    optional={"values": st.dictionaries(
                  st.sampled_from(["so2", "nox", "o2", "p", "flow"]),
                  st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32),
                            st.integers(-10**6, 10**6), st.none(), st.booleans(), st.text(max_size=2)),
                  max_size=3),
              "flags": st.dictionaries(st.sampled_from(["so2", "nox", "o2"]),
                                       st.sampled_from(["N", "M", "D", "Q", ""]), max_size=2)})


@settings(max_examples=300, deadline=None)
@given(st.one_of(reading, st.lists(reading, max_size=4)))
def test_fast_path_matches_the_general_path_on_generated_payloads(obj: Any) -> None:
    """Random mixes of good and bad readings give identical results through both paths."""
    parser = TelemetryParser(load_registry(CONFIG_DIR / "registry.example.yaml"))
    payload = json.dumps(obj).encode()
    fast = parser.parse_mqtt("telemetry/cems/13010500000001", payload, now=NOW)
    parser._fast = lambda *a: None  # type: ignore[method-assign]
    slow = parser.parse_mqtt("telemetry/cems/13010500000001", payload, now=NOW)
    assert fast == slow
