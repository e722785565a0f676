"""Message catalog, English: every key of the Chinese catalog, equally complete.

One dict per area (``__all__``); ``tests/test_i18n.py`` checks that both catalogs have the
same keys and the same ``{placeholders}`` in every message. Alert summaries are checked
apart: an ``ALERTS`` message may leave out facts the other language states (each one listed
in ``OMITTED``), and ``FORMS`` holds punctuation and codes that have nothing to translate.
Messages are ``str.format`` templates; numbers arrive formatted.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ATTACHMENTS", "CONSOLE", "CREDIT", "ENTRY_TYPES", "ERRORS", "EVALUATION", "EVALUATION_REPORT",
           "EVIDENCE", "LABELS", "NOTIFY", "PHRASES", "RECTIFICATION", "RULES", "SUPERVISION", "WORKFLOW"]

# console pages (login, alerts, readings)
CONSOLE: Final[dict[str, str]] = {
    "title": "ecowarn alert console",
    "alerts": "Alerts",
    "rule": "Rule",
    "enterprise": "Enterprise",
    "equipment": "Equipment",
    "start": "Start",
    "end": "End",
    "ongoing": "ongoing",
    "severity": "Severity",
    "status": "Status",
    "summary": "Summary",
    "evidence": "Evidence",
    "params": "Parameters",
    "readings": "Readings",
    "alert_window": "alert window",
    "no_readings": "no readings in this window",
    "no_alerts": "No alerts",
    "older": "Older alerts",
    "back": "Back to the list",
    "logout": "Log out",
    "other_lang": "中文",
    "login": "Log in",
    "login_intro": "Enter an access token. An administrator creates it on the server; it is shown once:",
    "login_token": "Access token",
    "login_bad": "The token is invalid, expired or revoked.",
    "login_roles": ("Enforcement officers use an officer token; enterprises an enterprise token "
                    "(with --enterprise and the unified social credit code)."),
    "error": "Error",
    "timezone": "Times are China Standard Time (UTC+8).",
}

# credit pages and warnings
CREDIT: Final[dict[str, str]] = {
    "enterprises": "Enterprise credit",
    "enterprise": "Enterprise",
    "score": "Credit score",
    "level": "Level",
    "entries": "Entries",
    "levels_note": "Hebei levels: A >= 85, B 70-84, C 50-69, D 30-49, E <= 29 (out of 100).",
    "warnings": "Risk warnings",
    "no_warnings": "No risk warnings",
    "channel": "Channel",
    "delivery": "Delivery",
    "delivered": "delivered",
    "pending": "sending",
    "failed": "failed",
    "attempts": "Attempts",
    "answers": "Statements and defences",
    "no_answers": "No statements yet",
    "history": "Credit history",
    "no_history": "No credit entries",
    "recorded": "Recorded",
    "type": "Type",
    "points": "Points",
    "score_after": "Score after",
    "reason": "Reason",
    "evidence": "Evidence",
    "repair_after": "Repairable from",
    "reversed": "reversed",
    "repaired": "repaired",
    "alert": "Alert",
    "rule": "Rule",
    "start": "Start",
    "summary": "Summary",
    "full_score": "No deductions: full score.",
    "repair_app_not_deduction": "entry {entry} is not a deduction; only deductions can be repaired on application",
    "repair_app_no_points": "deduction {entry} took no points; there is nothing to repair",
    "repair_app_reversed": "deduction {entry} was reversed; there is nothing to repair",
    "repair_app_repaired": "deduction {entry} is already repaired",
    "repair_app_no_alert": "deduction {entry} rests on no alert; it cannot be repaired on application",
    "repair_app_pending": "deduction {entry} already has a pending credit repair application ({application})",
    "repair_app_too_early": ("the minimum publication period has not passed: credit repair of deduction "
                             "{entry} can be applied for from {allowed_at}"),
    "repair_app_approve_early": ("the minimum publication period ends at {allowed_at}; credit repair "
                                 "application {application} cannot be approved before"),
    "repair_app_decided": ("credit repair application {application} is {status} already; only a pending "
                           "one can be approved or rejected"),
    "repair_app_commitment": "a commitment of 1 to {max} characters is needed",
    "repair_app_reason": "a reason of 1 to {max} characters is needed",
    "repair_app_references": "at most {max} references of 1 to {len} characters",
}

# the alert workflow: queue, trail, actions, answers
WORKFLOW: Final[dict[str, str]] = {
    "queue": "Enforcement queue",
    "alerts": "Alerts",
    "workflow": "Handling",
    "score": "Risk score",
    "assignee": "Assignee",
    "unassigned": "unassigned",
    "due": "Answer due",
    "overdue": "overdue",
    "escalation": "Escalation",
    "repeats": "Repeats",
    "credit": "Credit level",
    "answers": "Enterprise answers",
    "no_answers": "No answer yet",
    "episodes": "Repeat episodes",
    "comments": "Comments",
    "trail": "Trail",
    "actions": "Actions",
    "reason": "Reason",
    "reason_hint": "required to dismiss and for a false alarm",
    "disposition": "Disposition",
    "claim": "Claim",
    "comment": "Add comment",
    "public": "visible to the enterprise",
    "submit": "Submit",
    "answer": "Answer",
    "answer_kind": "Kind",
    "answer_text": "Text",
    "attachments": "Attachment references (one per line)",
    "maintenance": "Maintenance window (optional, with declared maintenance)",
    "device": "Device",
    "filter": "Filter",
    "all": "all",
    "region": "Region",
    "mine": "mine",
    "more": "More",
    "empty_queue": "The queue is empty",
    "by": "By",
    "at": "Time",
    "event": "Event",
    "system": "system",
    "no_actions": "No action possible in this status",
    "disposition_reason": "Reason",
    "ev_opened": "raised by the platform",
    "ev_transition": "status change",
    "ev_claim": "claimed",
    "ev_assign": "assigned",
    "ev_comment": "comment",
    "ev_answer": "enterprise answer",
    "ev_escalated": "escalated",
    "ev_repeat": "repeat trigger",
    "ev_superseded": "merged into another alert",
    "ev_answers_read": "an officer read the answers",
    "pending_maintenance": "Maintenance declarations awaiting approval",
    "pending_maintenance_note": ("A declaration made after the fact or longer than allowed suppresses no alert "
                                 "until an officer approves it."),
    "window": "Maintenance window",
    "declared_at": "Declared",
    "why_pending": "Why pending",
    "decision_reason": "Reason for the decision",
    "approve": "Approve",
    "reject": "Reject",
    # the right to be heard (ecowarn.alerts.hearing) and 首违不罚 (ecowarn.alerts.first_offence)
    "hearing_refused": "alert {id} cannot be confirmed yet (the enterprise's right to be heard): {why}",
    "hearing_not_warned": "the enterprise has not been warned yet: dispatch the alert first",
    "hearing_answer_unread": ("{unread} of the enterprise's {answers} answers not yet read by an officer: "
                              "read them on the alert page before confirming"),
    "hearing_awaiting_answer": ("the enterprise may state its case until {due} (UTC+8): confirming is possible "
                                "once it has answered and an officer has read the answer, or from {due}"),
    "hearing_answers_read": "the enterprise answered ({answers}) and an officer has read every answer",
    "hearing_deadline_passed": "the answer deadline {due} (UTC+8) passed without an answer",
    "fo_refused": "alert {id} does not qualify as a first offence without penalty: {why}",
    "fo_rule_not_allowed": "{rule} is not on the list of rules that allow it",
    "fo_no_verified_rectification": "no rectification of this alert has been verified",
    "fo_prior_violation": ("the enterprise has {n} confirmed violation(s) of {rule} within {months} months "
                           "(credit ledger entries {entries})"),
    # the alert page: the hearing, 首违不罚, and errors shown next to a form (api/console_workflow.py)
    "hearing": "Right to be heard",
    "hearing_allowed_at": "confirming is possible from {at} (UTC+8)",
    "hearing_after_reading": "confirming is possible once an officer has read the answers",
    "confirm_disabled": "Cannot be confirmed yet",
    "read_state": "Read by an officer",
    "read": "read",
    "unread": "unread",
    "confirm_as": "Confirm as",
    "confirm_penalty": "violation confirmed, credit points deducted",
    "confirm_first_offence": "first offence, no penalty: violation confirmed, nothing deducted",
    "fo_conditions": "Conditions for a first offence without penalty",
    "fo_rule_allowed": "{rule} allows it",
    "fo_rectification_verified": "a rectification of this alert was verified",
    "fo_no_prior": "no confirmed violation of {rule} within {months} months",
    "fo_qualifies": "all met",
    "fo_not_qualified": "not all met",
    "ev_rectification": "rectification",
    "form_failed": "Not submitted",
    "err_illegal": "the alert is {status}: “{action}” is not possible; possible now: {allowed}",
    "err_final": "the alert is {status}: “{action}” is no longer possible",
    "err_claimed": "the alert is already claimed by {who}",
    "err_decided": "this declaration is {status} already; only a pending one can be decided",
    "err_reason": ("a reason of 1 to {max} characters is needed: to dismiss, to close as a false alarm and to "
                   "decide a maintenance declaration"),
    "err_text": "a text of 1 to {max} characters is needed",
    "err_disposition": "choose a disposition from the list, one that fits the current status",
    "err_kind": "choose a kind of answer from the list",
    "err_references": "at most {max} attachment references, each of 1 to {length} characters",
    "err_window": ("a maintenance window needs one of this alert's devices, a start and an end after the start; "
                   "only an answer declaring maintenance takes one"),
    "err_action": "use the buttons of the page",
    "err_input": "{field}: {detail}",
}

# rule names (CONTRACT section 3)
RULES: Final[dict[str, str]] = {
    "treatment_off": "Treatment off while production runs",
    "treatment_sequence": "Treatment started late or stopped early",
    "treatment_underload": "Treatment under low load",
    "emergency_noncompliance": "Emergency order not followed",
    "emission_exceedance": "Emission limit exceeded",
    "flatline": "Constant values (suspected falsification)",
    "o2_dilution": "O2 near ambient (dilution)",
    "bypass_suspected": "Process and emissions inconsistent",
    "undeclared_marking": "M/C/D flags without declared maintenance",
    "pinned_below_limit": "Values held just under the limit",
    "data_gap": "Data gap",
    "air_hotspot": "Air station hotspot",
}

# statuses, actions, dispositions, answer kinds, roles
LABELS: Final[dict[str, str]] = {
    "open": "open",
    "acknowledged": "acknowledged",
    "dispatched": "dispatched",
    "confirmed": "confirmed",
    "dismissed": "dismissed",
    "closed": "closed",
    "superseded": "superseded",
    "acknowledge": "Acknowledge",
    "dispatch": "Dispatch to the enterprise",
    "confirm": "Confirm",
    "dismiss": "Dismiss",
    "close": "Close",
    "case_filed": "case filed",
    "rectification_ordered": "rectification ordered",
    "explanation_accepted": "explanation accepted",
    "false_alarm": "false alarm",
    "first_offence_no_penalty": "first offence, no penalty",
    "explanation": "explanation",
    "maintenance_declared": "maintenance declared",
    "rectification_done": "rectification done",
    "officer": "officer",
    "enterprise": "enterprise",
    "admin": "admin",
    "system": "system",
    "retroactive": "retroactive",
    "too_long": "too long",
    "pending": "pending",
    "approved": "approved",
    "rejected": "rejected",
    "rectifying": "under rectification",
    "high": "high",
    "medium": "medium",
    "low": "low",
}

# credit ledger entry types
ENTRY_TYPES: Final[dict[str, str]] = {
    "deduction": "deduction",
    "repair": "repair",
    "reversal": "reversal",
    "first_offence": "first offence, no penalty",
    "repair_application": "repair application",
    "repair_rejection": "repair application rejected",
    "evaluation": "credit evaluation",
}

# the printable evidence page (shows both languages)
EVIDENCE: Final[dict[str, str]] = {
    "title": "Electronic evidence package",
    "sha256": "SHA-256 of the package",
    "sha256_note": "SHA-256 of the canonical JSON (/api/v1/evidence/{id}/package) must equal this value.",
    "chain": "Hash chain",
    "alert": "Alert",
    "enterprise": "Enterprise",
    "devices": "Devices",
    "rule": "Rule",
    "params": "Rule parameters",
    "findings": "Findings",
    "detector": "Detector version",
    "window": "Data window",
    "start": "Start",
    "end": "End",
    "ongoing": "ongoing at confirmation",
    "severity": "Severity",
    "summary": "Summary",
    "confirmation": "Confirmation",
    "confirmed_by": "Confirmed by",
    "confirmed_at": "Confirmed at",
    "charts": "Readings",
    "hourly": "Hourly values",
    "raw": "Raw readings with data flags",
    "raw_cut": "The first {shown} of {count} rows; the JSON package holds all of them.",
    "truncated": "Raw readings exceeded the cap and were cut.",
    "timezone": "Times are China Standard Time (UTC+8).",
    "print": "This page is meant to be printed.",
}

# details of API errors (ecowarn.api.errors; the JSON API answers in English)
ERRORS: Final[dict[str, str]] = {
    "validation_error": "invalid request: {fields}{more}",
    "validation_more": " (and {n} more)",
    "database_unavailable": "the database is not answering; retry later",
    "internal_error": "internal error; the server log has the details",
}

# uploaded files (ecowarn.store.attachments): why a file is refused
ATTACHMENTS: Final[dict[str, str]] = {
    "name_length": "a file name of 1 to {max} characters is needed",
    "name_plain": "file name {name} must be a plain name without a directory, '..' or control characters",
    "type_refused": "type {type} is not accepted; use one of {types}",
    "too_large": "{name} is {size} bytes; at most {max} bytes per file",
    "empty": "{name} is empty",
    "not_utf8": "{name} is declared {type} but is not UTF-8 text",
    "binary_text": "{name} is declared {type} but holds binary data",
    "magic": "{name} is declared {type} but its content is not",
    "too_many": "at most {max} files",
    "base64": "not valid base64",
    "multipart": "malformed multipart/form-data body",
    "file_part": "a file part needs a file name",
}

# rectification (整改) to closure: statuses, trail, refusals (ecowarn.alerts.rectification)
RECTIFICATION: Final[dict[str, str]] = {
    "st_ordered": "ordered",
    "st_submitted": "proof submitted",
    "st_verified": "verified",
    "st_rejected": "rejected",
    "st_withdrawn": "withdrawn (alert dismissed or merged)",
    "overdue": "overdue",
    "ev_ordered": "rectification ordered",
    "ev_submitted": "proof submitted",
    "ev_verified": "verified",
    "ev_rejected": "rejected",
    "ev_overdue": "overdue, escalated",
    "ev_reminded": "reminder sent",
    "ev_withdrawn": "withdrawn with its alert",
    "not_found": "no rectification {id}",
    "attachment_not_found": "no attachment {id}",
    "alert_status": ("alert {alert_id} is {state}; a closed, dismissed or superseded alert takes no "
                     "rectification order"),
    "in_progress": "alert {alert_id} already has rectification {id} in progress ({state})",
    "no_enterprise": "alert {alert_id} concerns no enterprise; there is nobody to order a rectification",
    "due_past": "due must be in the future (sent {due})",
    "requirements": "requirements need 1 to {max} characters",
    "text": "a submission needs 1 to {max} characters of text",
    "references": "at most {max} attachments, references of 1 to {length} characters",
    "decided": "rectification {id} is {state} already; nothing more can be submitted or decided",
    "unknown_field": "unknown form field {name}; expected text, attachments and files",
    "verify_needs_submission": "rectification {id} is {state}; only a submitted one can be verified",
    "reason": "a reason of 1 to {max} characters is needed",
    "data_check_days": "data_check_days must be a whole number of days from 1 to {max}",
    "recurred": ("the data check found {rule} again within the last {days} days ({found}); verify with "
                 "force=true to verify anyway"),
    "recurred_alerts": "alerts {ids}",
    "recurred_episodes": "repeat episodes {ids}",
    "recurred_ongoing": "this alert's episode has not ended",
    "overdue_reason": "rectification {id} was due {due} and is not verified",
    # console: the rectification part of the alert page and the ledger page (api/console_rectifications.py)
    "c_title": "Rectification",
    "c_ledger": "Rectification ledger",
    "c_own_ledger": "Our rectification ledger",
    "c_ledger_note": "Rectifications ordered by officers and how far they got; overdue ones in red.",
    "c_order": "Order a rectification",
    "c_due": "Due",
    "c_due_hint": "a date alone means 23:59 that day (UTC+8)",
    "c_requirements": "Requirements",
    "c_status": "Rectification status",
    "c_ordered_at": "Ordered",
    "c_ordered_by": "Ordered by",
    "c_submissions": "Proof submitted",
    "c_no_submissions": "Nothing submitted yet",
    "c_submit": "Submit proof of rectification",
    "c_text": "What was done",
    "c_files": "Files (several allowed; at most {n}, {mb} MB each; types: {types})",
    "c_references": "References to documents filed elsewhere (one per line, optional)",
    "c_file": "File",
    "c_file_n": "file {n}",
    "c_size": "Size",
    "c_download": "Download",
    "c_evidence": "Evidence package",
    "c_reference": "Reference",
    "c_verify": "Verify",
    "c_reject": "Reject",
    "c_reason": "Reason",
    "c_data_check_days": "Data check over the last N days (optional)",
    "c_data_check_hint": "checks whether the rule fired again in the last N days",
    "c_force": "verify even if the check finds a recurrence",
    "c_data_check": "Data check",
    "c_check_clean": "{rule} did not recur in the last {days} days ({since} to {until})",
    "c_check_recurred": "{rule} recurred in the last {days} days ({since} to {until}): {found}",
    "c_check_forced": "a recurrence was found and the officer verified anyway",
    "c_check_refused": ("Not verified: {finding}. Look at the chart below; to verify anyway, tick “{force}” "
                        "and submit again"),
    "c_chart_title": "{rule}: occurrences per day over the last {days} days",
    "c_chart_alerts": "alerts",
    "c_chart_episodes": "repeat episodes",
    "c_chart_none": "no recurrence in the period",
    "c_events": "Rectification trail",
    "c_decision": "Decision",
    "c_alert": "Alert",
    "c_count": "Submissions",
    "c_empty": "No rectification",
    "c_export": "Export CSV",
    "c_overdue": "Overdue",
    "c_yes": "yes",
    "c_no": "no",
    "c_more": "More",
    "c_due_invalid": "the due time must be a date (e.g. 2026-12-31) or a date and time (e.g. 2026-12-31T18:00)",
    "c_days_invalid": "the data check takes a whole number of days from 1 to {max}",
    "c_files_again": "the chosen files were not kept: choose them again",
    "c_type_refused": "{name} is of a type that cannot be taken; upload {types} files",
}

# parts of alert summaries (ecowarn.i18n.Phrase): states, durations, devices, metrics, baselines
PHRASES: Final[dict[str, str]] = {
    "water_outlet": "wastewater outlet {outlet} ({id})",
    "water_metric_cod": "COD",
    "water_metric_nh3n": "NH3-N",
    "water_metric_tp": "total phosphorus",
    "water_metric_tn": "total nitrogen",
    "water_metric_ph": "pH",
    "water_metric_flow": "wastewater flow",
    "stage_lag": "{name} ({minutes} min apart)",
    "ongoing": "ongoing",
    "ended": "ended",
    "duration_min": "{n} min",
    "duration_h": "{n} h",
    "hours_one": "{n} hour",
    "hours_other": "{n} hours",
    "valid_hours_one": "{n} valid hour",
    "valid_hours_other": "{n} valid hours",
    "outlet": "outlet {outlet} ({id})",
    "cems": "CEMS {id}",
    "air_station": "air station {id}",
    "air_station_named": "air station {id} ({name})",
    "power_meter": "power meter {id}",
    "power_meter_named": "{name} power meter ({id})",
    "its_production": "its production",
    "metric_so2": "SO2",
    "metric_nox": "NOx",
    "metric_pm": "particulate",
    "metric_co": "CO",
    "metric_o2": "O2",
    "metric_flow": "flue gas flow",
    "metric_temp": "flue gas temperature",
    "metric_pressure": "flue gas pressure",
    "metric_humidity": "flue gas humidity",
    "flag_M": "maintenance",
    "flag_C": "calibration",
    "flag_D": "fault",
    "baseline_learned": "{value} {unit}, learned from {n} running minutes of the last {days} days",
    "baseline_rated": ("rated {value} {unit} used as fallback: only {n} of the {needed} running minutes "
                       "of history needed to learn it"),
    "concentration_converted": "{pollutant} hourly mean converted to {ref_o2}% O2",
    "concentration_measured": "{pollutant} hourly mean (measured: no ref_o2 registered)",
    "orders": "order {ids} ({start} to {end})",
    "under_the_marks": "; under the marks {items}",
    "hidden_pollutant": "{pollutant} averaged {mean} mg/m3, {ratio}x its limit of {limit}",
    "wind_none": "no wind data at the station",
    "wind_calm": "wind calm ({speed} m/s), no upwind attribution",
    "wind_from": "wind from {from_deg} deg at {speed} m/s; upwind: {upwind}",
    "no_registered_enterprise": "no registered enterprise",
    "site_named": "{name} ({id})",
    "air_stations": "Air quality stations",
    "devices_one": "{n} device",
    "devices_other": "{n} devices",
    "stations_one": "{n} station",
    "stations_other": "{n} stations",
    "outage_site": "site or network",
    "outage_network": "network",
    "gap_group_ended": "all reporting again by {end}, {gap} after the first fell silent",
    "gap_group_waiting": "still silent: {still}",
    "gap_group_silent": "still silent: {still}, the longest for {silent} (wall clock; no message since {arrived})",
}

# Alert summaries, one per rule and variant (ecowarn.i18n.summary).
ALERTS: Final[dict[str, str]] = {
    "water_flatline": ("{outlet}: {metric} frozen at {value} from {start} for {duration} while production "
                       "runs: suspected falsification, {state}"),
    "water_daily": ("{outlet}: daily mean {metric} up to {max_mean} mg/L, above the d"
        "aily limit {limit} mg/L ({periods} day(s) from {start}), {state}"),
    "water_hourly": ("{outlet}: hourly mean {metric} up to {max_mean} mg/L, above the h"
        "ourly limit {limit} mg/L ({periods} hour(s) from {start}), {state}"),
    "water_ph": ("{outlet}: pH {min} to {max}, outside the allowed {lo"
        "w} to {high} for {duration} min from {start}, {state}"),
    "treatment_sequence_start": ("{production} started before its treatment: {stages} started late, "
                                 "up to {max_lag} min after production"),
    "treatment_sequence_stop": "Treatment stopped before {production} did: {stages}, up to {max_lag} min early",
    "treatment_off": ("{production} running at {production_kw} kW while its treatment is off ({treatment}; "
                      "off below {off_below} kW) for {duration} min, {state}"),
    "treatment_underload": ("{treatment} running at {treatment_kw} kW, {load_pct}% of its typical running load "
                            "(under {ratio_pct}% = {threshold_kw} kW; typical load {baseline}) while {production} "
                            "runs, for {duration}, {state}"),
    "emergency_shutdown": ("{production} ran at {production_kw} kW on average (running at or above {running_kw} kW) "
                           "for {duration} from {start} during the emergency shutdown {orders}, {state}"),
    "emergency_limit": ("{production}: hourly mean load up to {max_kw} kW ({excess_pct}% above the allowed "
                        "{allowed_kw} kW = baseline cut by {limit_pct}%; fires above {threshold_kw} kW) for {hours} "
                        "from {start} during the emergency limit {orders}; baseline {baseline}, {state}"),
    "emission_exceedance": ("{outlet}: {what} above its limit of {limit} {unit} for {hours} from {start} "
                            "(max {max} {unit}, {max_ratio}x the limit; mean {mean}), {state}"),
    "pinned_below_limit": ("{outlet}: {what} held between {band_low}-{band_high} {unit} ({low_pct}-{high_pct}% of "
                           "the {limit} {unit} limit) for {hours} consecutive valid hours from {start}, varying by "
                           "only {cv_pct}% (coefficient of variation; suspicious below {max_cv_pct}%), {state}"),
    "flatline": ("{outlet}: {pollutant} stuck at {value} {unit}, flagged {flags}, for {duration} from {start} "
                 "({points} identical minute values) while {production} runs: suspected falsification, {state}"),
    "flatline_tolerance": ("{outlet}: {pollutant} stuck at {value} {unit} (within {tolerance}), flagged {flags}, "
                           "for {duration} from {start} ({points} identical minute values) while {production} runs: "
                           "suspected falsification, {state}"),
    "o2_dilution": ("{outlet}: flue gas O2 at {o2_mean}% on average (never below {o2_min}%; at or above "
                    "{threshold}% is near ambient air) for {duration} from {start} while {production} runs: "
                    "suspected dilution, {state}"),
    "bypass_suspected": ("{production} ({total_kw} kW in all, at least {production_pct}% of rated {rated_kw} kW) "
                         "while flue gas flow at {outlet} was {flow_mean} m3/s on average, under {flow_pct}% of its "
                         "typical running flow ({baseline}; threshold {flow_threshold} m3/s), for {duration} from "
                         "{start}: suspected bypass, {state}"),
    "bypass_suspected_one": ("{production} (at least {production_pct}% of rated {rated_kw} kW) while flue gas flow "
                             "at {outlet} was {flow_mean} m3/s on average, under {flow_pct}% of its typical running "
                             "flow ({baseline}; threshold {flow_threshold} m3/s), for {duration} from {start}: "
                             "suspected bypass, {state}"),
    "undeclared_marking": ("{outlet}: data flagged {flags} on {metrics} for {duration} from {start} without "
                           "declared maintenance{hidden}, {state}"),
    "data_gap": ("{device}: no reading for {gap}, from {start} to {end} (a gap is {min_gap} min or more)"),
    "data_gap_trimmed": ("{device}: no reading for {gap}, from {start} to {end} (outside declared maintenance "
                         "{maintenance_ids}) (a gap is {min_gap} min or more)"),
    "data_gap_silent": ("{device}: silent for {silent}, no message since {arrived} (wall clock; last reading "
                        "{last_reading}), {state}"),
    "data_gap_silent_unstored": ("{device}: silent for {silent}, no message since {arrived} (wall clock; "
                                 "no reading stored), {state}"),
    "data_gap_resumed": "; messages resumed, next reading {next_reading} ({gap} after the last one)",
    "data_gap_group": ("{site}: {count} fell silent together from {start} ({devices}), looks like a {outage} "
                       "outage; {extent}, {state}"),
    "air_hotspot": ("{station}: {parts} for {duration} from {start} (fires above {robust_sd_k} robust SD and "
                    "{min_excess} ug/m3 for {min_duration} min); {wind}, {state}"),
    "air_hotspot_metric": ("{pollutant} up to {max} ug/m3 (mean {mean}), {excess} above the median of {count} "
                           "stations within {radius_km} km ({median}; robust SD {robust_sd})"),
}

# Facts an ALERTS message above leaves out that the Chinese one states.
OMITTED: Final[dict[str, frozenset[str]]] = {
    "bypass_suspected_one": frozenset({"total_kw"}),
}

# Punctuation, codes and forms with nothing to translate (ecowarn.i18n.Join and Phrase).
FORMS: Final[dict[str, str]] = {
    "list": ", ",
    "clauses": "; ",
    "state_tail": ", {state}",
    "at_power": "{name} at {kw} kW",
    "at_no_data": "{name} with no data",
    "at_distance": "{name} ({km} km)",
    "flag": "{flag} ({name})",
    "metric_pm25": "PM2.5",
    "metric_pm10": "PM10",
}

# notifications to officers and reminders to enterprises (ecowarn.alerts.notify, alerts.warnings)
NOTIFY: Final[dict[str, str]] = {
    "high_alert": "High-severity alert",
    "escalated": "Alert escalated",
    "rectification_overdue": "Rectification overdue",
    "maintenance_pending": "Maintenance awaiting approval",
    "answer_reminder": "Answer deadline reminder",
    "rectification_reminder": "Rectification deadline reminder",
    "title_high_alert": "High-severity alert: {enterprise}",
    "text_high_alert": "{rule}: {summary} (alert #{alert_id}, since {start})",
    "title_escalated": "Alert escalated to level {level}: {enterprise}",
    "text_escalated": "Alert #{alert_id} ({rule}) has not been acknowledged and reached level {level}: {summary}",
    "title_rectification_overdue": "Rectification overdue: {enterprise}",
    "text_rectification_overdue": ("Rectification #{id} (alert #{alert_id}, {rule}) was due {due} and is not "
                                   "verified; requirements: {requirements}"),
    "title_maintenance_pending": "Maintenance awaiting approval: {enterprise}",
    "text_maintenance_pending": ("Device {device_id} declared maintenance {start} to {end}: {reason} "
                                 "(needs approval: {why})"),
    "text_answer_reminder": ("Please answer alert #{alert_id} ({rule}) before {deadline}; after it, the "
                             "decision is taken without your statement."),
    "text_rectification_reminder": ("Rectification #{id} (alert #{alert_id}, {rule}) is due {deadline}: please "
                                    "complete it and submit the proof."),
    "open": "Open",
    "no_enterprise": "no enterprise",
}

# credit evaluations (ecowarn.credit.evaluation): why an evaluation is refused
EVALUATION: Final[dict[str, str]] = {
    "initial": "initial evaluations",
    "periodic": "periodic evaluations",
    "unknown_catalog": "no evaluation catalog {catalog!r}; catalogs: {known}",
    "kind_not_allowed": "catalog {catalog!r} is not used for {kind} (it serves: {kinds})",
    "unknown_item": "catalog {catalog!r} has no item {item!r}",
    "duplicate_item": "item {item!r} is listed twice (first at items[{first}])",
    "deduction_points": ("{item!r} is a deduction item: points from -{max} to 0 (signed as in the credit "
                         "ledger: a deduction is negative)"),
    "bonus_points": "{item!r} is a bonus item: points from 0 to {max}",
    "evidence_required": "catalog {catalog!r} requires evidence for item {item!r} when it scores points",
    "evaluated_in_future": "evaluated_at {at} is later than now",
    "unknown_enterprise": "no enterprise {enterprise} in the registry",
    "more_problems": "and {n} more problems: see problems",
    "initial_exists": ("enterprise {enterprise} already has an initial evaluation (evaluation {evaluation}, ledger "
                       "entry {entry}): re-evaluate it with kind periodic, or reverse ledger entry {entry} if the "
                       "initial evaluation was recorded in error"),
    "not_found": "no evaluation {id}",
}

# the printable evaluation report (shows both languages)
EVALUATION_REPORT: Final[dict[str, str]] = {
    "title_initial": "Initial environmental credit evaluation report",
    "title_periodic": "Periodic environmental credit evaluation report",
    "enterprise_info": "Enterprise",
    "enterprise": "Enterprise",
    "credit_code": "Unified social credit code",
    "region": "Administrative division",
    "industry": "Industry",
    "address": "Address",
    "permit": "Discharge permit",
    "evaluation": "Evaluation",
    "kind_initial": "initial",
    "kind_periodic": "periodic",
    "kind": "Kind",
    "catalog": "Catalog",
    "evaluated_at": "Evaluated at",
    "recorded_at": "Recorded at",
    "officer": "Evaluated by",
    "result": "Result",
    "base": "Base score",
    "deductions": "Deductions",
    "bonuses": "Bonus points",
    "score": "Score",
    "level": "Level",
    "other_levels": "Level in the other schemes",
    "problems": "Problems found",
    "problems_summary": "{n} problems found, {points} points deducted in all.",
    "no_problems": "No problem found.",
    "merits": "Bonus items",
    "no_merits": "No bonus item.",
    "checklist": "Every item of the catalog",
    "category": "Category",
    "item": "Item",
    "item_kind": "Kind",
    "deduction": "deduction",
    "bonus": "bonus",
    "max_points": "Maximum",
    "points": "Points",
    "note": "Note",
    "evidence": "Evidence",
    "evidence_expected": "Evidence to check",
    "nothing_found": "no problem found",
    "no_evidence": "no evidence recorded",
    "source": "Source",
    "published": "published",
    "placeholder": "placeholder (set by the bureau)",
    "ledger": "Credit ledger and hash chain",
    "ledger_note": ("This evaluation is credit ledger entry #{entry} in the hash chain; SHA-256 of the "
                    "evaluation document:"),
    "current": "Standing today",
    "current_note": "Score today {score}, level {level} (ledger entries since this evaluation included).",
    "reversed": "This evaluation was reversed (ledger entry #{entry}) and no longer counts.",
    "signatures": "Signatures",
    "sign_officer": "Evaluator (signature)",
    "sign_enterprise": "For the enterprise (signature)",
    "sign_date": "Date",
    "timezone": "Times are China Standard Time (UTC+8).",
    "print": "Print this page or save it as PDF.",
}

# positive lists, supervision plans and random draws (ecowarn.credit.supervision)
SUPERVISION: Final[dict[str, str]] = {
    "period": "period must be a month (2026-12), a quarter (2026-Q4) or a year (2026) from 2000 to 2099, not {value!r}",
    "unknown_enterprise": "no enterprise {id}",
    "unknown_list": "no positive list {list!r}; the lists are {lists}",
    "end_not_after_start": "end ({end}) must be after start ({start})",
    "reason": "a reason of 1 to {max} characters is needed",
    "entry_not_found": "no positive-list entry {id}",
    "draw_not_found": "no supervision draw {id}",
    "region_not_found": "no region {region} in this jurisdiction",
    "active": "active must be true, false or a day (YYYY-MM-DD), not {value!r}",
    "basis_level": "level {level}: {per_year} routine on-site inspection(s) a year",
    "basis_level_exempt": "level {level}: exempt from routine on-site inspection",
    "basis_positive_list_remote": ("on the {lists}: the {per_year} routine inspection(s) a year of level {level} "
                                   "are carried out off-site; on-site only on a complaint or a clue"),
    "basis_positive_list_skip": ("on the {lists}: no routine on-site inspection (level {level} would call for "
                                 "{per_year} a year); on-site only on a complaint or a clue"),
    "basis_positive_list_keep": "on the {lists}; level {level}: {per_year} routine on-site inspection(s) a year",
}
