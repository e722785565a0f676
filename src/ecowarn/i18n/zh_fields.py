"""Chinese names of metrics, units and the fields of alert evidence and rule parameters.

Part of the Chinese catalog (re-exported by :mod:`ecowarn.i18n.zh`); kept apart because the
evidence fields are many. Units are written as the Chinese standards print them.
"""

from __future__ import annotations

from typing import Final

# metric codes (config/metrics.py) -> name
METRICS: Final[dict[str, str]] = {
    "so2": "二氧化硫", "nox": "氮氧化物", "pm": "颗粒物", "co": "一氧化碳", "o2": "含氧量",
    "flow": "流量", "temp": "温度", "pressure": "压力", "humidity": "湿度",
    "p": "功率", "e": "电能示值", "i": "电流", "rs": "运行状态",
    "pm25": "细颗粒物（PM2.5）", "pm10": "可吸入颗粒物（PM10）", "no2": "二氧化氮", "o3": "臭氧",
    "tvoc": "总挥发性有机物（TVOC）",
    "wind_dir": "风向", "wind_speed": "风速",
    "cod": "化学需氧量（COD）", "nh3n": "氨氮（NH3-N）", "tp": "总磷", "tn": "总氮", "ph": "pH 值",
    "energy_increment": "用电量（每分钟增量）",
}

# unit codes (config/metrics.py) -> how a page writes them
UNIT_SYMBOLS: Final[dict[str, str]] = {
    "mg/m3": "mg/m³", "ug/m3": "μg/m³", "m3/s": "m³/s", "degC": "℃", "deg": "°", "kPa": "kPa", "%": "%",
    "kW": "kW", "kWh": "kWh", "A": "A", "state": "", "m/s": "m/s", "mg/L": "mg/L", "pH": "", "L/s": "L/s",
    "min": "分钟", "s": "秒", "h": "小时", "km": "km", "times": "倍", "points": "个",
}

# keys of alert evidence (``facts``...) and of rule parameters -> name
EVIDENCE_FIELDS: Final[dict[str, str]] = {
    "facts": "判定事实", "metric": "监测指标", "metrics": "监测指标", "devices": "设备", "device_id": "设备",
    "station_id": "空气站", "enterprise_id": "企业", "severity": "级别", "duration_min": "持续时长",
    "duration": "持续时长", "source": "数据来源", "reason": "原因", "kind": "类型", "id": "编号",
    "state": "状态", "event": "事件", "group": "设备组", "stage": "治理环节", "stages": "治理环节",
    "stages_off": "未运行的治理环节", "stages_off_devices": "未运行的治污设施",
    "production": "生产设施", "production_mean_kw": "生产设施平均功率", "production_on_kw": "生产设施运行判定功率",
    "production_threshold_kw": "生产设施运行判定功率", "production_by_device_kw": "各生产设施功率",
    "production_ratio": "生产负荷比", "treatment_kw": "治污设施功率", "treatment_max_kw": "治污设施最大功率",
    "treatment_mean_kw": "治污设施平均功率", "treatment_off_below_kw": "治污设施停运判定功率（低于）",
    "treatment_on_kw": "治污设施运行判定功率", "threshold_kw": "判定功率", "allowed_kw": "允许功率",
    "rated_kw": "额定功率", "member_mean_kw": "成员平均功率", "member_max_kw": "成员最大功率",
    "hourly_mean_kw": "小时平均功率", "max_hourly_mean_kw": "最大小时平均功率",
    "mean_hourly_mean_kw": "小时平均功率的均值", "load_pct": "负荷率", "load_pct_of_baseline": "负荷率（相对基线）",
    "load_ratio": "负荷比", "off_ratio": "停运判定比例", "high_severity_min": "高级别所需时长",
    "medium_severity_min": "中级别所需时长", "min_duration_min": "最短持续时长", "min_gap_min": "最短缺失时长",
    "gap_min": "缺失时长", "silent_min": "无数据时长", "lag_min": "滞后时长", "min_lag_min": "最短滞后时长",
    "max_lag_min": "最长滞后时长", "max_hold_s": "最长保持时长", "group_window_min": "合并时间窗",
    "shutdown_min_duration_min": "停产最短时长", "ph_min_duration_min": "pH 异常最短时长",
    "window_days": "统计天数", "baseline": "基线", "baseline_window_s": "基线时间窗",
    "baseline_min_samples": "基线最少样本数", "basis": "依据", "band_low": "基线下限", "band_high": "基线上限",
    "robust_sd_k": "稳健标准差倍数", "robust_sd_mean": "稳健标准差均值", "robust_sd_floor_ugm3": "稳健标准差下限",
    "mad": "中位数绝对偏差", "cv": "变异系数", "max_cv": "最大变异系数", "max_window_cv": "时间窗最大变异系数",
    "mean_within_hour_cv": "小时内平均变异系数", "limit": "排放限值", "limit_pct": "限值百分比",
    "limit_tolerance": "限值容差", "tolerance": "容差", "ratio_to_limit": "与限值之比",
    "max_ratio_to_limit": "与限值之比（最大）", "ratio_pct": "比例", "excess_pct": "超出比例",
    "hours": "有效小时数", "high_hours": "超标小时数", "min_hours": "最少小时数", "min_valid_hours": "最少有效小时数",
    "min_valid_minutes": "每小时最少有效分钟数", "min_points_per_hour": "每小时最少数据点",
    "n_valid": "有效数据数", "min_samples": "最少样本数", "hourly": "小时值", "hourly_converted": "折算小时浓度",
    "max_hourly_converted": "最大折算小时浓度", "mean_hourly_converted": "折算小时浓度均值",
    "min_hourly_converted": "最小折算小时浓度", "converted": "折算浓度", "ref_o2_pct": "基准含氧量",
    "o2_pct": "含氧量", "o2_mean_pct": "平均含氧量", "o2_max_pct": "最大含氧量", "o2_min_pct": "最小含氧量",
    "o2_threshold_pct": "含氧量判定值", "value": "数值", "max_value": "最大值", "min_value": "最小值",
    "mean_value": "平均值", "max": "最大值", "min": "最小值", "mean": "平均值", "means": "平均值",
    "max_mean": "最大平均值", "max_ratio": "最大比值", "high": "上限", "low": "下限", "high_ratio": "上限比例",
    "low_ratio": "下限比例", "flow_threshold": "流量判定值", "flow_ratio": "流量比", "flow_mean": "平均流量",
    "flow_max": "最大流量", "ph_range": "pH 允许范围", "points": "数据点数", "measure": "计量方式",
    "neighbours": "周边空气站", "neighbour_median_mean": "周边站中位数均值", "min_neighbours": "最少周边站数",
    "min_neighbours_with_data": "最少有数据的周边站数", "mean_excess": "平均超出值", "max_excess": "最大超出值",
    "min_excess_ugm3": "最小超出值", "radius_km": "半径", "distance_km": "距离", "bearing_deg": "方位角",
    "from_deg": "来向", "offset_deg": "偏角", "upwind": "上风向", "upwind_max_km": "上风向最远距离",
    "upwind_half_sector_deg": "上风向半扇区角", "wind": "风", "speed_ms": "风速", "calm_wind_ms": "静风风速",
    "by_metric": "按指标", "start_s": "开始时间", "end_s": "结束时间", "as_of_s": "截至", "now_s": "判定时间",
    "hour_s": "小时", "arrival_s": "到达时间", "last_arrival_s": "最后到达时间", "last_reading_s": "最后一条数据时间",
    "next_reading_s": "下一条数据时间", "last_event_reading_s": "事件前最后数据时间",
    "first_silent_s": "开始无数据时间",
    "last_resumed_s": "最近恢复时间", "order_start_s": "管控开始时间", "order_end_s": "管控结束时间",
    "orders": "应急管控指令", "periods": "时段", "silences": "无数据时段", "devices_silent": "无数据设备",
    "still_silent": "仍无数据", "resumed": "已恢复", "merged_outage": "合并的中断",
    "filled_by_late_data": "由迟到数据补齐", "superseded_by": "被替代为", "suppressed_by_maintenance": "运维期间不预警",
    "maintenance_excluded": "已排除的运维时段",
    "maintenance_ids": "运维申报", "flag_counts": "各数据标记条数", "flags_checked": "检查的数据标记",
    "valid_flags": "有效数据标记", "marking_flags": "异常数据标记", "metrics_marked": "被标记的指标",
    "under_the_marks": "标记下的数据", "raw": "原始值", "wind_dir": "风向", "wind_speed": "风速",
    # a filed document's fields (rectification submission, repair application)
    "doc.alert_id": "预警编号", "doc.due": "整改期限", "doc.rectification": "整改编号", "doc.requirements": "整改要求",
    "doc.rule": "规则", "doc.submission": "第几次提交", "doc.application_id": "申请编号", "doc.deduction": "扣分记录",
    "doc.id": "编号", "doc.points": "分值", "doc.severity": "级别", "doc.recorded_at": "记录时间", "doc.hash": "哈希",
    "doc.publication": "公示", "doc.class": "类别", "doc.allowed_from": "可申请修复时间", "doc.filed_at": "提交时间",
    "doc.class_ordinary": "一般失信行为", "doc.class_serious": "严重失信行为", "doc.rectification_id": "整改编号",
    "doc.submission_id": "提交编号",
    # the stage members of a treatment_underload alert, a baseline's sample count, and the
    # production power of alerts written by earlier builds
    "members": "同一治理环节的设施", "n": "样本数", "production_kw": "生产设施功率",
}

# content types of accepted files (store/attachments.py) -> name
FILE_KINDS: Final[dict[str, str]] = {
    "application/pdf": "PDF 文档", "image/jpeg": "JPEG 图片", "image/png": "PNG 图片", "image/webp": "WebP 图片",
    "text/plain": "文本文件", "text/csv": "CSV 表格",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word 文档（DOCX）",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel 表格（XLSX）",
}
