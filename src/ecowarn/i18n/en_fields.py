"""English names of metrics, units and the fields of alert evidence and rule parameters.

Part of the English catalog (re-exported by :mod:`ecowarn.i18n.en`); the same keys as
:mod:`ecowarn.i18n.zh_fields`.
"""

from __future__ import annotations

from typing import Final

METRICS: Final[dict[str, str]] = {
    "so2": "SO2", "nox": "NOx", "pm": "particulate matter", "co": "CO", "o2": "oxygen",
    "flow": "flow", "temp": "temperature", "pressure": "pressure", "humidity": "humidity",
    "p": "power", "e": "energy counter", "i": "current", "rs": "run state",
    "pm25": "PM2.5", "pm10": "PM10", "no2": "NO2", "o3": "ozone", "tvoc": "TVOC",
    "wind_dir": "wind direction", "wind_speed": "wind speed",
    "cod": "COD", "nh3n": "ammonia nitrogen (NH3-N)", "tp": "total phosphorus", "tn": "total nitrogen", "ph": "pH",
    "energy_increment": "energy use (increment per minute)",
}

UNIT_SYMBOLS: Final[dict[str, str]] = {
    "mg/m3": "mg/m³", "ug/m3": "μg/m³", "m3/s": "m³/s", "degC": "°C", "deg": "°", "kPa": "kPa", "%": "%",
    "kW": "kW", "kWh": "kWh", "A": "A", "state": "", "m/s": "m/s", "mg/L": "mg/L", "pH": "", "L/s": "L/s",
    "min": "min", "s": "s", "h": "h", "km": "km", "times": "×", "points": "",
}

EVIDENCE_FIELDS: Final[dict[str, str]] = {
    "facts": "facts", "metric": "metric", "metrics": "metrics", "devices": "devices", "device_id": "device",
    "station_id": "air station", "enterprise_id": "enterprise", "severity": "severity", "duration_min": "duration",
    "duration": "duration", "source": "data source", "reason": "reason", "kind": "kind", "id": "number",
    "state": "state", "event": "event", "group": "device group", "stage": "treatment stage",
    "stages": "treatment stages",
    "stages_off": "treatment stages off", "stages_off_devices": "treatment facilities off",
    "production": "production", "production_mean_kw": "production mean power", "production_on_kw":
    "production running above", "production_threshold_kw": "production running above",
    "production_by_device_kw": "power by production unit", "production_ratio": "production load ratio",
    "treatment_kw": "treatment power", "treatment_max_kw": "treatment maximum power",
    "treatment_mean_kw": "treatment mean power", "treatment_off_below_kw": "treatment off below",
    "treatment_on_kw": "treatment running above", "threshold_kw": "threshold", "allowed_kw": "allowed power",
    "rated_kw": "rated power", "member_mean_kw": "member mean power", "member_max_kw": "member maximum power",
    "hourly_mean_kw": "hourly mean power", "max_hourly_mean_kw": "highest hourly mean power",
    "mean_hourly_mean_kw": "mean of hourly mean power", "load_pct": "load", "load_pct_of_baseline":
    "load (of baseline)", "load_ratio": "load ratio", "off_ratio": "off ratio", "high_severity_min":
    "duration for high severity", "medium_severity_min": "duration for medium severity",
    "min_duration_min": "minimum duration", "min_gap_min": "minimum gap", "gap_min": "gap", "silent_min":
    "silent for", "lag_min": "lag", "min_lag_min": "minimum lag", "max_lag_min": "maximum lag", "max_hold_s":
    "maximum hold", "group_window_min": "grouping window", "shutdown_min_duration_min": "minimum shutdown",
    "ph_min_duration_min": "minimum pH excursion", "window_days": "days considered", "baseline": "baseline",
    "baseline_window_s": "baseline window", "baseline_min_samples": "baseline minimum samples", "basis": "basis",
    "band_low": "baseline band low", "band_high": "baseline band high", "robust_sd_k": "robust SD factor",
    "robust_sd_mean": "robust SD mean", "robust_sd_floor_ugm3": "robust SD floor", "mad": "median absolute deviation",
    "cv": "coefficient of variation", "max_cv": "maximum coefficient of variation", "max_window_cv":
    "maximum window coefficient of variation", "mean_within_hour_cv": "mean within-hour coefficient of variation",
    "limit": "emission limit", "limit_pct": "percent of limit", "limit_tolerance": "limit tolerance",
    "tolerance": "tolerance", "ratio_to_limit": "ratio to limit", "max_ratio_to_limit": "highest ratio to limit",
    "ratio_pct": "ratio", "excess_pct": "excess", "hours": "valid hours", "high_hours": "hours above",
    "min_hours": "minimum hours", "min_valid_hours": "minimum valid hours", "min_valid_minutes":
    "minimum valid minutes per hour", "min_points_per_hour": "minimum points per hour", "n_valid": "valid values",
    "min_samples": "minimum samples", "hourly": "hourly values", "hourly_converted": "converted hourly concentration",
    "max_hourly_converted": "highest converted hourly concentration", "mean_hourly_converted":
    "mean converted hourly concentration", "min_hourly_converted": "lowest converted hourly concentration",
    "converted": "converted concentration", "ref_o2_pct": "reference oxygen", "o2_pct": "oxygen", "o2_mean_pct":
    "mean oxygen", "o2_max_pct": "highest oxygen", "o2_min_pct": "lowest oxygen", "o2_threshold_pct":
    "oxygen threshold", "value": "value", "max_value": "highest value", "min_value": "lowest value", "mean_value":
    "mean value", "max": "highest", "min": "lowest", "mean": "mean", "means": "means", "max_mean": "highest mean",
    "max_ratio": "highest ratio", "high": "upper bound", "low": "lower bound", "high_ratio": "upper ratio",
    "low_ratio": "lower ratio", "flow_threshold": "flow threshold", "flow_ratio": "flow ratio", "flow_mean":
    "mean flow", "flow_max": "highest flow", "ph_range": "allowed pH range", "points": "data points", "measure":
    "measured by", "neighbours": "neighbouring stations", "neighbour_median_mean": "neighbours' median mean",
    "min_neighbours": "minimum neighbours", "min_neighbours_with_data": "minimum neighbours with data",
    "mean_excess": "mean excess", "max_excess": "highest excess", "min_excess_ugm3": "minimum excess",
    "radius_km": "radius", "distance_km": "distance", "bearing_deg": "bearing", "from_deg": "wind from",
    "offset_deg": "offset", "upwind": "upwind", "upwind_max_km": "upwind maximum distance",
    "upwind_half_sector_deg": "upwind half sector", "wind": "wind", "speed_ms": "wind speed", "calm_wind_ms":
    "calm wind speed", "by_metric": "by metric", "start_s": "start", "end_s": "end", "as_of_s": "as of",
    "now_s": "judged at", "hour_s": "hour", "arrival_s": "arrived", "last_arrival_s": "last arrival",
    "last_reading_s": "last reading", "next_reading_s": "next reading", "last_event_reading_s":
    "last reading before the event", "first_silent_s": "silent since", "last_resumed_s": "last resumed",
    "order_start_s": "order start", "order_end_s": "order end", "orders": "emergency orders", "periods": "periods",
    "silences": "silences", "devices_silent": "silent devices", "still_silent": "still silent", "resumed": "resumed",
    "merged_outage": "merged outage", "filled_by_late_data": "filled by late data", "superseded_by": "superseded by",
    "suppressed_by_maintenance": "no alert during maintenance", "maintenance_excluded": "maintenance excluded",
    "maintenance_ids": "maintenance declarations", "flag_counts": "counts by data flag", "flags_checked":
    "flags checked", "valid_flags": "valid flags", "marking_flags": "abnormal data flags", "metrics_marked":
    "metrics marked", "under_the_marks": "data under the marks", "raw": "raw value", "wind_dir": "wind direction",
    "wind_speed": "wind speed",
    "doc.alert_id": "alert", "doc.due": "due", "doc.rectification": "rectification", "doc.requirements":
    "requirements", "doc.rule": "rule", "doc.submission": "submission number", "doc.application_id": "application",
    "doc.deduction": "deduction", "doc.id": "number", "doc.points": "points", "doc.severity": "severity",
    "doc.recorded_at": "recorded", "doc.hash": "hash", "doc.publication": "publication", "doc.class": "class",
    "doc.allowed_from": "repair allowed from", "doc.filed_at": "filed", "doc.class_ordinary": "ordinary",
    "doc.class_serious": "serious", "doc.rectification_id": "rectification", "doc.submission_id": "submission",
    # the stage members of a treatment_underload alert, a baseline's sample count, and the
    # production power of alerts written by earlier builds
    "members": "units of the stage", "n": "samples", "production_kw": "production power",
}

FILE_KINDS: Final[dict[str, str]] = {
    "application/pdf": "PDF document", "image/jpeg": "JPEG picture", "image/png": "PNG picture",
    "image/webp": "WebP picture", "text/plain": "text file", "text/csv": "CSV table",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word document (DOCX)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel workbook (XLSX)",
}
