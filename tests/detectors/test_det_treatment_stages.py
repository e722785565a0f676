"""treatment_off by stage (CONTRACT 1.1 section 8) and treatment_sequence (治污设施晚开早关),
as pure functions over minute grids: boundaries at the parameters."""

from __future__ import annotations

import numpy as np
import pytest

from ecowarn.detectors.treatment_off import TreatmentOffParams, treatment_off
from ecowarn.detectors.treatment_sequence import TreatmentSequenceParams, treatment_sequence

N = 240
T = np.arange(N, dtype=np.int64) * 60
PROD_ON = 80.0
# kiln -> bag filter (stage 0), SCR (stage 1), desulfurisation towers on duty/standby (stage 2)
ON_KW = np.array([16.0, 12.0, 20.0, 20.0])
STAGE_OF = np.array([0, 1, 2, 2])


def prod(on: tuple[int, int] = (0, N)) -> np.ndarray:
    p = np.zeros(N)
    p[on[0]:on[1]] = 500.0
    return p


def meters(*, off: dict[int, tuple[int, int]] | None = None, standby: bool = True,
           on: dict[int, tuple[int, int]] | None = None) -> np.ndarray:
    """Bag, SCR, DS-1 running all the time, DS-2 on standby (0 kW), unless told otherwise."""
    m = np.vstack([np.full(N, 100.0), np.full(N, 100.0), np.full(N, 100.0),
                   np.zeros(N) if standby else np.full(N, 100.0)])
    for row, (a, b) in (on or {}).items():
        m[row] = 0.0
        m[row, a:b] = 100.0
    for row, (a, b) in (off or {}).items():
        m[row, a:b] = 0.0
    return m


def test_one_stage_off_is_flagged_and_named() -> None:
    """Kiln running, bag filter on, SCR at 0 kW for 80 min: one finding naming stage 1."""
    [f] = treatment_off(T, prod(), meters(off={1: (60, 140)}), PROD_ON, ON_KW, TreatmentOffParams(),
                        STAGE_OF)
    assert (f.start_s, f.end_s) == (60 * 60, 140 * 60)
    assert f.facts["stages_off"] == [1]
    assert f.facts["duration_min"] == 80 and f.facts["severity"] == "high"


def test_standby_alternative_off_while_its_partner_runs_is_no_alert() -> None:
    """DS-2 at 0 kW all day while DS-1 runs: the stage runs; nothing fires."""
    assert treatment_off(T, prod(), meters(), PROD_ON, ON_KW, TreatmentOffParams(), STAGE_OF) == []


def test_both_alternatives_off_is_the_stage_off() -> None:
    """DS-1 stops while DS-2 stays on standby: stage 2 is off."""
    [f] = treatment_off(T, prod(), meters(off={2: (100, 130)}), PROD_ON, ON_KW, TreatmentOffParams(),
                        STAGE_OF)
    assert f.facts["stages_off"] == [2] and f.facts["duration_min"] == 30


def test_duty_switchover_is_no_alert() -> None:
    """DS-1 stops at 100 and DS-2 takes over at 100: the stage never stops."""
    m = meters(off={2: (100, N)})
    m[3, 100:] = 100.0
    assert treatment_off(T, prod(), m, PROD_ON, ON_KW, TreatmentOffParams(), STAGE_OF) == []


@pytest.mark.parametrize(("minutes", "fires"), [(9, False), (10, True)])
def test_stage_off_duration_boundary(minutes: int, fires: bool) -> None:
    """A stage off for 9 min is not an episode; 10 min is (min_duration_min)."""
    found = treatment_off(T, prod(), meters(off={0: (50, 50 + minutes)}), PROD_ON, ON_KW,
                          TreatmentOffParams(), STAGE_OF)
    assert bool(found) is fires


def test_two_stages_off_in_one_episode_are_both_named() -> None:
    """Bag filter off 60-80, SCR off 75-100: one episode 60-100 naming stages 0 and 1."""
    [f] = treatment_off(T, prod(), meters(off={0: (60, 80), 1: (75, 100)}), PROD_ON, ON_KW,
                        TreatmentOffParams(), STAGE_OF)
    assert (f.start_s, f.end_s, f.facts["stages_off"]) == (3600, 6000, [0, 1])


def test_meter_without_data_is_not_off() -> None:
    """The SCR meter silent (NaN) is a data gap, not a stage off."""
    m = meters()
    m[1, 60:140] = np.nan
    assert treatment_off(T, prod(), m, PROD_ON, ON_KW, TreatmentOffParams(), STAGE_OF) == []


def test_default_is_one_stage_per_meter() -> None:
    """Without stage_of (a 1.0 registry), each meter is its own stage: one off fires."""
    m = meters(standby=False, off={1: (60, 140)})
    assert len(treatment_off(T, prod(), m, PROD_ON, ON_KW, TreatmentOffParams())) == 1


# --- treatment_sequence ----------------------------------------------------------------------

SEQ = TreatmentSequenceParams()


def sequence(p: np.ndarray, m: np.ndarray) -> list:  # type: ignore[type-arg]
    return treatment_sequence(T, p, m, PROD_ON, ON_KW, STAGE_OF, SEQ, max_lag_min=10.0)


@pytest.mark.parametrize(("lag", "fires"), [(2, False), (3, True), (9, True), (10, False)])
def test_late_start_boundaries(lag: int, fires: bool) -> None:
    """Production starts at 60; the SCR starts ``lag`` min later: 3 to 9 min fire (10 and more
    is treatment_off's), 2 does not."""
    m = meters(on={1: (60 + lag, 200)})
    found = sequence(prod((60, 200)), m)
    assert bool(found) is fires
    if fires:
        [f] = found
        assert (f.start_s, f.end_s) == (3600, (60 + lag) * 60)
        assert f.facts["event"] == "start"
        assert f.facts["stages"] == [{"stage": 1, "lag_min": float(lag)}]


@pytest.mark.parametrize(("lead", "fires"), [(2, False), (3, True), (9, True), (10, False)])
def test_early_stop_boundaries(lead: int, fires: bool) -> None:
    """Production stops at 200; the bag filter stopped ``lead`` min before it."""
    m = meters(on={0: (40, 200 - lead)})
    found = sequence(prod((60, 200)), m)
    assert bool(found) is fires
    if fires:
        [f] = found
        assert (f.start_s, f.end_s, f.facts["event"]) == ((200 - lead) * 60, 200 * 60, "stop")
        assert f.facts["stages"] == [{"stage": 0, "lag_min": float(lead)}]


def test_one_finding_per_event_naming_every_late_stage() -> None:
    """Bag filter 4 min and SCR 6 min late at one start: one finding, both stages, end at the
    later start; a clean stop adds nothing."""
    m = meters(on={0: (64, 230), 1: (66, 230)})
    [f] = sequence(prod((60, 200)), m)
    assert f.facts["stages"] == [{"stage": 0, "lag_min": 4.0}, {"stage": 1, "lag_min": 6.0}]
    assert (f.start_s, f.end_s, f.facts["max_lag_min"]) == (3600, 66 * 60, 6.0)


def test_treatment_started_first_and_stopped_last_is_clean() -> None:
    """Treatment on 10 min before production and off 10 min after: nothing."""
    assert sequence(prod((60, 200)), meters(on={0: (50, 210), 1: (50, 210)})) == []


def test_stage_not_started_by_the_end_of_data_waits() -> None:
    """The SCR has not started by the last reading: no finding yet (later data decides)."""
    m = meters(on={1: (0, 0)})
    assert sequence(prod((235, N)), m) == []


def test_start_after_a_data_gap_is_not_an_event() -> None:
    """Production data missing before it runs: the state before is unknown, no start event."""
    p = prod((60, 200))
    p[40:60] = np.nan
    assert sequence(p, meters(on={1: (65, 230)})) == []


def test_standby_alternative_does_not_count_as_late() -> None:
    """DS-2 on standby throughout, DS-1 started before production: no late start."""
    assert sequence(prod((60, 200)), meters(on={2: (50, 210)})) == []


def test_params_validate() -> None:
    """Lags are positive and the upper bound lies above the lower one."""
    with pytest.raises(ValueError):
        TreatmentSequenceParams(min_lag_min=0)
    with pytest.raises(ValueError):
        TreatmentSequenceParams(min_lag_min=5, max_lag_min=5)
