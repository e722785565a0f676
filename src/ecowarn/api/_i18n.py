"""Console texts in Chinese (default) and English (``?lang=en``)."""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["RULE_NAMES", "TEXTS", "Lang", "rule_name"]

Lang = Literal["zh", "en"]

# CONTRACT section 3.
RULE_NAMES: Final[dict[str, tuple[str, str]]] = {
    "treatment_off": ("治污设施未运行", "Treatment off while production runs"),
    "treatment_underload": ("治污设施低负荷", "Treatment under low load"),
    "emergency_noncompliance": ("应急管控措施未落实", "Emergency order not followed"),
    "emission_exceedance": ("排放超标", "Emission limit exceeded"),
    "flatline": ("数据恒值", "Constant values (suspected falsification)"),
    "o2_dilution": ("稀释排放", "O2 near ambient (dilution)"),
    "bypass_suspected": ("工况与排放不符", "Process and emissions inconsistent"),
    "undeclared_marking": ("异常标记", "M/C/D flags without declared maintenance"),
    "pinned_below_limit": ("数据设限", "Values held just under the limit"),
    "data_gap": ("数据缺失", "Data gap"),
    "air_hotspot": ("空气站高值", "Air station hotspot"),
}

TEXTS: Final[dict[Lang, dict[str, str]]] = {
    "zh": {
        "title": "ecowarn 预警控制台",
        "alerts": "预警列表",
        "rule": "规则",
        "enterprise": "企业",
        "equipment": "设备",
        "start": "开始时间",
        "end": "结束时间",
        "ongoing": "进行中",
        "severity": "级别",
        "status": "状态",
        "summary": "摘要",
        "evidence": "证据",
        "params": "参数",
        "readings": "监测数据",
        "alert_window": "预警时段",
        "no_readings": "该时段无监测数据",
        "no_alerts": "暂无预警",
        "older": "更早的预警",
        "back": "返回列表",
        "logout": "退出",
        "other_lang": "English",
        "login": "登录",
        "login_intro": "请输入访问令牌。令牌由管理员在服务器上创建，只显示一次：",
        "login_token": "访问令牌",
        "login_bad": "令牌无效、已过期或已撤销。",
        "login_roles": "执法人员使用 officer 令牌；企业使用 enterprise 令牌（加 --enterprise 统一社会信用代码）。",
        "error": "出错了",
        "timezone": "时间均为北京时间（UTC+8）。",
    },
    "en": {
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
        "login_intro": "Enter an access token. An administrator creates it on the server; "
                       "it is shown once:",
        "login_token": "Access token",
        "login_bad": "The token is invalid, expired or revoked.",
        "login_roles": "Enforcement officers use an officer token; enterprises an enterprise "
                       "token (with --enterprise and the unified social credit code).",
        "error": "Error",
        "timezone": "Times are China Standard Time (UTC+8).",
    },
}


def rule_name(rule: str, lang: Lang) -> str:
    names = RULE_NAMES.get(rule)
    if names is None:
        return rule
    return names[0] if lang == "zh" else names[1]
