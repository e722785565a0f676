"""Scoring of `ecowarn evaluate` on hand-made labels and alerts: matching, P/R/F1, delays, rates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ecowarn.evaluation._scenario import EvalLabel
from ecowarn.evaluation._scoring import (
    ObservedAlert,
    Targets,
    match_alerts,
    negative_outcomes,
    quantile,
    score_rules,
    upper_bound_rate,
)

CST = timezone(timedelta(hours=8))
T = datetime(2026, 11, 20, 0, 0, tzinfo=CST)
END = T + timedelta(days=2)


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def label(lid: int, rule: str, dev: str, start: float, end: float, *, positive: bool = True,
          kind: str = "k") -> EvalLabel:
    return EvalLabel(lid, kind, rule, positive, (dev,), at(start), at(end))


def alert(aid: int, rule: str, devs: tuple[str, ...], start: float, end: float | None, *,
          subject: str | None = None, created: float | None = None) -> ObservedAlert:
    return ObservedAlert(aid, rule, subject or devs[0], devs, at(start),
                         None if end is None else at(end),
                         created_at=None if created is None else at(created))


def test_alert_matches_label_by_rule_device_and_time() -> None:
    """Only an alert of the label's rule, sharing a device and overlapping in time, is true."""
    labels = [label(1, "treatment_off", "P1", 600, 630)]
    alerts = [
        alert(1, "treatment_off", ("P1", "T1"), 600, 630),     # match
        alert(2, "treatment_off", ("P2", "T2"), 600, 630),     # other device
        alert(3, "treatment_off", ("P1", "T1"), 700, 720),     # later than label end + 10 min
        alert(4, "flatline", ("P1",), 600, 630),                # other rule: not considered
    ]
    m = match_alerts("treatment_off", labels, alerts, END)
    assert m.true_alerts == {1: 1}
    assert m.false_causes == {2: "unexplained", 3: "unexplained"}
    assert m.first_alert[1].id == 1


def test_open_alert_reaches_the_end_of_the_data() -> None:
    """An alert still open (end null) overlaps a label that starts after its start."""
    labels = [label(1, "data_gap", "D1", 900, 960)]
    m = match_alerts("data_gap", labels, [alert(7, "data_gap", ("D1",), 899, None)], END)
    assert m.true_alerts == {7: 1}


def test_hourly_rules_get_an_hour_of_slack() -> None:
    """An exceedance alert on the clock hour before the label matches; a minute rule's does not."""
    exc = [label(1, "emission_exceedance", "C1", 617, 800)]
    m = match_alerts("emission_exceedance", exc, [alert(1, "emission_exceedance", ("C1",), 540, 600)], END)
    assert m.true_alerts == {1: 1}
    off = [label(1, "o2_dilution", "C1", 617, 800)]
    m = match_alerts("o2_dilution", off, [alert(1, "o2_dilution", ("C1",), 540, 600)], END)
    assert m.true_alerts == {}


def test_second_alert_of_one_subject_is_a_duplicate_but_other_subjects_count() -> None:
    """One episode split in two alerts is one true alert and one duplicate; pm25 and pm10 are two."""
    labels = [label(1, "air_hotspot", "AQ1", 100, 200)]
    alerts = [
        alert(1, "air_hotspot", ("AQ1",), 100, 140, subject="AQ1/pm25", created=141),
        alert(2, "air_hotspot", ("AQ1",), 150, 200, subject="AQ1/pm25", created=201),
        alert(3, "air_hotspot", ("AQ1",), 100, 200, subject="AQ1/pm10", created=202),
    ]
    m = match_alerts("air_hotspot", labels, alerts, END)
    assert m.true_alerts == {1: 1, 3: 1}
    assert m.duplicates == {2: 1}
    assert m.false_causes == {2: "duplicate"}


def test_false_alerts_are_attributed_to_the_negative_or_event_they_overlap() -> None:
    """A false alert on a hard negative names it; on another rule's event, the side effect."""
    labels = [
        label(1, "treatment_off", "P1", 100, 160, positive=False, kind="threshold_noise"),
        label(2, "emission_exceedance", "P2", 300, 400, kind="exceedance"),
    ]
    alerts = [alert(1, "treatment_off", ("P1",), 110, 150), alert(2, "treatment_off", ("P2",), 310, 330)]
    m = match_alerts("treatment_off", labels, alerts, END)
    assert m.false_causes == {1: "hard negative threshold_noise", 2: "side effect of exceedance"}


def test_precision_recall_f1_and_delays() -> None:
    """4 violations, 3 found by 3 of 5 alerts: P 0.6, R 0.75, F1 2/3; delays from the first alert."""
    labels = [label(i, "o2_dilution", f"C{i}", 100 * i, 100 * i + 90) for i in range(1, 5)]
    alerts = [
        alert(1, "o2_dilution", ("C1",), 100, 190, created=200),
        alert(2, "o2_dilution", ("C2",), 205, 290, created=300),
        alert(3, "o2_dilution", ("C3",), 302, 390, created=400),
        alert(4, "o2_dilution", ("C9",), 100, 150, created=401),
        alert(5, "o2_dilution", ("C8",), 500, 550, created=402),
    ]
    published = {1: at(160), 2: at(260), 3: at(362)}
    [s] = score_rules(["o2_dilution"], ["o2_dilution"], labels, alerts, END, published_at=published)
    assert (s.alerts, s.true_alerts, s.false_alerts, s.detected) == (5, 3, 2, 3)
    assert s.precision == pytest.approx(0.6)
    assert s.recall == pytest.approx(0.75)
    assert s.f1 == pytest.approx(2 / 3)
    assert s.missed == (4,)
    assert s.event_delay_min == (0.0, 5.0, 2.0)
    assert s.processing_delay_s == (2400.0, 2400.0, 2280.0)
    assert s.verdict(Targets()) == "recall 0.75 < 0.95; precision 0.60 < 0.95"


def test_quantiles_interpolate_between_order_statistics() -> None:
    """Median and p95 interpolate linearly; an empty sample has none."""
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == pytest.approx(2.5)
    assert quantile([float(x) for x in range(101)], 0.95) == pytest.approx(95.0)
    assert quantile([0.0, 10.0], 0.95) == pytest.approx(9.5)
    assert quantile([7.0], 0.95) == 7.0
    assert quantile([], 0.5) is None


def test_clean_rate_upper_bound_and_verdicts() -> None:
    """Clean alerts per 1,000 device-days decide the verdict; unwired rules say so."""
    clean = [alert(1, "flatline", ("C1",), 10, 20), alert(2, "flatline", ("C1",), 50, 60)]
    scores = score_rules(["flatline", "bypass_suspected"], ["flatline"], [], [], END,
                         clean_alerts=clean, clean_device_days=1000.0)
    flat, bypass = scores
    assert flat.clean_rate == pytest.approx(2.0)
    assert flat.verdict(Targets()) == "no positives placed; clean 2.00 > 1/1000 device-days"
    assert bypass.verdict(Targets()) == "not wired"
    assert upper_bound_rate(0, 1000.0) == pytest.approx(2.996, abs=1e-3)
    assert upper_bound_rate(2, 1000.0) == pytest.approx(6.30, abs=0.05)


def test_perfect_rule_meets_targets_and_negatives_are_counted() -> None:
    """A rule that finds every violation and nothing else meets its targets."""
    labels = [label(1, "bypass_suspected", "C1", 100, 200),
              label(2, "bypass_suspected", "C2", 100, 130, positive=False, kind="short_bypass"),
              label(3, "bypass_suspected", "C3", 100, 130, positive=False, kind="short_bypass")]
    alerts = [alert(1, "bypass_suspected", ("C1", "P1"), 100, 200, created=230),
              alert(2, "bypass_suspected", ("C3",), 100, 130, created=231)]
    [s] = score_rules(["bypass_suspected"], [], labels, alerts[:1], END, clean_alerts=[],
                      clean_device_days=500.0)
    assert s.wired  # it raised alerts
    assert s.verdict(Targets()) == "meets targets"
    assert negative_outcomes(labels, alerts, END) == {"short_bypass": ("bypass_suspected", 2, 1)}


def test_a_single_label_wants_one_alert_whatever_its_subject() -> None:
    """A site outage (label marked single) matched by one grouped alert is one true alert; a
    device-by-device answer gives one true alert and duplicates for the rest."""
    site = EvalLabel(1, "site_outage", "data_gap", True, ("A", "B", "C"), at(100), at(150), single=True)
    grouped = [alert(1, "data_gap", ("A", "B", "C"), 100, 150, subject="site:E1")]
    m = match_alerts("data_gap", [site], grouped, END)
    assert m.true_alerts == {1: 1} and m.duplicates == {}
    per_device = [alert(i, "data_gap", (d,), 100, 150, created=160 + i) for i, d in enumerate("ABC", 1)]
    m = match_alerts("data_gap", [site], per_device, END)
    assert m.true_alerts == {1: 1} and m.duplicates == {2: 1, 3: 1}


def test_sequence_and_daily_alerts_match_their_event_windows() -> None:
    """A late start (alert from production start to stage start, naming the producer and the
    stage's meters) and a daily water mean (midnight to midnight) match their labels."""
    late = EvalLabel(1, "late_treatment_start", "treatment_sequence", True, ("P1", "T2"), at(600), at(606),
                     due=at(606))
    day = EvalLabel(2, "water_exceedance", "emission_exceedance", True, ("W1",), at(1440), at(2880),
                    due=at(2880))
    alerts = [alert(1, "treatment_sequence", ("P1", "T2"), 600, 606, created=620),
              alert(2, "emission_exceedance", ("W1",), 1440, 2880, subject="W1/cod", created=2890)]
    scores = score_rules(["treatment_sequence", "emission_exceedance"], [], [late, day], alerts, END,
                         published_at={1: at(606), 2: at(2880)})
    assert [(s.rule, s.detected, s.true_alerts) for s in scores] == [
        ("treatment_sequence", 1, 1), ("emission_exceedance", 1, 1)]
    assert scores[0].processing_delay_s == (840.0,) and scores[1].event_delay_min == (0.0,)
