"""Private: the alert of a ``data_gap`` outage, worded (see ``_gap_groups``).

An outage of one device reads as before grouping: a gap in event time
(``data_gap``/``data_gap_trimmed``) or a wall-clock silence (``data_gap_silent``...). An outage
of several devices names the site (or the air stations), how many went silent from when and
which, says it looks like a site or network outage, and either when all reported again or
which are still silent (``data_gap_group``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Registry
from ecowarn.detectors.data_gap import RULE_ID, DataGapParams
from ecowarn.detectors.runtime._evalbase import device_en, device_phrase, fmt, local_hm, maintenance_evidence, state
from ecowarn.detectors.runtime._gap_groups import EVENT_TIME, WALL_CLOCK, Outage, Silence
from ecowarn.detectors.runtime._load import Maintenance
from ecowarn.detectors.runtime.contract import utc
from ecowarn.i18n import Count, Join, Localisable, Minutes, Phrase, summary

__all__ = ["OutageDrafter"]


@dataclass(frozen=True, slots=True)
class OutageDrafter:
    registry: Registry
    params: DataGapParams
    metrics: Mapping[str, Sequence[str]]

    def param_dict(self) -> dict[str, Any]:
        p = self.params
        return {"min_gap_min": p.min_gap_min, "medium_severity_min": p.medium_severity_min,
                "high_severity_min": p.high_severity_min, "suppressed_by_maintenance": p.suppressed_by_maintenance,
                "group_window_min": p.group_window_min}

    def draft(self, group: str, outage: Outage, *, until_s: int | None = None,
              now_s: float | None = None) -> AlertDraft:
        """The outage's alert: ``until_s`` the newest reading of the group (event time),
        ``now_s`` the wall clock of a sweep."""
        if len(outage.device_ids) == 1:
            s = outage.silences[0]
            if s.end_s is not None and s.source == EVENT_TIME:
                return self._gap(group, outage, s)
            if s.end_s is None and now_s is not None:
                return self._silent(group, outage, s, now_s)
        return self._group(group, outage, until_s=until_s, now_s=now_s)

    def _draft(self, outage: Outage, *, severity: str, texts: tuple[str, str], evidence: dict[str, Any],
               start_s: int | None = None) -> AlertDraft:
        dev = self.registry.devices[outage.subject] if outage.subject in self.registry.devices else None
        members = [self.registry.devices[d] for d in outage.device_ids]
        end = outage.end_s
        return AlertDraft(
            rule=RULE_ID, subject=outage.subject,
            enterprise_id=(dev or members[0]).enterprise_id, device_ids=tuple(sorted(outage.device_ids)),
            start=utc(outage.start_s if start_s is None else start_s), end=None if end is None else utc(end),
            severity=severity, summary=texts[0], summary_zh=texts[1], params=self.param_dict(), evidence=evidence)

    def _base_evidence(self, group: str, outage: Outage, source: str) -> dict[str, Any]:
        ids = outage.device_ids
        return {"source": source, "group": group, "silences": [s.record() for s in outage.silences],
                "metrics": list(self.metrics[ids[0]]) if len(ids) == 1 else {d: list(self.metrics[d]) for d in ids},
                "devices": {d: device_en(self.registry.devices[d]) for d in ids}}

    def _gap(self, group: str, outage: Outage, s: Silence) -> AlertDraft:
        """One device, a gap between readings (as before grouping)."""
        assert s.end_s is not None
        gap_min = (s.end_s - s.start_s) / 60.0
        sev = self.params.severity(gap_min)
        texts = summary(
            "data_gap_trimmed" if s.cut else "data_gap", device=device_phrase(self.registry.devices[s.device_id]),
            gap=Minutes(gap_min), start=local_hm(s.start_s), end=local_hm(s.end_s),
            maintenance_ids=", ".join(str(m.id) for m in s.cut), min_gap=fmt(self.params.min_gap_min))
        facts = {"gap_min": gap_min, "min_gap_min": self.params.min_gap_min, "severity": sev,
                 "last_reading_s": s.last_reading_s, "next_reading_s": s.next_reading_s}
        return self._draft(outage, severity=sev, texts=texts, evidence={
            **self._base_evidence(group, outage, EVENT_TIME), "facts": facts,
            "maintenance_excluded": maintenance_evidence(s.cut)})

    def _silent(self, group: str, outage: Outage, s: Silence, now_s: float) -> AlertDraft:
        """One device silent on the wall clock (as before grouping)."""
        silent_min = float(s.silent_min or 0.0)
        sev = self.params.severity(silent_min)
        arrived = int(s.arrival_s if s.arrival_s is not None else s.start_s)
        texts = summary(
            "data_gap_silent_unstored" if s.last_reading_s is None else "data_gap_silent",
            device=device_phrase(self.registry.devices[s.device_id]), silent=Minutes(silent_min),
            arrived=local_hm(arrived), last_reading="" if s.last_reading_s is None else local_hm(s.last_reading_s),
            state=state(None))
        facts = {"silent_min": silent_min, "last_arrival_s": arrived, "last_reading_s": s.start_s,
                 "now_s": int(now_s), "min_gap_min": self.params.min_gap_min, "severity": sev,
                 "last_event_reading_s": s.last_reading_s}
        return self._draft(outage, severity=sev, texts=texts,
                           evidence={**self._base_evidence(group, outage, WALL_CLOCK), "facts": facts})

    def group_texts(self, group: str, outage: Outage, *, now_s: float | None = None) -> tuple[str, str]:
        """The summary of an outage of several devices (``now_s``: worded by a sweep)."""
        devs = [self.registry.devices[d] for d in outage.device_ids]
        ent = self.registry.enterprises.get(devs[0].enterprise_id or "") if group.startswith("site:") else None
        site: Localisable = Phrase("air_stations") if ent is None else Phrase("site_named", name=ent.name, id=ent.id)
        still = [s for s in outage.silences if s.end_s is None]
        end = outage.end_s
        extent: Localisable
        if end is not None:
            extent = Phrase("gap_group_ended", end=local_hm(end), gap=Minutes((end - outage.start_s) / 60.0))
        elif now_s is not None:
            arrived = min(s.arrival_s if s.arrival_s is not None else s.start_s for s in still)
            extent = Phrase("gap_group_silent", still=Join(device_phrase(self.registry.devices[s.device_id])
                                                           for s in still),
                            silent=Minutes(max(float(s.silent_min or 0.0) for s in still)), arrived=local_hm(arrived))
        else:
            extent = Phrase("gap_group_waiting", still=Join(device_phrase(self.registry.devices[s.device_id])
                                                            for s in still))
        return summary(
            "data_gap_group", site=site, count=Count("devices" if ent is not None else "stations", len(devs)),
            start=local_hm(outage.start_s), devices=Join(device_phrase(d) for d in devs),
            outage=Phrase("outage_site" if ent is not None else "outage_network"), extent=extent, state=state(end))

    def _group(self, group: str, outage: Outage, *, until_s: int | None, now_s: float | None) -> AlertDraft:
        end = outage.end_s
        spans = [((s.end_s - s.start_s) / 60.0) for s in outage.silences if s.end_s is not None]
        spans += [float(s.silent_min) for s in outage.silences if s.end_s is None and s.silent_min is not None]
        if end is not None:
            length = (end - outage.start_s) / 60.0
        else:
            length = max([*spans, *([(until_s - outage.start_s) / 60.0] if until_s is not None else [])],
                         default=0.0)
        sev = self.params.severity(length)
        facts: dict[str, Any] = {
            "devices_silent": len(outage.device_ids), "min_gap_min": self.params.min_gap_min,
            "group_window_min": self.params.group_window_min, "severity": sev,
            "first_silent_s": outage.start_s, "last_resumed_s": end,
            "still_silent": [s.device_id for s in outage.silences if s.end_s is None]}
        facts["gap_min" if end is not None else "silent_min"] = length
        if now_s is not None:
            facts["now_s"] = int(now_s)
        cut: list[Maintenance] = [m for s in outage.silences for m in s.cut]
        source = EVENT_TIME if all(s.source == EVENT_TIME for s in outage.silences) else WALL_CLOCK
        return self._draft(outage, severity=sev, texts=self.group_texts(group, outage, now_s=now_s), evidence={
            **self._base_evidence(group, outage, source), "facts": facts,
            "maintenance_excluded": maintenance_evidence(list({m.id: m for m in cut}.values()))})
