"""Console texts of the alert workflow, Chinese (default) and English."""

from __future__ import annotations

from typing import Final

from ecowarn.api._i18n import Lang

__all__ = ["WORKFLOW_TEXTS", "label"]

WORKFLOW_TEXTS: Final[dict[Lang, dict[str, str]]] = {
    "zh": {
        "queue": "执法队列",
        "alerts": "预警列表",
        "workflow": "处置流程",
        "score": "风险分",
        "assignee": "承办人",
        "unassigned": "未认领",
        "due": "答复期限",
        "overdue": "已逾期",
        "escalation": "督办级别",
        "repeats": "重复触发",
        "credit": "信用等级",
        "answers": "企业答复",
        "no_answers": "暂无企业答复",
        "episodes": "重复触发记录",
        "comments": "备注",
        "trail": "处理记录",
        "actions": "操作",
        "reason": "理由",
        "reason_hint": "排除和误报须填写理由",
        "disposition": "办结结论",
        "claim": "认领",
        "comment": "添加备注",
        "public": "企业可见",
        "submit": "提交",
        "answer": "提交答复",
        "answer_kind": "答复类型",
        "answer_text": "说明内容",
        "attachments": "附件编号或链接（每行一个）",
        "maintenance": "运维时段（可选，申报运维时填写）",
        "device": "设备",
        "filter": "筛选",
        "all": "全部",
        "region": "行政区划",
        "mine": "我的",
        "more": "更多",
        "empty_queue": "队列为空",
        "by": "操作人",
        "at": "时间",
        "event": "事项",
        "system": "系统",
        "no_actions": "当前状态下无可执行操作",
        "disposition_reason": "办结理由",
        "ev_opened": "系统发现预警",
        "ev_transition": "状态变更",
        "ev_claim": "认领",
        "ev_assign": "指派",
        "ev_comment": "备注",
        "ev_answer": "企业答复",
        "ev_escalated": "超时升级",
        "ev_repeat": "重复触发",
        "ev_superseded": "合并到其他预警",
    },
    "en": {
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
    },
}

_LABELS: Final[dict[str, tuple[str, str]]] = {
    # statuses
    "open": ("待处理", "open"),
    "acknowledged": ("已受理", "acknowledged"),
    "dispatched": ("已通知企业", "dispatched"),
    "confirmed": ("已确认违法", "confirmed"),
    "dismissed": ("已排除", "dismissed"),
    "closed": ("已办结", "closed"),
    "superseded": ("已合并", "superseded"),
    # actions
    "acknowledge": ("受理", "Acknowledge"),
    "dispatch": ("通知企业说明", "Dispatch to the enterprise"),
    "confirm": ("确认违法", "Confirm"),
    "dismiss": ("排除", "Dismiss"),
    "close": ("办结", "Close"),
    # dispositions
    "case_filed": ("立案查处", "case filed"),
    "rectification_ordered": ("责令整改", "rectification ordered"),
    "explanation_accepted": ("采纳企业说明", "explanation accepted"),
    "false_alarm": ("误报", "false alarm"),
    # answer kinds
    "explanation": ("情况说明", "explanation"),
    "maintenance_declared": ("申报运维", "maintenance declared"),
    "rectification_done": ("已完成整改", "rectification done"),
    # actor roles
    "officer": ("执法人员", "officer"),
    "enterprise": ("企业", "enterprise"),
    "admin": ("管理员", "admin"),
    "system": ("系统", "system"),
}


def label(value: str | None, lang: Lang) -> str:
    """Display name of a status, action, disposition, answer kind or role."""
    if value is None:
        return ""
    names = _LABELS.get(value)
    if names is None:
        return value
    return names[0] if lang == "zh" else names[1]
