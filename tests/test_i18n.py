"""One message catalog per language: English is as complete as Chinese, placeholders agree."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path
from types import ModuleType

import pytest

from ecowarn.i18n import (
    CATALOGS,
    LANGS,
    Count,
    Join,
    Minutes,
    Phrase,
    en,
    fmt,
    label,
    render,
    rule_name,
    summary,
    zh,
)

_FIELDS = string.Formatter()


def _placeholders(message: str) -> set[str]:
    return {name for _, name, _, _ in _FIELDS.parse(message) if name}


def test_both_catalogs_have_the_same_areas_keys_and_placeholders() -> None:
    """Every area and every key of the Chinese catalog exists in English and the other way
    round, with the same {placeholders}; no message is empty."""
    assert zh.__all__ == en.__all__
    problems = []
    for area in zh.__all__:
        z, e = getattr(zh, area), getattr(en, area)
        if z.keys() != e.keys():
            problems.append(f"{area}: only zh {sorted(z.keys() - e.keys())}, only en {sorted(e.keys() - z.keys())}")
            continue
        for key in z:
            if not z[key].strip() or not e[key].strip():
                problems.append(f"{area}.{key}: empty")
            if _placeholders(z[key]) != _placeholders(e[key]):
                problems.append(f"{area}.{key}: placeholders {_placeholders(z[key])} != {_placeholders(e[key])}")
    assert problems == []


def test_chinese_catalog_is_chinese() -> None:
    """Chinese messages carry Chinese text (not English left untranslated), except codes and
    product names listed here."""
    cjk = re.compile(r"[\u4e00-\u9fff]")
    allowed = {"other_lang"}  # the link to the other language is written in that language
    untranslated = [f"{area}.{key}" for area in zh.__all__ for key, msg in getattr(zh, area).items()
                    if key not in allowed and not cjk.search(msg)]
    assert untranslated == []


def test_lookups_fall_back_to_the_code() -> None:
    """Known rules and labels come from the catalog; an unknown code is shown as itself."""
    assert set(CATALOGS) == set(LANGS) == {"zh", "en"}
    assert rule_name("treatment_off", "zh") == "治污设施未运行"
    assert rule_name("treatment_off", "en") == "Treatment off while production runs"
    assert rule_name("no_such_rule", "zh") == "no_such_rule"
    assert label("confirmed", "zh") == "已确认违法" and label(None, "en") == ""


def _wording(module: ModuleType) -> dict[str, str]:
    return {**module.PHRASES, **module.FORMS, **module.ALERTS}


def test_alert_wording_has_the_same_keys_and_fields_in_both_languages() -> None:
    """ALERTS, FORMS, PHRASES and ERRORS have the same keys in both languages. PHRASES and ERRORS
    are areas (same placeholders, Chinese text: the tests above); FORMS messages have the same
    placeholders; an ALERTS message may leave out a fact the other language states, but only
    one its catalog lists in OMITTED, so both languages account for the same fields. No key is
    in two of PHRASES, FORMS and ALERTS (a Phrase names any of them)."""
    assert {"ERRORS", "PHRASES"} <= set(zh.__all__)
    problems = []
    for area in ("ALERTS", "FORMS", "PHRASES", "ERRORS"):
        z, e = getattr(zh, area), getattr(en, area)
        if z.keys() != e.keys():
            problems.append(f"{area}: only zh {sorted(z.keys() - e.keys())}, only en {sorted(e.keys() - z.keys())}")
    for key in zh.FORMS.keys() & en.FORMS.keys():
        if _placeholders(zh.FORMS[key]) != _placeholders(en.FORMS[key]):
            problems.append(f"FORMS.{key}: placeholders differ")
    for module in (zh, en):
        assert set(module.OMITTED) <= set(module.ALERTS), module.__name__
        areas = (module.PHRASES, module.FORMS, module.ALERTS)
        keys = [k for a in areas for k in a]
        if len(keys) != len(set(keys)):
            problems.append(f"{module.__name__}: keys in two of PHRASES, FORMS, ALERTS")
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for key in zh.ALERTS.keys() & en.ALERTS.keys():
        z, e = zh.ALERTS[key], en.ALERTS[key]
        z_left, e_left = zh.OMITTED.get(key, frozenset()), en.OMITTED.get(key, frozenset())
        if not z.strip() or not e.strip() or not cjk.search(z):
            problems.append(f"ALERTS.{key}: empty or not Chinese")
        if _placeholders(z) & z_left or _placeholders(e) & e_left:
            problems.append(f"ALERTS.{key}: a field listed in OMITTED is stated")
        if _placeholders(z) | z_left != _placeholders(e) | e_left:
            problems.append(f"ALERTS.{key}: fields {sorted(_placeholders(z) | z_left)} (zh) != "
                            f"{sorted(_placeholders(e) | e_left)} (en)")
    assert problems == []


def test_every_message_key_named_in_the_code_exists() -> None:
    """Each literal message key the code passes to summary() or Phrase() is in the catalogs
    (keys built at run time, metric_<metric> and flag_<flag>, are exercised by the evaluator
    tests)."""
    src = Path(__file__).resolve().parent.parent / "src" / "ecowarn"
    named: set[str] = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("summary", "Phrase") and node.args):
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    named.add(first.value)
                elif isinstance(first, ast.IfExp):
                    named |= {b.value for b in (first.body, first.orelse)
                              if isinstance(b, ast.Constant) and isinstance(b.value, str)}
    assert len(named) > 30
    assert named - _wording(zh).keys() == set()
    assert named - _wording(en).keys() == set()


def test_rendering_durations_counts_nested_phrases_and_lists() -> None:
    """Minutes read in minutes below 180 and in hours from 180 on; a Count picks singular or
    plural; phrases nest, lists join with each language's separator and fall back to their
    empty phrase; summary() gives (English, Chinese)."""
    assert (render(Minutes(179), "en"), render(Minutes(179), "zh")) == ("179 min", "179 分钟")
    assert (render(Minutes(180), "en"), render(Minutes(180), "zh")) == ("3 h", "3 小时")
    assert render(Minutes(37.25), "en") == "37.2 min" and render(Minutes(250), "zh") == "4.2 小时"
    assert [render(Count("hours", n), "en") for n in (1, 2)] == ["1 hour", "2 hours"]
    assert render(Count("hours", 1), "zh") == "1 小时"
    upwind = Join([Phrase("at_distance", name="Steel", km=fmt(2.345)), Phrase("at_distance", name="Glass", km="7")],
                  empty=Phrase("no_registered_enterprise"))
    wind = Phrase("wind_from", from_deg=fmt(271.6, 0), speed=fmt(3.456), upwind=upwind)
    assert render(wind, "en") == "wind from 272 deg at 3.5 m/s; upwind: Steel (2.3 km), Glass (7 km)"
    assert render(wind, "zh") == "风向 272 度、风速 3.5 m/s，上风向：Steel（2.3 km）、Glass（7 km）"
    nobody = Join([], empty=Phrase("no_registered_enterprise"))
    assert (render(nobody, "en"), render(nobody, "zh")) == ("no registered enterprise", "无已登记企业")
    assert render(Join(["a", "b"], sep="clauses"), "zh") == "a；b"
    assert summary("data_gap_resumed", next_reading="11-23 00:10", gap=Minutes(200)) == (
        "; messages resumed, next reading 11-23 00:10 (3.3 h after the last one)",
        "；数据已恢复，下一条数据时间 11-23 00:10")
    with pytest.raises(KeyError):
        summary("no_such_alert")
