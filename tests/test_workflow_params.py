"""Workflow settings: documented defaults, per-rule deadlines, refusal of bad values naming the key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecowarn.alerts import EscalationParams, WorkflowParams
from ecowarn.config.settings import SettingsError, load_settings


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Escalation after 2 h / 24 h / 72 h; answers due in 3 / 14 / 14 days (high / medium / low)."""
    for key in ("ESCALATE_AFTER_MIN_HIGH", "ANSWER_DEADLINE_DAYS_BY_RULE"):
        monkeypatch.delenv(f"ECOWARN_{key}", raising=False)
    settings = load_settings()
    assert settings.escalate_after_min() == {"high": 120, "medium": 1440, "low": 4320}
    assert settings.answer_deadline_days() == {"high": 3, "medium": 14, "low": 14}
    assert dict(EscalationParams().after_min) == settings.escalate_after_min()
    assert dict(WorkflowParams().answer_deadline_days) == settings.answer_deadline_days()


def test_per_rule_deadline_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ECOWARN_ANSWER_DEADLINE_DAYS_BY_RULE (JSON) overrides the severity's deadline for that rule."""
    monkeypatch.setenv("ECOWARN_ANSWER_DEADLINE_DAYS_BY_RULE", '{"data_gap": 7}')
    settings = load_settings()
    params = WorkflowParams(answer_deadline_days=settings.answer_deadline_days(),
                            answer_deadline_days_by_rule=settings.answer_deadline_days_by_rule)
    assert params.answer_deadline("data_gap", "high") == timedelta(days=7)
    assert params.answer_deadline("treatment_off", "high") == timedelta(days=3)
    assert params.answer_deadline("treatment_off", "unheard-of") == timedelta(days=14)


@pytest.mark.parametrize(("key", "value"), [
    ("ESCALATE_AFTER_MIN_HIGH", "0"),
    ("ANSWER_DEADLINE_DAYS_MEDIUM", "-1"),
    ("ANSWER_DEADLINE_DAYS_BY_RULE", '{"data_gap": 0}'),
    ("ESCALATION_SWEEP_S", "0"),
])
def test_bad_values_fail_at_boot_naming_the_key(monkeypatch: pytest.MonkeyPatch, key: str,
                                                value: str) -> None:
    """A non-positive time or deadline stops the service with the variable's name."""
    monkeypatch.setenv(f"ECOWARN_{key}", value)
    with pytest.raises(SettingsError, match=f"ECOWARN_{key}"):
        load_settings()


def test_workflow_params_refuse_non_positive_days() -> None:
    """Deadline mappings with zero days are refused when the parameters are built."""
    with pytest.raises(ValueError, match="data_gap"):
        WorkflowParams(answer_deadline_days_by_rule={"data_gap": 0})
