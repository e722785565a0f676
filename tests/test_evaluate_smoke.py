"""`ecowarn evaluate` end to end on a tiny scenario: real PostgreSQL, real broker, real runner."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from ecowarn.cli import build_parser
from ecowarn.config.registry import load_registry
from ecowarn.config.settings import load_settings
from ecowarn.detectors.catalog import RULES, default_params
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.evaluation._report import BEGIN, END
from ecowarn.evaluation._scenario import POSITIVE_KINDS, synthetic_registry
from ecowarn.evaluation.command import TEMPLATE, cmd_evaluate

TINY = ["--enterprises", "3", "--stations", "4", "--days", "4", "--per-rule", "1", "--negatives", "1",
        "--late", "1", "--clean-days", "1", "--seed", "1", "--batch", "5"]


@pytest.mark.timeout(120)  # four simulated days through the whole service
async def test_evaluate_scores_every_rule_through_the_whole_service(
        database: str, mqtt_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny labelled scenario goes through MQTT, store and runner; every rule gets a verdict
    and every kind of violation is placed (the stage of alternatives underloaded, the water
    hour above its hourly limit and the frozen water analyser among them)."""
    out, js = tmp_path / "detection.md", tmp_path / "detection.json"
    out.write_text("# Detection quality\n\nhand-written notes\n\n" + BEGIN + "\nold\n" + END + "\ntail\n")
    args = build_parser().parse_args(["evaluate", *TINY, "--out", str(out), "--json-out", str(js)])
    settings = load_settings(database_url=database, mqtt_url=mqtt_url, rules=None)
    scratch_before = _scratch_databases(database)

    assert await cmd_evaluate(args, settings) == 0

    table = capsys.readouterr().out
    doc = json.loads(js.read_text())
    registry = synthetic_registry(load_registry(TEMPLATE), 3, 4)
    wired = {ev.rule for ev in build_evaluators(registry, default_params())}
    scores = {s["rule"]: s for s in doc["scores"]}
    assert set(scores) == set(RULES)
    assert {lb["kind"] for lb in doc["labels"] if lb["positive"]} == set(POSITIVE_KINDS)
    for rule, s in scores.items():
        assert s["wired"] == (rule in wired or s["alerts"] > 0)
        assert s["positives"] >= 1, f"no violation of {rule} was placed"
        assert rule in table
    # treatment_off is wired today; its outage must be found through the whole pipeline.
    toff = scores["treatment_off"]
    assert toff["wired"] and toff["detected"] == toff["positives"]
    assert all(d >= 0 for d in toff["processing_delay_s"])
    # So are the stage underload, the water hour above its limit and the frozen analyser.
    for rule in ("treatment_underload", "emission_exceedance", "flatline"):
        assert scores[rule]["missed"] == [], f"{rule}: {scores[rule]['missed']}"
    assert doc["clean_alerts"] is not None
    md = out.read_text()
    assert md.startswith("# Detection quality\n\nhand-written notes\n")
    assert md.rstrip().endswith("tail") and "\nold\n" not in md
    for rule in RULES:
        assert f"| {rule} |" in md
    assert _scratch_databases(database) == scratch_before, "scratch databases are dropped"


def _scratch_databases(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'ecowarn_eval_%'").fetchall()
    return {r[0] for r in rows}
