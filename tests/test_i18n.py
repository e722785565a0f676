"""One message catalog per language: English is as complete as Chinese, placeholders agree."""

from __future__ import annotations

import re
import string

from ecowarn.i18n import CATALOGS, LANGS, en, label, rule_name, zh

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
