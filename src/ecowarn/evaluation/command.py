"""``ecowarn evaluate``: the detector catalog scored on a seeded, labelled scenario.

1. Builds a synthetic registry (``--enterprises`` clones of the template registry's
   enterprise patterns, valid credit codes, a grid of ``--stations`` air stations).
2. Plans ``--days`` of events: violations of every rule of CONTRACT sections 3 and 8 and
   hard negatives (see :mod:`ecowarn._scenario`), with their labels.
3. Runs the scenario through the real service (:mod:`ecowarn._evalrun`): declared
   maintenance and emergency orders through the API, readings over MQTT, the
   collector, the ingest pipeline, the store, the detector runner, the alerts table.
   Then a clean run (``--clean-days``, no injections, no late delivery) on the same
   registry.
4. Scores each rule (:mod:`ecowarn._scoring`) and prints a table; ``--out`` writes
   the Markdown section of ``docs/detection.md``, ``--json-out`` every label, alert
   and score.

The database server and broker are the configured ones (``ECOWARN_DATABASE_URL``,
``ECOWARN_MQTT_URL``) or embedded ones; each run uses a scratch database of its
own, dropped afterwards. Rules without an evaluator in the runner are reported as
not wired.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecowarn.config import packaged_file
from ecowarn.config.settings import Settings

if TYPE_CHECKING:
    from ecowarn.evaluation._run import RunResult
    from ecowarn.evaluation._scenario import Scenario

__all__ = ["add_evaluate_parser", "cmd_evaluate", "min_durations"]

log = logging.getLogger("ecowarn.evaluation.command")

TEMPLATE = packaged_file("registry.example.yaml")

PREAMBLE = """# Detection quality

Precision, recall and delays of every rule of the catalog (CONTRACT section 3), measured by
`ecowarn evaluate` through the whole service on a seeded, labelled scenario."""


def add_evaluate_parser(subparsers: Any) -> None:
    """Register ``evaluate`` on the ``ecowarn`` command's subparsers."""
    e = subparsers.add_parser(
        "evaluate", help="score every detector on a seeded, labelled scenario through the whole service",
        description="Generate a labelled scenario (violations of every rule, hard negatives, "
                    "late and shuffled delivery), run it through MQTT, the pipeline, the store and "
                    "the detector runner, then a clean run; print precision, recall, F1, detection "
                    "delays and false alerts per 1,000 device-days for each rule. Uses "
                    "ECOWARN_DATABASE_URL / ECOWARN_MQTT_URL or embedded services; every run gets a "
                    "scratch database that is dropped afterwards.")
    e.add_argument("--enterprises", type=int, default=20,
                   help="simulated enterprises, cloned from the template's patterns (default 20)")
    e.add_argument("--stations", type=int, default=9, help="air stations on a 2 km grid (default 9)")
    e.add_argument("--days", type=int, default=5, help="days of the labelled run (default 5)")
    e.add_argument("--warmup-days", type=int, default=1,
                   help="leading days without events, for baselines to learn (default 1)")
    e.add_argument("--per-rule", type=int, default=12,
                   help="violations placed per rule (default 12)")
    e.add_argument("--negatives", type=int, default=6,
                   help="hard negatives placed per kind (default 6)")
    e.add_argument("--late", type=int, default=4,
                   help="enterprises whose data arrives hours late and shuffled (default 4)")
    e.add_argument("--clean-days", type=int, default=12,
                   help="days of the clean run without injections; 0 skips it (default 12: about "
                        "1,000 device-days with the default registry)")
    e.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    e.add_argument("--start", help="first simulated minute, RFC 3339 with offset (default: local "
                                   "midnight DAYS days ago, so no reading lies in the future)")
    e.add_argument("--batch", type=int, default=1,
                   help="readings per MQTT message, per device (default 1, as devices send)")
    e.add_argument("--speed", type=float, default=0.0,
                   help="simulated minutes per real minute; 0 = as fast as the broker takes them")
    e.add_argument("--template", default=str(TEMPLATE),
                   help="registry whose enterprises are cloned (default config/registry.example.yaml)")
    e.add_argument("--out", help="write the Markdown report here (e.g. docs/detection.md)")
    e.add_argument("--json-out", help="write labels, alerts, matches and scores as JSON here")
    e.add_argument("--keep-db", action="store_true", help="keep the scratch databases")
    e.add_argument("--strict", action="store_true",
                   help="exit 1 unless every rule is wired and meets its targets")


def min_durations(params: Mapping[str, object]) -> dict[str, float]:
    """Each rule's minimum duration in minutes, from its parameters (for detection delays)."""

    def get(rule: str, attr: str, default: float) -> float:
        return float(getattr(params.get(rule), attr, default))

    return {
        "treatment_off": get("treatment_off", "min_duration_min", 10.0),
        "treatment_sequence": get("treatment_sequence", "min_lag_min", 3.0),
        "treatment_underload": get("treatment_underload", "min_duration_min", 30.0),
        "emergency_noncompliance": get("emergency_noncompliance", "shutdown_min_duration_min", 15.0),
        "emission_exceedance": 60.0,
        "flatline": get("flatline", "min_duration_min", 120.0),
        "o2_dilution": get("o2_dilution", "min_duration_min", 60.0),
        "bypass_suspected": get("bypass_suspected", "min_duration_min", 60.0),
        "undeclared_marking": get("undeclared_marking", "min_duration_min", 60.0),
        "pinned_below_limit": 60.0 * get("pinned_below_limit", "min_hours", 6.0),
        "data_gap": get("data_gap", "min_gap_min", 30.0),
        "air_hotspot": get("air_hotspot", "min_duration_min", 30.0),
    }


def _start(text: str | None, days: int) -> datetime:
    from ecowarn.simulator import CST

    if text:
        start = datetime.fromisoformat(text)
        if start.tzinfo is None:
            raise ValueError("--start needs a UTC offset, e.g. 2026-11-01T00:00:00+08:00")
        return start
    today = datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def _command(args: argparse.Namespace) -> str:
    parts = ["ecowarn evaluate"]
    for opt in ("enterprises", "stations", "days", "warmup_days", "per_rule", "negatives", "late",
                "clean_days", "seed", "batch"):
        parts.append(f"--{opt.replace('_', '-')} {getattr(args, opt)}")
    if args.speed:
        parts.append(f"--speed {args.speed:g}")
    if args.start:
        parts.append(f"--start {args.start}")
    if args.out:
        parts.append(f"--out {args.out}")
    return " ".join(parts)


@contextlib.asynccontextmanager
async def _servers(settings: Settings) -> AsyncIterator[tuple[str, str, str]]:
    """The PostgreSQL server DSN and the broker URL: configured, or embedded ones."""
    from ecowarn.embedded import EmbeddedBroker, resolve_database

    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(resolve_database(settings))
        if settings.mqtt_url:
            url, where = settings.mqtt_url, "configured broker"
        else:
            broker = await stack.enter_async_context(EmbeddedBroker())
            url, where = broker.url, "embedded broker"
        db_where = "configured PostgreSQL" if settings.database_url else "embedded PostgreSQL"
        yield server, url, f"{db_where}, {where}"


def _describe(scenario: Scenario, template: str) -> list[str]:
    reg = scenario.registry
    kinds: dict[str, int] = {}
    for d in reg.devices.values():
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    pos = sum(1 for lb in scenario.labels if lb.positive)
    neg = len(scenario.labels) - pos
    devs = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    lines = [
        f"Registry: {len(reg.enterprises)} enterprises cloned from the patterns of `{template}`, "
        f"{len(reg.stations)} air stations; {len(reg.devices)} devices ({devs}).",
        f"Labelled run: {scenario.minutes // 1440} days from {scenario.start.isoformat()}, seed "
        f"{scenario.seed}; {pos} labelled violations, {neg} hard-negative labels, "
        f"{len(scenario.maintenance)} declared maintenance windows and {len(scenario.orders)} "
        f"emergency orders posted through the API, {len(scenario.late)} enterprises' data "
        "delivered hours late and shuffled.",
    ]
    lines.extend(f"Not placed: {s}." for s in scenario.shortfalls)
    return lines


def _run_line(name: str, sc: Scenario, r: RunResult, batch: int) -> str:
    dead = ", ".join(f"{n} {k}" for k, n in r.dead_letters.items()) or "none"
    return (f"{name}: {sc.device_days:,.0f} device-days, {r.published.readings:,} readings in "
            f"{r.published.messages:,} MQTT messages (batch {batch}), {r.rows:,} rows stored, "
            f"dead letters: {dead}; published in {r.phases.get('publish_s', 0):.0f} s, "
            f"detectors drained {r.phases.get('drain_s', 0):.0f} s after the last message; "
            f"{len(r.alerts)} alerts.")


async def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Run the evaluation described in the module docstring; 0 on success (see ``--strict``)."""
    from ecowarn.config.registry import load_registry
    from ecowarn.detectors.catalog import RULES, load_rule_params
    from ecowarn.detectors.runtime.evaluators import build_evaluators
    from ecowarn.evaluation._report import Report, missed_by_kind, render_markdown, render_table, write_markdown
    from ecowarn.evaluation._run import EvaluationError, completion_wall, run_scenario
    from ecowarn.evaluation._scenario import Scenario, ScenarioSize, plan_scenario, synthetic_registry
    from ecowarn.evaluation._scoring import Targets, negative_outcomes, score_rules

    began = time.monotonic()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    params = load_rule_params(settings.rules)
    template = load_registry(args.template)
    try:
        if args.batch < 1 or args.clean_days < 0:
            raise ValueError("--batch must be at least 1 and --clean-days not negative")
        registry = synthetic_registry(template, args.enterprises, args.stations)
        size = ScenarioSize(days=args.days, warmup_days=args.warmup_days, per_rule=args.per_rule,
                            negatives_per_kind=args.negatives, late_deliveries=args.late)
        start = _start(args.start, args.days)
    except ValueError as exc:
        print(f"ecowarn evaluate: {exc}", file=sys.stderr)
        return 2
    wired = sorted({ev.rule for ev in build_evaluators(registry, params)})
    log.info("rules wired into the runner: %s", ", ".join(wired) or "none")
    scenario = plan_scenario(registry, start, size, args.seed, progress=log.debug)
    for line in scenario.shortfalls:
        log.warning("scenario: %s", line)
    log.info("scenario: %d devices, %d days, %d labels (%d violations), %d injections",
             len(registry.devices), args.days, len(scenario.labels),
             sum(1 for lb in scenario.labels if lb.positive), len(scenario.injections))
    mindur = min_durations(params)
    speed = args.speed if args.speed > 0 else None
    clean_sc = None
    clean = None
    try:
        async with _servers(settings) as (server, mqtt_url, where):
            labelled = await run_scenario(settings, scenario, rule_params=params, server_dsn=server,
                                          mqtt_url=mqtt_url, batch=args.batch, speed=speed,
                                          keep_database=args.keep_db, name="labelled run")
            if args.clean_days > 0:
                clean_sc = Scenario(registry=registry, minutes=args.clean_days * 1440,
                                    start=_start(args.start, args.clean_days), seed=args.seed + 1)
                clean = await run_scenario(settings, clean_sc, rule_params=params, server_dsn=server,
                                           mqtt_url=mqtt_url, batch=args.batch, speed=speed,
                                           keep_database=args.keep_db, name="clean run")
    except EvaluationError as exc:
        log.error("%s", exc)
        return 1
    published = completion_wall(scenario, labelled, scenario.labels, mindur)
    scores = score_rules(list(RULES), wired, scenario.labels, labelled.alerts, scenario.end,
                         published_at=published,
                         clean_alerts=clean.alerts if clean else None,
                         clean_device_days=clean_sc.device_days if clean_sc else None)
    targets = Targets()
    run_lines = [_run_line("Labelled run", scenario, labelled, args.batch)]
    if clean is not None and clean_sc is not None:
        run_lines.append(_run_line("Clean run", clean_sc, clean, args.batch))
    pace = f"at {args.speed:g}x" if speed else "as fast as the broker takes it (burst)"
    run_lines.append(f"Services: {where}; replay {pace}; whole evaluation "
                     f"{time.monotonic() - began:.0f} s.")
    report = Report(
        command=_command(args), scores=scores, targets=targets,
        scenario_lines=_describe(scenario, args.template if args.template != str(TEMPLATE)
                                 else "config/registry.example.yaml"),
        negatives=negative_outcomes(scenario.labels, labelled.alerts, scenario.end),
        clean_alerts=len(clean.alerts) if clean else None,
        clean_device_days=clean_sc.device_days if clean_sc else None,
        run_lines=run_lines, missed_kinds=missed_by_kind(scores, scenario.labels))
    print(render_table(report), flush=True)
    if args.out:
        write_markdown(Path(args.out), render_markdown(report), PREAMBLE)
        log.info("wrote %s", args.out)
    if args.json_out:
        _write_json(Path(args.json_out), scenario, labelled, clean, scores, wired)
        log.info("wrote %s", args.json_out)
    if args.strict and any(s.verdict(targets) != "meets targets" for s in scores):
        return 1
    return 0


def _write_json(path: Path, scenario: Scenario, labelled: RunResult, clean: RunResult | None,
                scores: Any, wired: list[str]) -> None:
    def alert(a: Any) -> dict[str, Any]:
        return {"id": a.id, "rule": a.rule, "subject": a.subject, "device_ids": list(a.device_ids),
                "start": a.start.isoformat(), "end": a.end.isoformat() if a.end else None,
                "created_at": a.created_at.isoformat() if a.created_at else None}

    doc = {
        "wired": wired,
        "labels": [lb.as_json() for lb in scenario.labels],
        "alerts": [alert(a) for a in labelled.alerts],
        "clean_alerts": [alert(a) for a in clean.alerts] if clean else None,
        "scores": [{
            "rule": s.rule, "wired": s.wired, "positives": s.positives, "negatives": s.negatives,
            "alerts": s.alerts, "true_alerts": s.true_alerts, "duplicates": s.duplicates,
            "detected": s.detected, "missed": list(s.missed), "precision": s.precision,
            "recall": s.recall, "f1": s.f1, "false_causes": dict(s.false_causes),
            "event_delay_min": list(s.event_delay_min),
            "processing_delay_s": list(s.processing_delay_s), "clean_alerts": s.clean_alerts,
            "clean_rate": s.clean_rate,
        } for s in scores],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
