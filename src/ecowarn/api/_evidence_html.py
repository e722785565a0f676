"""The printable evidence page: one evidence package in Chinese with English, or in one
language (the console's page, in the page's language).

Rendered from the stored canonical JSON only (what was frozen, not today's data),
with its SHA-256 and chain position printed, inline SVG charts and no external
assets, so a printout or a saved page stands on its own. The rule's parameters and the
findings are tables of named facts with their units (``api/_console_fields.py``), metrics
are named with their units.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from ecowarn.api._console_fields import evidence_rows, metric_label, metric_name, unit_symbol
from ecowarn.api._svg import Line, line_chart
from ecowarn.api._time import CST
from ecowarn.config.metrics import UNITS
from ecowarn.config.registry import Registry
from ecowarn.i18n import EVIDENCE_LABELS, LANGS, Lang, catalog, label, rule_name

__all__ = ["RAW_ROWS_SHOWN", "render_document", "render_evidence"]

RAW_ROWS_SHOWN = 2000
_MAX_POINTS = 720


def _local(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def _devices(package: dict[str, Any]) -> list[dict[str, Any]]:
    """The devices as the package froze them."""
    return list((package.get("registry") or {}).get("devices") or [])


def _thin(points: list[tuple[datetime, float | None]]) -> list[tuple[datetime, float | None]]:
    """At most ``_MAX_POINTS`` points: means of consecutive runs."""
    if len(points) <= _MAX_POINTS:
        return points
    step = -(-len(points) // _MAX_POINTS)
    out: list[tuple[datetime, float | None]] = []
    for i in range(0, len(points), step):
        chunk = points[i:i + step]
        values = [v for _, v in chunk if v is not None]
        out.append((chunk[0][0], sum(values) / len(values) if values else None))
    return out


def _both(word: Any) -> dict[str, str]:
    """``word(lang)`` for each language."""
    return {lang: word(lang) for lang in LANGS}


def _charts(package: dict[str, Any], only: Lang | None) -> list[Markup]:
    kinds = {d["id"]: d.get("kind") for d in _devices(package)}
    series: dict[tuple[str, str], list[tuple[datetime, float | None]]] = {}
    for device_id, metric, ts, value, _flag in package["readings"]["rows"]:
        v = value if isinstance(value, int | float) else None
        series.setdefault((device_id, metric), []).append((datetime.fromisoformat(ts), v))
    groups: dict[tuple[str, str], list[str]] = {}
    for device_id, metric in sorted(series):
        units: dict[str, str] = next((u for k, u in UNITS.items() if k == kinds.get(device_id)), {})
        unit = units.get(metric, metric)
        groups.setdefault((device_id, unit), []).append(metric)
    window = package["window"]
    t0, t1 = datetime.fromisoformat(window["since"]), datetime.fromisoformat(window["until"])
    alert = package["alert"]
    start = datetime.fromisoformat(alert["start"])
    end = datetime.fromisoformat(alert["end"]) if alert.get("end") else t1
    langs: tuple[Lang, ...] = (only,) if only else LANGS

    def words(key: str) -> str:
        return " ".join(catalog(lang, "CONSOLE")[key] for lang in langs)

    def legend(device_id: str, metric: str) -> str:
        return " ".join(metric_label(str(kinds.get(device_id) or ""), metric, lang) for lang in langs)

    return [line_chart([Line(legend(device_id, m), _thin(series[(device_id, m)])) for m in metrics], t0=t0, t1=t1,
                       shade=(start, end), title=f"{device_id} · {unit_symbol(unit, only or 'zh')}",
                       shade_label=words("alert_window"), empty_label=words("no_readings"))
            for (device_id, unit), metrics in groups.items()]


_DOCUMENT_KINDS = {"rectification_submission": ("整改材料", "rectification submission"),
                   "repair_application": ("信用修复申请", "credit repair application")}

_DOCUMENT_PAGE = """<!doctype html><html lang="zh"><head><meta charset="utf-8">
<title>{{ kind[0] }} {{ kind[1] }} #{{ id }}</title>
<style>body{font-family:"WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:2rem;max-width:60rem}
code{overflow-wrap:anywhere;word-break:break-all}.text{white-space:pre-wrap;border:1px solid #ddd;padding:.5rem}
td,th{border-bottom:1px solid #eee;padding:.2rem .5rem;text-align:left}</style></head><body>
<h1>{{ kind[0] }} <small>{{ kind[1] }}</small> #{{ id }}</h1>
<dl><dt>企业 Enterprise</dt><dd>{{ enterprise_id }}</dd>
{% if alert_id %}<dt>预警 Alert</dt><dd>#{{ alert_id }}</dd>{% endif %}
<dt>提交人 Filed by</dt><dd>{{ by }}</dd><dt>存证时间 Kept at</dt><dd>{{ at }}</dd>
<dt>SHA-256</dt><dd><code id="sha256">{{ sha256 }}</code></dd>
<dt>链序号 Chain position</dt><dd>{{ chain_seq }}</dd>
<dt>前一哈希 Previous hash</dt><dd><code>{{ prev_hash }}</code></dd>
<dt>本条哈希 Entry hash</dt><dd><code>{{ chain_hash }}</code></dd></dl>
<p>SHA-256 为所存规范 JSON 的摘要（/api/v1/evidence/{{ id }}/package）；附件由其各自的 SHA-256 绑定。
The SHA-256 is that of the stored canonical JSON (/api/v1/evidence/{{ id }}/package); each file is
bound by its own SHA-256.</p>
{% if text %}<h2>内容 Text</h2><div class="text">{{ text }}</div>{% endif %}
{% if files %}<h2>附件 Files</h2><table><tr><th>文件 File</th><th>字节 Bytes</th><th>类型 Type</th>
<th>SHA-256</th></tr>{% for f in files %}<tr><td>{{ f.filename }}</td><td>{{ f.size }}</td>
<td>{{ f.content_type }}</td><td><code>{{ f.sha256 }}</code></td></tr>{% endfor %}</table>{% endif %}
</body></html>"""


def render_document(env: Environment, row: dict[str, Any]) -> str:
    """HTML of a filed document kept in the chain (``credit.evidence.freeze_document``):
    what was filed, its files' hashes and its chain position, Chinese with English."""
    package = json.loads(row["canonical"])
    body = package.get("body") or {}
    actor = package.get("actor") or {}
    files = [f for f in body.get("attachments") or [] if isinstance(f, dict) and "sha256" in f]
    return env.from_string(_DOCUMENT_PAGE).render(
        kind=_DOCUMENT_KINDS.get(str(package.get("kind")), (str(package.get("kind")),) * 2),
        id=row["id"], enterprise_id=row["enterprise_id"], alert_id=package.get("alert_id"),
        by=" / ".join(str(x) for x in (actor.get("label"), actor.get("role")) if x),
        at=_local(package.get("at")), sha256=row["sha256"], chain_seq=row["chain_seq"],
        prev_hash=row["prev_hash"], chain_hash=row["hash"],
        text=body.get("commitment") or body.get("text"), files=files)


def _device_view(d: dict[str, Any]) -> dict[str, Any]:
    kind, role = str(d.get("kind") or ""), d.get("role")
    return {**d, "kind_text": {lang: EVIDENCE_LABELS.get(f"kind_{kind}", (kind, kind))[i]
                               for i, lang in enumerate(LANGS)},
            "role_text": {lang: EVIDENCE_LABELS.get(f"role_{role}", (str(role), str(role)))[i]
                          for i, lang in enumerate(LANGS)} if role else None,
            "limits_text": _both(lambda lang: ("、" if lang == "zh" else ", ").join(
                f"{metric_name(k, lang)} {v}" for k, v in (d.get("limits") or {}).items()))}


def render_evidence(env: Environment, row: dict[str, Any], *, lang: Lang | None = None,
                    registry: Registry | None = None, links: Sequence[tuple[str, str]] = ()) -> str:
    """HTML of the evidence package in ``row`` (an ``evidence_packages`` row), in ``lang`` alone
    or Chinese with English; ``registry`` names the devices in the facts; ``links`` (url, text)
    lead back to the alert and the credit record. A filed document (not an alert's evidence)
    gets :func:`render_document`."""
    package = json.loads(row["canonical"])
    if "alert" not in package:
        return render_document(env, row)
    alert = package["alert"]
    frozen = package.get("registry") or {}
    raw = package["readings"]
    labels = {k: {"zh": zh, "en": en} for k, (zh, en) in EVIDENCE_LABELS.items()}
    shown = raw["rows"][:RAW_ROWS_SHOWN]
    cut = None
    if raw["count"] > len(shown):
        cut = {lang: text.format(shown=len(shown), count=raw["count"])
               for lang, text in labels["raw_cut"].items()}
    hourly = package["hourly"]
    confirmation = package.get("confirmation") or {}
    actor = confirmation.get("actor") or {}
    kinds = {d["id"]: d.get("kind") for d in _devices(package)}
    subject = next(iter(alert.get("device_ids") or []), "")
    kind = str(kinds.get(subject) or "")
    findings = package.get("findings") if isinstance(package.get("findings"), dict) else {}
    metric = str(findings.get("metric") or next(iter(findings.get("metrics") or []), ""))

    def facts(data: Any) -> dict[str, Any]:
        return _both(lambda lg: evidence_rows(data if isinstance(data, dict) else {"value": data}, registry, lg,
                                              kind=kind, metric=metric))

    severity = str(alert.get("severity") or "")
    return env.get_template("evidence.html").render(
        L=labels, only=lang, links=links, id=row["id"], sha256=row["sha256"], chain_seq=row["chain_seq"],
        prev_hash=row["prev_hash"], chain_hash=row["hash"],
        sha_note={k: v.replace("{id}", str(row["id"])) for k, v in labels["sha256_note"].items()},
        alert={**alert, "start_local": _local(alert["start"]), "end_local": _local(alert.get("end"))},
        rule=_both(lambda lg: rule_name(alert["rule"], lg)), severity=_both(lambda lg: label(severity, lg)),
        summary={"zh": alert.get("summary_zh") or "", "en": alert.get("summary_en") or ""},
        enterprise=frozen.get("enterprise"), devices=[_device_view(d) for d in _devices(package)],
        params=facts(package["rule"]["params"])[lang or "zh"], findings=facts(findings)[lang or "zh"],
        detector=package["detector"],
        window={"since": _local(package["window"]["since"]), "until": _local(package["window"]["until"])},
        confirmed_by=_both(lambda lg: " / ".join(str(x) for x in (
            actor.get("label"), label(actor.get("role"), lg),
            catalog(lg, "EVIDENCE")["token"].format(id=actor["token_id"]) if actor.get("token_id") else "") if x)),
        confirmed_at=_local(confirmation.get("confirmed_at")),
        charts=_charts(package, lang),
        hourly_rows=[[r[0], _both(lambda lg, m=r[1]: metric_name(m, lg)), _local(r[2]), *r[3:]]
                     for r in hourly["rows"]],
        raw_rows=[[r[0], _both(lambda lg, m=r[1]: metric_name(m, lg)), _local(r[2]), r[3], r[4]] for r in shown],
        raw_count=raw["count"], raw_cut=cut, truncated=raw.get("truncated", False),
    )
