"""Every configuration file the service reads at start, mutated at random (hypothesis): the
loader either accepts the file or refuses it with its own configuration error and a message —
never another exception, never a traceback at start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecowarn.alerts._notify_config import NotifyConfigError, load_officer_channels
from ecowarn.alerts.warnings import WarningConfigError, load_warning_policy
from ecowarn.config import packaged_file
from ecowarn.config.registry import RegistryError, load_registry
from ecowarn.credit._catalogs import load_credit_model
from ecowarn.credit.errors import CreditConfigError
from ecowarn.credit.params import load_credit_params
from ecowarn.credit.supervision.config import load_supervision_config
from ecowarn.credit.supervision.errors import SupervisionConfigError
from ecowarn.detectors.catalog import RuleConfigError, load_rule_params

ROBOT_ENV = {"ECOWARN_ROBOT_SJZ_URL": "https://oapi.dingtalk.com/robot/send?access_token=t",
             "ECOWARN_ROBOT_XINGTAI_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
             "ECOWARN_ROBOT_XINGTAI_SECRET": "s", "ECOWARN_RELAY_SECRET": "s"}

LOADERS: dict[str, tuple[str, Callable[[Path], object], type[Exception]]] = {
    "registry": ("registry.example.yaml", load_registry, RegistryError),
    "rules": ("rules.yaml", load_rule_params, RuleConfigError),
    "credit": ("credit.yaml", load_credit_params, CreditConfigError),
    "catalog": ("credit_catalog_hebei_initial.yaml",
                lambda p: load_credit_model([p], None, None), CreditConfigError),
    "levels": ("credit_levels.yaml", lambda p: load_credit_model(None, p, None), CreditConfigError),
    "supervision": ("supervision.yaml", load_supervision_config, SupervisionConfigError),
    "warnings": ("warnings.yaml", load_warning_policy, WarningConfigError),
    "officer_channels": ("officer_channels.example.yaml",
                         lambda p: load_officer_channels(p, environ=ROBOT_ENV), NotifyConfigError),
}

SCALARS = ["", "-1", "0", "null", "~", "[]", "{}", "x", "1e309", "-.inf", ".nan", "'\\u0000'",
           "99999999999999999999999", "true", "- a", "{a: [1, {b: }]}", "2026-13-45",
           "'漏报'", "&a 1", "*a", "!!python/object:os.system 'true'", "\t", "'''", "| \n  x"]


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """The shipped file with a few lines deleted, duplicated, re-indented or given odd values."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "value", "indent", "key", "garbage"]))
        line = lines[i]
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, line)
        elif op == "value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: {draw(st.sampled_from(SCALARS))}"
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 7)) + line.lstrip()
        elif op == "key" and ":" in line:
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = f"{indent}{draw(st.text(min_size=1, max_size=8))}:{line.split(':', 1)[1]}"
        else:
            lines[i] = draw(st.text(max_size=40))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_mutated_configuration_is_accepted_or_refused_cleanly(name: str, tmp_path: Path) -> None:
    """Random damage to a shipped configuration file gives the loader's own error with a message."""
    filename, load, error = LOADERS[name]
    original = packaged_file(filename).read_text("utf-8")
    target = tmp_path / filename
    load(packaged_file(filename))  # the shipped file itself loads

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(mutated(original))
    def check(text: str) -> None:
        target.write_text(text, "utf-8")
        try:
            load(target)
        except error as exc:
            assert str(exc).strip(), f"{error.__name__} without a message"

    check()
