"""Message catalog, Chinese (简体中文): the users' language and the default.

One dict per area (``__all__``); ``tests/test_i18n.py`` checks that both catalogs have the
same keys and the same ``{placeholders}`` in every message. Alert summaries are checked
apart: an ``ALERTS`` message may leave out facts the other language states (each one listed
in ``OMITTED``), and ``FORMS`` holds punctuation and codes that have nothing to translate.
Messages are ``str.format`` templates; numbers arrive formatted.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ATTACHMENTS", "CONSOLE", "CREDIT", "ENTRY_TYPES", "ERRORS", "EVIDENCE", "LABELS", "NOTIFY", "PHRASES",
           "RECTIFICATION", "RULES", "SUPERVISION", "WORKFLOW"]

# console pages (login, alerts, readings)
CONSOLE: Final[dict[str, str]] = {
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
}

# credit pages and warnings
CREDIT: Final[dict[str, str]] = {
    "enterprises": "企业信用",
    "enterprise": "企业",
    "score": "信用分",
    "level": "信用等级",
    "entries": "记录数",
    "levels_note": "河北省评价标准：A ≥ 85，B 70–84，C 50–69，D 30–49，E ≤ 29（满分 100）。",
    "warnings": "风险预警",
    "no_warnings": "暂无风险预警",
    "channel": "渠道",
    "delivery": "送达",
    "delivered": "已送达",
    "pending": "发送中",
    "failed": "发送失败",
    "attempts": "尝试次数",
    "answers": "企业陈述与申辩",
    "no_answers": "暂无陈述记录",
    "history": "信用记录",
    "no_history": "暂无信用记录",
    "recorded": "记录时间",
    "type": "类型",
    "points": "分值",
    "score_after": "记录后信用分",
    "reason": "说明",
    "evidence": "证据包",
    "repair_after": "可修复时间",
    "reversed": "已撤销",
    "repaired": "已修复",
    "alert": "预警",
    "rule": "规则",
    "start": "开始时间",
    "summary": "摘要",
    "full_score": "暂无扣分记录，按满分计。",
    "repair_app_not_deduction": "记录 {entry} 不是扣分记录，只有扣分记录可以申请信用修复",
    "repair_app_no_points": "扣分记录 {entry} 未扣分，无需修复",
    "repair_app_reversed": "扣分记录 {entry} 已撤销，无需修复",
    "repair_app_repaired": "扣分记录 {entry} 已修复",
    "repair_app_no_alert": "扣分记录 {entry} 未关联预警，不能在线申请信用修复",
    "repair_app_pending": "扣分记录 {entry} 已有待审批的信用修复申请（{application}）",
    "repair_app_too_early": "最短公示期未满：扣分记录 {entry} 自 {allowed_at} 起方可申请信用修复",
    "repair_app_approve_early": "最短公示期至 {allowed_at} 届满，届满前不能批准信用修复申请 {application}",
    "repair_app_decided": "信用修复申请 {application} 的状态为“{status}”，只有待审批的申请可以批准或驳回",
    "repair_app_commitment": "需提交 1 至 {max} 个字符的信用修复承诺书",
    "repair_app_reason": "需填写 1 至 {max} 个字符的理由",
    "repair_app_references": "最多 {max} 个附件编号或链接，每个 1 至 {len} 个字符",
}

# the alert workflow: queue, trail, actions, answers
WORKFLOW: Final[dict[str, str]] = {
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
    "ev_answers_read": "执法人员查阅企业答复",
    "pending_maintenance": "待审批的维护申报",
    "pending_maintenance_note": "企业事后补报或超过时限的维护申报须经执法人员审批后才能屏蔽预警。",
    "window": "维护时段",
    "declared_at": "申报时间",
    "why_pending": "待审原因",
    "decision_reason": "审批意见",
    "approve": "批准",
    "reject": "驳回",
    # 陈述申辩权（ecowarn.alerts.hearing）与首违不罚（ecowarn.alerts.first_offence）
    "hearing_refused": "预警{id}暂不能确认违法（保障企业陈述、申辩权利）：{why}",
    "hearing_not_warned": "尚未告知企业：请先将预警下发企业",
    "hearing_answer_unread": "企业的{answers}条答复中有{unread}条尚未经执法人员查阅：请在预警页面查阅后再确认",
    "hearing_awaiting_answer": ("企业可在{due}（北京时间）前陈述、申辩：企业答复并经执法人员查阅后，"
                                "或自{due}起，方可确认违法"),
    "hearing_answers_read": "企业已答复（{answers}条），执法人员均已查阅",
    "hearing_deadline_passed": "答复期限{due}（北京时间）已过，企业未答复",
    "fo_refused": "预警{id}不符合首违不罚条件：{why}",
    "fo_rule_not_allowed": "{rule}不在首违不罚适用规则清单内",
    "fo_no_verified_rectification": "本预警的整改尚未核查通过",
    "fo_prior_violation": "企业{months}个月内已有{n}次{rule}违法确认记录（信用台账条目{entries}）",
}

# rule names (CONTRACT section 3)
RULES: Final[dict[str, str]] = {
    "treatment_off": "治污设施未运行",
    "treatment_sequence": "治污设施晚开早关",
    "treatment_underload": "治污设施低负荷",
    "emergency_noncompliance": "应急管控措施未落实",
    "emission_exceedance": "排放超标",
    "flatline": "数据恒值",
    "o2_dilution": "稀释排放",
    "bypass_suspected": "工况与排放不符",
    "undeclared_marking": "异常标记",
    "pinned_below_limit": "数据设限",
    "data_gap": "数据缺失",
    "air_hotspot": "空气站高值",
}

# statuses, actions, dispositions, answer kinds, roles
LABELS: Final[dict[str, str]] = {
    "open": "待处理",
    "acknowledged": "已受理",
    "dispatched": "已通知企业",
    "confirmed": "已确认违法",
    "dismissed": "已排除",
    "closed": "已办结",
    "superseded": "已合并",
    "acknowledge": "受理",
    "dispatch": "通知企业说明",
    "confirm": "确认违法",
    "dismiss": "排除",
    "close": "办结",
    "case_filed": "立案查处",
    "rectification_ordered": "责令整改",
    "explanation_accepted": "采纳企业说明",
    "false_alarm": "误报",
    "first_offence_no_penalty": "首违不罚",
    "explanation": "情况说明",
    "maintenance_declared": "申报运维",
    "rectification_done": "已完成整改",
    "officer": "执法人员",
    "enterprise": "企业",
    "admin": "管理员",
    "system": "系统",
    "retroactive": "事后补报",
    "too_long": "时长超限",
    "pending": "待审批",
    "approved": "已批准",
    "rejected": "已驳回",
}

# credit ledger entry types
ENTRY_TYPES: Final[dict[str, str]] = {
    "deduction": "扣分",
    "repair": "信用修复",
    "reversal": "撤销",
    "first_offence": "首违不罚",
    "repair_application": "信用修复申请",
    "repair_rejection": "信用修复申请驳回",
}

# the printable evidence page (shows both languages)
EVIDENCE: Final[dict[str, str]] = {
    "title": "环境违法行为电子证据包",
    "sha256": "证据包 SHA-256 摘要",
    "sha256_note": "对下载的规范化 JSON（/api/v1/evidence/{id}/package）计算 SHA-256 应得到上述值。",
    "chain": "哈希链",
    "alert": "预警",
    "enterprise": "企业",
    "devices": "设备",
    "rule": "规则",
    "params": "规则参数",
    "findings": "判定依据",
    "detector": "检测程序版本",
    "window": "数据时段",
    "start": "开始时间",
    "end": "结束时间",
    "ongoing": "确认时仍在持续",
    "severity": "级别",
    "summary": "摘要",
    "confirmation": "确认",
    "confirmed_by": "确认人",
    "confirmed_at": "确认时间",
    "charts": "监测数据曲线",
    "hourly": "小时均值",
    "raw": "原始监测数据（含数据标记）",
    "raw_cut": "此处仅列出前 {shown} 条，共 {count} 条；完整数据见 JSON 证据包。",
    "truncated": "原始数据超过上限，已截断。",
    "timezone": "时间均为北京时间（UTC+8）。",
    "print": "本页可直接打印。",
}

# details of API errors (ecowarn.api.errors; the JSON API answers in English)
ERRORS: Final[dict[str, str]] = {
    "validation_error": "请求无效：{fields}{more}",
    "validation_more": "（另有 {n} 项）",
    "database_unavailable": "数据库未响应，请稍后重试",
    "internal_error": "服务器内部错误，详情见服务器日志",
}

# uploaded files (ecowarn.store.attachments): why a file is refused
ATTACHMENTS: Final[dict[str, str]] = {
    "name_length": "文件名须为 1 至 {max} 个字符",
    "name_plain": "文件名 {name} 须为纯文件名，不得含目录、“..”或控制字符",
    "type_refused": "不接受文件类型 {type}；可用类型：{types}",
    "too_large": "{name} 大小为 {size} 字节，单个文件不得超过 {max} 字节",
    "empty": "{name} 是空文件",
    "not_utf8": "{name} 声明为 {type}，但不是 UTF-8 文本",
    "binary_text": "{name} 声明为 {type}，但含有二进制数据",
    "magic": "{name} 声明为 {type}，但文件内容与类型不符",
    "too_many": "最多上传 {max} 个文件",
    "base64": "不是有效的 base64 编码",
    "multipart": "multipart/form-data 请求体格式错误",
    "file_part": "文件部分须带文件名",
}

# rectification (整改) to closure: statuses, trail, refusals (ecowarn.alerts.rectification)
RECTIFICATION: Final[dict[str, str]] = {
    "st_ordered": "已责令整改",
    "st_submitted": "已提交整改材料",
    "st_verified": "已验收通过",
    "st_rejected": "已驳回",
    "st_withdrawn": "已撤回（预警已排除或合并）",
    "overdue": "已逾期",
    "ev_ordered": "责令整改",
    "ev_submitted": "企业提交整改材料",
    "ev_verified": "验收通过",
    "ev_rejected": "驳回",
    "ev_overdue": "逾期未整改，已升级",
    "ev_reminded": "已发送到期提醒",
    "ev_withdrawn": "随预警撤回",
    "not_found": "整改单 {id} 不存在",
    "attachment_not_found": "附件 {id} 不存在",
    "alert_status": "预警 {alert_id} 当前状态为“{state}”；只有已通知企业或已确认违法的预警可以责令整改",
    "in_progress": "预警 {alert_id} 已有进行中的整改单 {id}（{state}）",
    "no_enterprise": "预警 {alert_id} 不涉及企业，无法责令整改",
    "due_past": "整改期限须晚于当前时间（提交的期限为 {due}）",
    "requirements": "整改要求须为 1 至 {max} 个字符",
    "text": "整改材料须有 1 至 {max} 个字符的说明",
    "references": "附件最多 {max} 个，引用长度为 1 至 {length} 个字符",
    "decided": "整改单 {id} 的状态为“{state}”，不能再提交材料或作出决定",
    "unknown_field": "未知的表单字段 {name}；可用字段为 text、attachments 和 files",
    "verify_needs_submission": "整改单 {id} 当前为“{state}”；只有已提交整改材料的才能验收",
    "reason": "须填写 1 至 {max} 个字符的理由",
    "data_check_days": "data_check_days 须为 1 至 {max} 的整数天数",
    "recurred": "数据核查发现最近 {days} 天内 {rule} 再次发生（{found}）；如仍要验收通过，请加 force=true",
    "recurred_alerts": "预警 {ids}",
    "recurred_episodes": "重复发生记录 {ids}",
    "recurred_ongoing": "本预警的违法情形尚未结束",
    "overdue_reason": "整改单 {id} 的期限为 {due}，至今未验收通过",
}

# parts of alert summaries (ecowarn.i18n.Phrase): states, durations, devices, metrics, baselines
PHRASES: Final[dict[str, str]] = {
    "water_outlet": "废水排放口 {outlet}（{id}）",
    "water_metric_cod": "化学需氧量",
    "water_metric_nh3n": "氨氮",
    "water_metric_tp": "总磷",
    "water_metric_tn": "总氮",
    "water_metric_ph": "pH 值",
    "water_metric_flow": "废水流量",
    "stage_lag": "{name}（相差 {minutes} 分钟）",
    "ongoing": "仍在持续",
    "ended": "已结束",
    "duration_min": "{n} 分钟",
    "duration_h": "{n} 小时",
    "hours_one": "{n} 小时",
    "hours_other": "{n} 小时",
    "valid_hours_one": "{n} 个有效小时",
    "valid_hours_other": "{n} 个有效小时",
    "outlet": "排放口 {outlet}（{id}）",
    "cems": "在线监测设备 {id}",
    "air_station": "空气监测站 {id}",
    "air_station_named": "空气监测站 {id}（{name}）",
    "power_meter": "电表 {id}",
    "power_meter_named": "{name} 电表（{id}）",
    "its_production": "生产设施",
    "metric_so2": "二氧化硫",
    "metric_nox": "氮氧化物",
    "metric_pm": "颗粒物",
    "metric_co": "一氧化碳",
    "metric_o2": "氧含量",
    "metric_flow": "烟气流量",
    "metric_temp": "烟气温度",
    "metric_pressure": "烟气压力",
    "metric_humidity": "烟气湿度",
    "flag_M": "维护",
    "flag_C": "校准",
    "flag_D": "故障",
    "baseline_learned": "{value} {unit}，由近 {days} 天 {n} 个运行分钟学习得到",
    "baseline_rated": "额定值 {value} {unit}（历史数据不足：仅 {n} 个运行分钟，学习需 {needed} 个，暂用额定值）",
    "concentration_converted": "{pollutant}小时折算浓度（基准氧含量 {ref_o2}%）",
    "concentration_measured": "{pollutant}小时实测浓度（未登记基准氧含量）",
    "orders": "指令 {ids}（{start} 至 {end}）",
    "under_the_marks": "；标记期间{items}",
    "hidden_pollutant": "{pollutant}平均 {mean} mg/m3，为限值 {limit} 的 {ratio} 倍",
    "wind_none": "该站无风向风速数据",
    "wind_calm": "静风（{speed} m/s），无法判断上风向企业",
    "wind_from": "风向 {from_deg} 度、风速 {speed} m/s，上风向：{upwind}",
    "no_registered_enterprise": "无已登记企业",
    "site_named": "企业 {name}（{id}）",
    "air_stations": "空气监测站",
    "devices_one": "{n} 台设备",
    "devices_other": "{n} 台设备",
    "stations_one": "{n} 个站点",
    "stations_other": "{n} 个站点",
    "outage_site": "厂区停电或网络",
    "outage_network": "通信网络",
    "gap_group_ended": "至 {end} 全部恢复，历时 {gap}",
    "gap_group_waiting": "仍无数据：{still}",
    "gap_group_silent": "仍无数据：{still}，最长已 {silent}（实际时间，自 {arrived} 起未收到数据）",
}

# Alert summaries, one per rule and variant (ecowarn.i18n.summary).
ALERTS: Final[dict[str, str]] = {
    "water_flatline": ("{outlet}：{metric}自 {start} 起恒定为 {value}，持续 {duration}，"
                       "期间生产运行，疑似数据造假，{state}"),
    "water_daily": ("{outlet}：{metric}日均值最高 {max_mean} mg/L，"
                    "超过日均排放限值 {limit} mg/L（自 {start} 起连续 {periods} 天），{state}"),
    "water_hourly": ("{outlet}：{metric}小时均值最高 {max_mean} mg/L，超过小时排放限值"
        " {limit} mg/L（自 {start} 起连续 {periods} 小时），{state}"),
    "water_ph": "{outlet}：pH 值 {min}～{max}，超出允许范围 {low}～{high}，自 {start} 起持续 {duration} 分钟，{state}",
    "treatment_sequence_start": "生产设施 {production} 启动后治污设施才启动：{stages}，最长晚开 {max_lag} 分钟",
    "treatment_sequence_stop": "治污设施先于生产设施 {production} 停运：{stages}，最多早关 {max_lag} 分钟",
    "treatment_off": ("生产设施 {production} 运行（平均 {production_kw} kW），治污设施 {treatment} 未运行"
                      "（低于 {off_below} kW 视为停运），持续 {duration} 分钟，{state}"),
    "treatment_underload": ("治污设施 {treatment} 运行功率 {treatment_kw} kW，仅为典型运行负荷的 {load_pct}%"
                            "（低于 {ratio_pct}% 即 {threshold_kw} kW；典型负荷：{baseline}），"
                            "生产设施 {production} 运行，持续 {duration}，{state}"),
    "emergency_shutdown": ("重污染应急停产{orders}期间，生产设施 {production} 自 {start} 起仍在运行"
                           "（平均 {production_kw} kW，不低于 {running_kw} kW 视为运行），持续 {duration}，{state}"),
    "emergency_limit": ("重污染应急限产 {limit_pct}% {orders}期间，生产设施 {production} 自 {start} 起连续 "
                        "{hours}平均负荷最高 {max_kw} kW，超过允许值 {allowed_kw} kW 的 {excess_pct}%"
                        "（基准负荷：{baseline}），{state}"),
    "emission_exceedance": ("{outlet}：{what}自 {start} 起连续 {hours}超过排放限值 {limit} {unit}"
                            "（最高 {max} {unit}，为限值的 {max_ratio} 倍），{state}"),
    "pinned_below_limit": ("{outlet}：{what}自 {start} 起连续 {hours} 个有效小时稳定在 {band_low}-{band_high} {unit}"
                           "（限值 {limit} {unit} 的 {low_pct}%-{high_pct}%），变异系数仅 {cv_pct}%"
                           "（低于 {max_cv_pct}% 视为异常），疑似数据设限，{state}"),
    "flatline": ("{outlet}：{pollutant}自 {start} 起恒定为 {value} {unit}（标记 {flags}），持续 {duration}，"
                 "期间生产设施 {production} 运行，疑似数据造假，{state}"),
    "flatline_tolerance": ("{outlet}：{pollutant}自 {start} 起恒定为 {value} {unit}（标记 {flags}），持续 {duration}，"
                           "期间生产设施 {production} 运行，疑似数据造假，{state}"),
    "o2_dilution": ("{outlet}：自 {start} 起烟气氧含量平均 {o2_mean}%（最低 {o2_min}%，"
                    "不低于 {threshold}% 即接近空气），持续 {duration}，期间生产设施 {production} 运行，"
                    "疑似稀释排放，{state}"),
    "bypass_suspected": ("生产设施 {production} 合计 {total_kw} kW（不低于额定 {rated_kw} kW 的 "
                         "{production_pct}%），而 {outlet} 烟气流量平均仅 {flow_mean} m3/s，"
                         "低于典型运行流量的 {flow_pct}%（典型流量：{baseline}），自 {start} 起持续 {duration}，"
                         "工况与排放不符，疑似旁路排放，{state}"),
    "bypass_suspected_one": ("生产设施 {production} 合计 {total_kw} kW（不低于额定 {rated_kw} kW 的 "
                             "{production_pct}%），而 {outlet} 烟气流量平均仅 {flow_mean} m3/s，"
                             "低于典型运行流量的 {flow_pct}%（典型流量：{baseline}），自 {start} 起持续 {duration}，"
                             "工况与排放不符，疑似旁路排放，{state}"),
    "undeclared_marking": ("{outlet}：自 {start} 起 {metrics} 数据被标记为 {flags}，持续 {duration}，"
                           "无申报的维护记录{hidden}，{state}"),
    "data_gap": "{device}：{start} 至 {end} 无数据，缺失 {gap}（{min_gap} 分钟及以上即为缺失）",
    "data_gap_trimmed": ("{device}：{start} 至 {end} 无数据，缺失 {gap}（{min_gap} 分钟及以上即为缺失），"
                         "已扣除申报的维护时段"),
    "data_gap_silent": "{device}：自 {arrived}（实际时间）起未收到任何数据，已 {silent}，{state}",
    "data_gap_silent_unstored": "{device}：自 {arrived}（实际时间）起未收到任何数据，已 {silent}，{state}",
    "data_gap_resumed": "；数据已恢复，下一条数据时间 {next_reading}",
    "data_gap_group": "{site}：{count}自 {start} 起同时中断数据（{devices}），疑似{outage}故障；{extent}，{state}",
    "air_hotspot": "{station}：自 {start} 起{parts}，持续 {duration}；{wind}，{state}",
    "air_hotspot_metric": ("{pollutant}最高 {max} ug/m3（平均 {mean}），比周边 {radius_km} km 内 {count} 个站点的中位数"
                           "（{median}）高 {excess}"),
}

# Facts an ALERTS message above leaves out that the English one states.
OMITTED: Final[dict[str, frozenset[str]]] = {
    "emergency_limit": frozenset({"threshold_kw"}),
    "emission_exceedance": frozenset({"mean"}),
    "flatline": frozenset({"points"}),
    "flatline_tolerance": frozenset({"points", "tolerance"}),
    "bypass_suspected": frozenset({"flow_threshold"}),
    "bypass_suspected_one": frozenset({"flow_threshold"}),
    "data_gap_trimmed": frozenset({"maintenance_ids"}),
    "data_gap_silent": frozenset({"last_reading"}),
    "data_gap_resumed": frozenset({"gap"}),
    "air_hotspot": frozenset({"robust_sd_k", "min_excess", "min_duration"}),
    "air_hotspot_metric": frozenset({"robust_sd"}),
}

# Punctuation, codes and forms with nothing to translate (ecowarn.i18n.Join and Phrase).
FORMS: Final[dict[str, str]] = {
    "list": "、",
    "clauses": "；",
    "state_tail": "，{state}",
    "at_power": "{name}（{kw} kW）",
    "at_no_data": "{name}（无数据）",
    "at_distance": "{name}（{km} km）",
    "flag": "{flag}（{name}）",
    "metric_pm25": "PM2.5",
    "metric_pm10": "PM10",
}

# notifications to officers and reminders to enterprises (ecowarn.alerts.notify, alerts.warnings)
NOTIFY: Final[dict[str, str]] = {
    "high_alert": "高级别预警",
    "escalated": "预警升级",
    "rectification_overdue": "整改逾期",
    "maintenance_pending": "运维申报待审批",
    "answer_reminder": "说明期限提醒",
    "rectification_reminder": "整改期限提醒",
    "title_high_alert": "【高级别预警】{enterprise}",
    "text_high_alert": "{rule}：{summary}（预警 #{alert_id}，开始于 {start}）",
    "title_escalated": "【预警升级至第 {level} 级】{enterprise}",
    "text_escalated": "预警 #{alert_id}（{rule}）发出后一直无人受理，已升级至第 {level} 级：{summary}",
    "title_rectification_overdue": "【整改逾期】{enterprise}",
    "text_rectification_overdue": ("整改 #{id}（预警 #{alert_id}，{rule}）已于 {due} 到期，仍未通过核查；"
                                   "整改要求：{requirements}"),
    "title_maintenance_pending": "【运维申报待审批】{enterprise}",
    "text_maintenance_pending": "设备 {device_id} 申报运维 {start} 至 {end}，原因：{reason}（需审批：{why}）",
    "text_answer_reminder": "请于 {deadline} 前就预警 #{alert_id}（{rule}）提交情况说明，逾期视为放弃陈述申辩。",
    "text_rectification_reminder": ("整改 #{id}（预警 #{alert_id}，{rule}）将于 {deadline} 到期，"
                                    "请按要求完成整改并提交材料。"),
    "open": "查看详情",
    "no_enterprise": "无所属企业",
}

# positive lists, supervision plans and random draws (ecowarn.credit.supervision)
SUPERVISION: Final[dict[str, str]] = {
    "period": "期间须为 2000 至 2099 年的月（2026-12）、季度（2026-Q4）或年（2026），而不是 {value!r}",
    "unknown_enterprise": "不存在企业 {id}",
    "unknown_list": "不存在正面清单 {list!r}；可用的清单：{lists}",
    "end_not_after_start": "截止日期（{end}）须晚于开始日期（{start}）",
    "reason": "须填写 1 至 {max} 个字符的理由",
    "entry_not_found": "不存在正面清单条目 {id}",
    "draw_not_found": "不存在抽查记录 {id}",
    "region_not_found": "本辖区内不存在区域 {region}",
    "active": "active 须为 true、false 或日期（YYYY-MM-DD），而不是 {value!r}",
    "basis_level": "信用等级 {level}：每年例行现场检查 {per_year} 次",
    "basis_level_exempt": "信用等级 {level}：免于例行现场检查",
    "basis_positive_list_remote": ("已列入{lists}：信用等级 {level} 每年 {per_year} 次例行检查改为非现场检查；"
                                   "仅在投诉举报或发现问题线索时现场检查"),
    "basis_positive_list_skip": ("已列入{lists}：不安排例行现场检查（信用等级 {level} 原为每年 {per_year} 次）；"
                                 "仅在投诉举报或发现问题线索时现场检查"),
    "basis_positive_list_keep": "已列入{lists}；信用等级 {level}：每年例行现场检查 {per_year} 次",
}
