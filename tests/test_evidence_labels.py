"""Every key the rule evaluators can put into an alert's evidence has a name in both languages.

The keys are collected from the detectors' source (``src/ecowarn/detectors``): the facts of
each ``Finding(...)``, the dict literals passed as ``evidence=`` or ``facts=``, assigned to
``facts`` / ``evidence`` or to one of their keys (``facts["members"] = ...``), merged into them
(``.update``, ``.setdefault``), and returned by the ``*_evidence`` helpers. A key added there
without a name in ``EVIDENCE_FIELDS`` (zh_fields, en_fields) would show raw on the alert page's
evidence table, as ``production_kw`` once did.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

from ecowarn.api._console_fields import evidence_rows
from ecowarn.i18n import LANGS, Lang, catalog

DETECTORS: Final = Path(__file__).resolve().parents[1] / "src" / "ecowarn" / "detectors"
_HOLDERS: Final = frozenset({"facts", "evidence"})


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal_keys(node: ast.AST | None, out: set[str]) -> None:
    """String keys of the dict literals in ``node`` (nested dicts, lists and comprehensions)."""
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values, strict=True):
            if isinstance(k, ast.Constant) and isinstance(k.value, str):
                out.add(k.value)
            _literal_keys(v, out)
    elif isinstance(node, ast.List | ast.Tuple):
        for e in node.elts:
            _literal_keys(e, out)
    elif isinstance(node, ast.ListComp):
        _literal_keys(node.elt, out)
    elif isinstance(node, ast.DictComp):
        _literal_keys(node.value, out)
    elif isinstance(node, ast.Call) and _name(node.func) == "dict":
        for kw in node.keywords:
            if kw.arg:
                out.add(kw.arg)
            _literal_keys(kw.value, out)


def _keys_of(source: str) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            if _name(node.func) == "Finding" and len(node.args) >= 3:
                _literal_keys(node.args[2], out)
            for kw in node.keywords:
                if kw.arg in _HOLDERS:
                    _literal_keys(kw.value, out)
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("update", "setdefault") \
                    and _name(node.func.value) in _HOLDERS:
                for arg in node.args:
                    _literal_keys(arg, out)
                if node.func.attr == "setdefault" and node.args and isinstance(node.args[0], ast.Constant):
                    out.add(str(node.args[0].value))
                out.update(kw.arg for kw in node.keywords if kw.arg)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if _name(t) in _HOLDERS:
                    _literal_keys(node.value, out)
                if isinstance(t, ast.Subscript) and _name(t.value) in _HOLDERS \
                        and isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str):
                    out.add(t.slice.value)
                    _literal_keys(node.value, out)
        elif isinstance(node, ast.FunctionDef) and node.name.endswith("_evidence"):
            for r in ast.walk(node):
                if isinstance(r, ast.Return):
                    _literal_keys(r.value, out)
    return out


def evidence_keys() -> dict[str, set[str]]:
    """Each evidence key the detectors can emit -> the files that emit it."""
    keys: dict[str, set[str]] = {}
    for path in sorted(DETECTORS.rglob("*.py")):
        for key in _keys_of(path.read_text(encoding="utf-8")):
            keys.setdefault(key, set()).add(str(path.relative_to(DETECTORS)))
    return keys


def test_the_collector_finds_the_keys_of_findings_evidence_and_helpers() -> None:
    """The collection is not empty by accident: it finds keys of each kind of place (a Finding's
    facts, an ``evidence=`` literal, a key assigned on ``facts``, a ``*_evidence`` helper)."""
    keys = evidence_keys()
    assert len(keys) > 80
    assert {"duration_min", "production_mean_kw", "treatment_off_below_kw"} <= set(keys)  # Finding facts
    assert "treatment_off.py" in keys["duration_min"]
    assert "runtime/eval_treatment_underload.py" in keys["members"]  # facts["members"] = ...
    assert "runtime/_evalbase.py" in keys["n"]  # baseline_evidence()
    assert "metric" in keys  # evidence={"facts": ..., "metric": "p"}


@pytest.mark.parametrize("lang", LANGS)
def test_every_evidence_key_has_a_name(lang: Lang) -> None:
    """Every key the evaluators can emit is named in ``EVIDENCE_FIELDS`` of ``lang`` (or is a rule
    or metric id, which the page names from those tables), and the evidence table shows the name,
    not the key."""
    names, rules, metrics = (catalog(lang, t) for t in ("EVIDENCE_FIELDS", "RULES", "METRICS"))
    keys = evidence_keys()
    missing = {k: sorted(files) for k, files in keys.items() if k not in names and k not in rules
               and k not in metrics}
    assert not missing, f"evidence keys without a {lang} name: {missing}"
    shown = {k: [r.name for r in evidence_rows({"facts": {k: 1}}, None, lang)] for k in keys}
    wrong = {k: v for k, v in shown.items() if v != [names.get(k) or rules.get(k) or metrics[k]]}
    assert not wrong, wrong


def test_old_alerts_production_kw_is_named() -> None:
    """``production_kw``, found in the evidence of alerts from an earlier build, is named too."""
    cases: tuple[tuple[Lang, str], ...] = (("zh", "生产设施功率"), ("en", "production power"))
    for lang, name in cases:
        rows = evidence_rows({"facts": {"production_kw": 512.0}}, None, lang)
        assert [(r.name, r.value) for r in rows] == [(name, "512 kW")]
