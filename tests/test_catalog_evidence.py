"""Evaluation catalogs name each item's expected evidence in Chinese and English: the shipped
files carry both, the validator refuses an entry without both (file:line), and the catalogs'
JSON and the evaluation form show them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_api_support import ApiEnv

from ecowarn.credit._catalogs import DEFAULT_CATALOG_FILES, CatalogConfigError
from ecowarn.credit.evaluation import default_credit_model, load_credit_model

pytest_plugins = ("test_api_support",)

SCHEMES = Path(__file__).resolve().parent.parent / "src/ecowarn/config/credit_levels.yaml"
HEAD = ("id: ev\nname: {zh: 证, en: ev}\nscheme: hebei\nbase: 100\ncategories:\n"   # 1-5
        "  - id: cat\n    name: {zh: 类, en: cat}\n    items:\n")                 # 6-8


def test_every_shipped_item_has_its_evidence_in_both_languages() -> None:
    """Each item of the packaged catalogs that expects evidence names every piece in Chinese
    and English, and the English is not the Chinese copied."""
    model = default_credit_model()
    assert len(model.catalogs) == len(DEFAULT_CATALOG_FILES)
    items = [it for c in model.catalogs.values() for it in c.ordered_items()]
    assert len(items) == 67 and all(it.evidence for it in items)
    for it in items:
        for e in it.evidence:
            assert e.zh.strip() and e.en.strip() and e.zh != e.en, (it.id, e)
            assert e.en.isascii(), (it.id, e.en)


def test_evidence_without_english_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    """A bare (Chinese only) entry, one missing its English, an empty one and one with another
    key are each a problem at their line; the catalog is refused."""
    bad = tmp_path / "ev.yaml"
    bad.write_text(HEAD +
                   "      - id: a\n"                                     # 9
                   "        name: {zh: 甲, en: a}\n"                     # 10
                   "        kind: deduction\n"                           # 11
                   "        max_points: 2\n"                             # 12
                   "        source: placeholder\n"                       # 13
                   "        evidence:\n"                                 # 14
                   "          - 检查笔录\n"                               # 15
                   "          - {zh: 现场照片}\n"                         # 16
                   "          - {zh: 台账, en: '  '}\n"                  # 17
                   "          - {zh: 记录, en: records, fr: dossiers}\n"  # 18
                   "          - {zh: 监测报告, en: Monitoring reports}\n",  # 19
                   encoding="utf-8")
    with pytest.raises(CatalogConfigError) as err:
        load_credit_model([bad], SCHEMES)
    problems = err.value.problems
    path = "categories[0].items[0].evidence"
    assert [p.split(": ")[0] for p in problems] == [f"{bad}:{n}" for n in (15, 16, 17, 18)], problems
    assert problems[0].startswith(f"{bad}:15: {path}[0]: evidence '检查笔录' needs its Chinese and English")
    assert problems[1].startswith(f"{bad}:16: {path}[1]: an evidence entry is {{zh: ..., en: ...}}")
    assert problems[2] == f"{bad}:17: {path}[2]: evidence entries must not be empty: en"
    assert problems[3].startswith(f"{bad}:18: {path}[3]: an evidence entry is")


def test_a_valid_entry_loads_in_both_languages(tmp_path: Path) -> None:
    """An entry {zh, en} becomes the item's evidence in both languages, trimmed."""
    good = tmp_path / "ev.yaml"
    good.write_text(HEAD + "      - {id: a, name: {zh: 甲, en: a}, kind: bonus, max_points: 2, source: placeholder,\n"
                           "         evidence: [{zh: ' 检查笔录 ', en: Inspection record}]}\n", encoding="utf-8")
    model = load_credit_model([good], SCHEMES)
    (e,) = model.catalogs["ev"].items["a"].evidence
    assert (e.zh, e.en) == ("检查笔录", "Inspection record")


async def test_catalogs_json_and_the_evaluation_form_carry_both(api: ApiEnv) -> None:
    """GET /credit/catalogs gives ``evidence`` (Chinese) and ``evidence_en`` per item; the
    evaluation form lists the expected evidence in the page's language."""
    officer = await api.headers("officer")
    r = await api.client.get("/api/v1/credit/catalogs", headers=officer)
    assert r.status_code == 200
    hebei = next(c for c in r.json()["items"] if c["id"] == "hebei_initial")
    eia = next(i for i in hebei["items"] if i["id"] == "eia_approval")
    assert eia["evidence"] == ["环评批复或备案文件", "现场核对建设内容"]
    assert eia["evidence_en"] == ["EIA approval or filing document", "On-site check of what was built"]

    token = await api.token("officer")
    assert (await api.client.get("/console/login", params={"token": token})).status_code == 303
    zh = await api.client.get("/console/credit/evaluations/new", params={"catalog": "hebei_initial"})
    en = await api.client.get("/console/credit/evaluations/new", params={"catalog": "hebei_initial", "lang": "en"})
    assert zh.status_code == en.status_code == 200, (zh.text[:300], en.text[:300])
    assert "环评批复或备案文件；现场核对建设内容" in zh.text
    assert "EIA approval or filing document; On-site check of what was built" in en.text
