"""Console pages of credit evaluations, positive lists, the supervision plan and random draws:
each page in Chinese and English, each form's success and its refusals shown beside the form,
and what a region-limited officer or an enterprise session may see."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import httpx
import psycopg
from test_api_support import CEMENT, COKING, GLASS, ApiEnv

from ecowarn.credit.evaluation import default_credit_model
from ecowarn.credit.supervision import today_cst
from ecowarn.store.tokens import create_token

pytest_plugins = ("test_api_support",)

HEBEI = default_credit_model().catalogs["hebei_initial"]
# This month (draws) and this year (the plan: every level's windows close within it).
PERIOD = today_cst().strftime("%Y-%m")
YEAR = today_cst().strftime("%Y")


async def _login(api: ApiEnv, role: str, enterprise_id: str | None = None, *, region: str | None = None,
                 label: str = "") -> str:
    """Log the client in with a new token; returns the token."""
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        token = await create_token(conn, role=role, enterprise_id=enterprise_id, region=region, label=label)
    api.client.cookies.clear()
    r = await api.client.get("/console/login", params={"token": token})
    assert r.status_code == 303
    return token


def _form_token(page: httpx.Response) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert m, "no form token on the page"
    return m.group(1)


async def _enterprise_form_token(api: ApiEnv, enterprise_id: str, device: str) -> str:
    """The session's valid form token, from the answer form of one of the enterprise's alerts
    (the pages under test show an enterprise no form)."""
    alert = await api.insert_alert(enterprise_id=enterprise_id, device_ids=(device,))
    return _form_token(await api.client.get(f"/console/alerts/{alert}"))


async def _evaluate(api: ApiEnv, token: str, enterprise_id: str, points: dict[str, int | str], *,
                    kind: str = "initial", lang: str = "zh", notes: dict[str, str] | None = None) -> httpx.Response:
    """Post the evaluation form: points typed as found (0..max), with notes."""
    form = {"csrf": token, "enterprise_id": enterprise_id, "catalog": HEBEI.id, "kind": kind}
    form |= {f"points.{item}": str(n) for item, n in points.items()}
    form |= {f"note.{item}": text for item, text in (notes or {}).items()}
    return await api.client.post("/console/credit/evaluations/new" + ("?lang=en" if lang == "en" else ""),
                                 data=form)


async def _count(api: ApiEnv, table: str) -> int:
    return int((await api.execute(f"SELECT count(*) FROM {table}"))[0][0])


# --- evaluations -----------------------------------------------------------------------------


async def test_evaluation_list_and_form_in_chinese_and_english(api: ApiEnv) -> None:
    """The list shows every enterprise of the jurisdiction still without an initial evaluation
    with a link to evaluate it; the form has one row per catalog item grouped by category, with
    kind, maximum and inputs, in Chinese by default and in English with ?lang=en."""
    await _login(api, "officer")
    page = await api.client.get("/console/credit/evaluations")
    assert page.status_code == 200, page.text
    assert "信用评价" in page.text and "辖区企业评价情况" in page.text and "尚未进行初次评价" in page.text
    for name in ("石家庄某某水泥有限公司", "石家庄某某焦化有限公司", "唐县某某玻璃制品有限公司"):
        assert name in page.text
    assert f"/console/credit/evaluations/new?enterprise_id={CEMENT}&amp;kind=initial" in page.text
    page = await api.client.get("/console/credit/evaluations", params={"lang": "en"})
    assert "Credit evaluations" in page.text and "no initial evaluation yet" in page.text
    assert "尚未" not in page.text

    form = await api.client.get("/console/credit/evaluations/new", params={"enterprise_id": CEMENT})
    assert form.status_code == 200
    text = form.text
    assert "记录信用评价" in text and "环评与排污许可手续" in text
    assert "建设项目环境影响评价审批（备案）手续齐全" in text
    assert text.count('class="category"') == len(HEBEI.categories) == 12
    assert text.count('name="points.') == len(HEBEI.items) == 37
    assert 'name="points.eia_approval" min="0" max="4"' in text and "扣分项" in text
    assert f'<option value="{CEMENT}" selected>' in text and '<option value="initial" selected>' in text
    en = await api.client.get("/console/credit/evaluations/new", params={"enterprise_id": CEMENT, "lang": "en"})
    assert "Record an evaluation" in en.text and "Permits and procedures" in en.text
    assert "EIA approved or filed for every project" in en.text and "deduction" in en.text
    assert "环评与排污许可手续" not in en.text
    daxing = await api.client.get("/console/credit/evaluations/new", params={"catalog": "daxing_green"})
    assert daxing.text.count('name="points.') == 30 and "加分项" in daxing.text


async def test_recording_an_initial_evaluation_links_its_report_and_level_history(api: ApiEnv) -> None:
    """Posting the form records the evaluation with deduction points signed negative, redirects
    to its page with the saved notice, the printable report and the level history; the list
    then links the enterprise's initial evaluation."""
    await _login(api, "officer", label="王芳")
    token = _form_token(await api.client.get("/console/credit/evaluations/new"))
    r = await _evaluate(api, token, CEMENT, {"eia_approval": 4, "facility_operation": 5},
                        notes={"eia_approval": "2号线未办环评", "noise": "厂界噪声达标"})
    assert r.status_code == 303, r.text
    m = re.fullmatch(r"/console/credit/evaluations/(\d+)\?saved=1", r.headers["location"])
    assert m
    evaluation_id = int(m.group(1))
    (score, level, kind), = await api.execute("SELECT score, level, kind FROM evaluations WHERE id = %s",
                                              (evaluation_id,))
    assert (score, level, kind) == (91, "A", "initial")
    items = (await api.execute("SELECT items FROM evaluations WHERE id = %s", (evaluation_id,)))[0][0]
    assert {i["item"]: i["points"] for i in items} == {"eia_approval": -4, "facility_operation": -5, "noise": 0}

    page = await api.client.get(r.headers["location"])
    assert page.status_code == 200
    assert f"评价 #{evaluation_id} 已保存" in page.text and "2号线未办环评" in page.text
    assert f'href="/console/credit/evaluations/{evaluation_id}/report"' in page.text
    assert "基础分 100，扣 9 分，加 0 分，得分 91" in page.text
    assert 'id="level-history"' in page.text and "信用评价" in page.text
    report = await api.client.get(f"/console/credit/evaluations/{evaluation_id}/report")
    assert report.status_code == 200 and "企业生态环境信用初次评价报告" in report.text
    assert "2号线未办环评" in report.text
    en = await api.client.get(f"/console/credit/evaluations/{evaluation_id}", params={"lang": "en"})
    assert "base 100, 9 deducted, 0 added: score 91" in en.text and "Level history" in en.text

    listing = await api.client.get("/console/credit/evaluations", params={"enterprise_id": CEMENT})
    assert f'href="/console/credit/evaluations/{evaluation_id}">#{evaluation_id}</a>' in listing.text
    assert "信用等级变化 · 石家庄某某水泥有限公司" in listing.text and "王芳" in listing.text
    assert f"/console/credit/evaluations/new?enterprise_id={CEMENT}&amp;kind=periodic" in listing.text


async def test_refused_evaluations_show_every_problem_beside_the_form(api: ApiEnv) -> None:
    """Points over an item's maximum, a points field that is not a number, an unknown
    enterprise and a second initial evaluation re-render the form (422, 409) with the reasons
    beside the rows and fields, in the page's language, the typed values kept; nothing is
    stored by a refused post."""
    await _login(api, "officer")
    token = _form_token(await api.client.get("/console/credit/evaluations/new"))
    r = await _evaluate(api, token, CEMENT, {"eia_approval": 9, "noise": 1}, notes={"eia_approval": "未批先建"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "评价未保存" in r.text and "请填写 0 至 4 的整数" in r.text
    assert re.search(r'<tr id="item-eia_approval" class="has-error">', r.text)
    assert 'value="9"' in r.text and 'value="未批先建"' in r.text and 'name="points.noise"' in r.text
    r = await _evaluate(api, token, CEMENT, {"eia_approval": 9}, lang="en")
    assert r.status_code == 422 and "enter a whole number from 0 to 4" in r.text and "Evaluation not saved" in r.text
    r = await _evaluate(api, token, CEMENT, {"noise": "x"})
    assert r.status_code == 422 and "请填写 0 至 1 的整数" in r.text
    r = await _evaluate(api, token, "91000000NOSUCH0000", {"noise": 1})
    assert r.status_code == 422 and "登记册中没有企业 91000000NOSUCH0000" in r.text
    r = await _evaluate(api, token, "91000000NOSUCH0000", {"eia_approval": 5, "fugitive": "x", "noise": 2})
    assert r.status_code == 422 and "有 4 处需要修改" in r.text  # every problem in one go, in the form's order
    listed = re.search(r"<ul>(.*?)</ul>", r.text, re.S)
    assert listed and re.findall(r"<li>(.*?)：", listed.group(1)) == [
        "企业", "建设项目环境影响评价审批（备案）手续齐全", "无组织排放与扬尘管控", "厂界噪声达标"]
    assert r.text.count('class="has-error"') == 3
    assert await _count(api, "evaluations") == 0

    assert (await _evaluate(api, token, CEMENT, {"noise": 1})).status_code == 303
    r = await _evaluate(api, token, CEMENT, {"eia_approval": 2})
    assert r.status_code == 409 and "已有初次评价" in r.text and "查看已有的初次评价" in r.text
    assert 'value="2"' in r.text
    r = await _evaluate(api, token, CEMENT, {"eia_approval": 2}, lang="en")
    assert r.status_code == 409 and "already has an initial evaluation" in r.text
    assert await _count(api, "evaluations") == 1
    assert (await _evaluate(api, token, CEMENT, {"eia_approval": 2}, kind="periodic")).status_code == 303


async def test_evaluation_pages_are_scoped(api: ApiEnv) -> None:
    """A region-limited officer evaluates and sees only its region's enterprises (another's is
    the refusal of an unknown enterprise, its evaluation page 404); an enterprise sees its own
    evaluations and report, not the form (403), and another's evaluation is 404."""
    await _login(api, "officer")
    token = _form_token(await api.client.get("/console/credit/evaluations/new"))
    r = await _evaluate(api, token, CEMENT, {"noise": 1})
    cement_eval = int(r.headers["location"].split("/")[-1].split("?")[0])
    r = await _evaluate(api, token, GLASS, {"noise": 1})
    glass_eval = int(r.headers["location"].split("/")[-1].split("?")[0])

    await _login(api, "officer", region="1306")
    page = await api.client.get("/console/credit/evaluations")
    assert "唐县某某玻璃制品有限公司" in page.text and "石家庄某某水泥有限公司" not in page.text
    assert f"#{glass_eval}</a>" in page.text and f"#{cement_eval}</a>" not in page.text
    assert (await api.client.get(f"/console/credit/evaluations/{cement_eval}")).status_code == 404
    assert (await api.client.get(f"/console/credit/evaluations/{cement_eval}/report")).status_code == 404
    form = await api.client.get("/console/credit/evaluations/new")
    assert GLASS in form.text and CEMENT not in form.text
    r = await _evaluate(api, _form_token(form), CEMENT, {"noise": 1}, kind="periodic")
    assert r.status_code == 422 and f"登记册中没有企业 {CEMENT}" in r.text

    await _login(api, "enterprise", CEMENT)
    page = await api.client.get("/console/credit/evaluations")
    assert page.status_code == 200 and f"#{cement_eval}</a>" in page.text and f"#{glass_eval}</a>" not in page.text
    assert "辖区企业评价情况" not in page.text and 'id="level-history"' in page.text
    assert (await api.client.get(f"/console/credit/evaluations/{cement_eval}/report")).status_code == 200
    assert (await api.client.get(f"/console/credit/evaluations/{glass_eval}")).status_code == 404
    assert (await api.client.get("/console/credit/evaluations/new")).status_code == 403
    r = await _evaluate(api, await _enterprise_form_token(api, CEMENT, "PWR-KILN-1"), CEMENT, {"noise": 1},
                        kind="periodic")
    assert r.status_code == 403 and await _count(api, "evaluations") == 2


# --- positive list ---------------------------------------------------------------------------


async def test_positive_list_page_adds_filters_and_removes(api: ApiEnv) -> None:
    """An officer lists an enterprise (303), sees it active in both languages, filters by list,
    region, enterprise and day, removes it with a reason (kept, shown with removed entries)."""
    await _login(api, "officer", label="赵敏")
    page = await api.client.get("/console/positive-list")
    assert page.status_code == 200 and "正面清单" in page.text and "没有符合条件的正面清单条目" in page.text
    token = _form_token(page)
    today = today_cst()
    r = await api.client.post("/console/positive-list", data={
        "csrf": token, "enterprise_id": CEMENT, "list": "positive", "start": today.isoformat(),
        "end": (today + timedelta(days=364)).isoformat(), "reason": "连续三年无违法记录"})
    assert (r.status_code, r.headers["location"]) == (303, "/console/positive-list")
    (entry_id,), = await api.execute("SELECT id FROM positive_list WHERE enterprise_id = %s", (CEMENT,))
    page = await api.client.get("/console/positive-list")
    assert "连续三年无违法记录" in page.text and ">有效<" in page.text and "赵敏" in page.text
    en = await api.client.get("/console/positive-list", params={"lang": "en"})
    assert "Positive list" in en.text and ">active<" in en.text and "positive list" in en.text
    for params in ({"region": "1306"}, {"enterprise_id": COKING}, {"list": "enforcement"},
                   {"active": (today - timedelta(days=1)).isoformat()}):
        assert "连续三年无违法记录" not in (await api.client.get("/console/positive-list", params=params)).text
    for params in ({"region": "1301"}, {"enterprise_id": CEMENT}, {"active": today.isoformat()}):
        assert "连续三年无违法记录" in (await api.client.get("/console/positive-list", params=params)).text

    r = await api.client.post(f"/console/positive-list/{entry_id}/remove?lang=en",
                              data={"csrf": token, "reason": "发现超标排放"})
    assert (r.status_code, r.headers["location"]) == (303, "/console/positive-list?lang=en")
    assert "连续三年无违法记录" not in (await api.client.get("/console/positive-list")).text
    page = await api.client.get("/console/positive-list", params={"include_removed": "1"})
    assert "已移出" in page.text and "发现超标排放" in page.text
    assert f"/positive-list/{entry_id}/remove" not in page.text
    r = await api.client.post(f"/console/positive-list/{entry_id}/remove", data={"csrf": token, "reason": "again"})
    assert r.status_code == 404


async def test_positive_list_refusals_are_shown_beside_the_form(api: ApiEnv) -> None:
    """An end not after the start, an unknown enterprise, a missing reason and a day that is
    not a day re-render the page (422) with the reason beside the add form, the typed values
    kept, in Chinese or English; a filter day that is not a day is shown beside the filter."""
    await _login(api, "officer")
    token = _form_token(await api.client.get("/console/positive-list"))
    base = {"csrf": token, "enterprise_id": CEMENT, "list": "positive", "reason": "守法记录良好"}
    r = await api.client.post("/console/positive-list", data=base | {"start": "2026-12-10", "end": "2026-12-01"})
    assert r.status_code == 422 and "未能列入" in r.text
    assert "截止日期（2026-12-01）须晚于开始日期（2026-12-10）" in r.text
    assert 'value="2026-12-10"' in r.text and 'value="2026-12-01"' in r.text and ">守法记录良好</textarea>" in r.text
    assert f'<option value="{CEMENT}" selected>' in r.text
    r = await api.client.post("/console/positive-list?lang=en",
                              data=base | {"start": "2026-12-10", "end": "2026-12-01"})
    assert r.status_code == 422 and "Not listed" in r.text
    assert "End (2026-12-01) must be after start (2026-12-10)" in r.text
    r = await api.client.post("/console/positive-list", data=base | {"enterprise_id": "91000000NOSUCH0000"})
    assert r.status_code == 422 and "不存在企业 91000000NOSUCH0000" in r.text
    r = await api.client.post("/console/positive-list", data=base | {"reason": "  "})
    assert r.status_code == 422 and "须填写 1 至 2000 个字符的理由" in r.text
    r = await api.client.post("/console/positive-list", data=base | {"start": "2026-13-40"})
    assert r.status_code == 422 and "请按“年-月-日”填写日期，而不是“2026-13-40”" in r.text
    assert await _count(api, "positive_list") == 0
    r = await api.client.get("/console/positive-list", params={"active": "tomorrow"})
    assert r.status_code == 422 and 'id="filter-error"' in r.text and "tomorrow" in r.text


async def test_positive_list_scoping(api: ApiEnv) -> None:
    """A region-limited officer sees and lists only its region's enterprises (another's is the
    refusal of an unknown enterprise) and cannot remove another region's entry (404); an
    enterprise sees its own entries without forms, and may not post (403)."""
    await _login(api, "officer")
    token = _form_token(await api.client.get("/console/positive-list"))
    for enterprise in (CEMENT, GLASS):
        r = await api.client.post("/console/positive-list", data={
            "csrf": token, "enterprise_id": enterprise, "reason": f"reason {enterprise}"})
        assert r.status_code == 303
    (cement_entry,), = await api.execute("SELECT id FROM positive_list WHERE enterprise_id = %s", (CEMENT,))

    await _login(api, "officer", region="1306")
    page = await api.client.get("/console/positive-list")
    assert f"reason {GLASS}" in page.text and f"reason {CEMENT}" not in page.text
    token = _form_token(page)
    r = await api.client.post(f"/console/positive-list/{cement_entry}/remove", data={"csrf": token, "reason": "x"})
    assert r.status_code == 404
    r = await api.client.post("/console/positive-list", data={"csrf": token, "enterprise_id": COKING, "reason": "x"})
    assert r.status_code == 422 and f"不存在企业 {COKING}" in r.text

    await _login(api, "enterprise", CEMENT)
    page = await api.client.get("/console/positive-list")
    assert page.status_code == 200 and f"reason {CEMENT}" in page.text and f"reason {GLASS}" not in page.text
    assert 'id="add-form"' not in page.text and "/remove" not in page.text
    token = await _enterprise_form_token(api, CEMENT, "PWR-KILN-1")
    r = await api.client.post("/console/positive-list", data={"csrf": token, "enterprise_id": CEMENT, "reason": "x"})
    assert r.status_code == 403
    r = await api.client.post(f"/console/positive-list/{cement_entry}/remove", data={"csrf": token, "reason": "x"})
    assert r.status_code == 403
    assert await _count(api, "positive_list WHERE deleted_at IS NULL") == 2


# --- supervision plan and draws --------------------------------------------------------------


async def test_supervision_page_shows_the_plan_by_level_and_list(api: ApiEnv) -> None:
    """The plan of a year lists each enterprise with its level, list status, inspections due
    and why, in Chinese and English: a level A firm is inspected once, a level D firm every
    month, a listed firm's routine inspection becomes an off-site check (exempt on-site)."""
    await _login(api, "officer")
    token = _form_token(await api.client.get("/console/credit/evaluations/new"))
    heavy: dict[str, int | str] = {}
    total = 0
    for it in HEBEI.ordered_items():  # deductions enough to bring the coking plant to level D
        if it.kind == "deduction" and total < 55:
            heavy[it.id] = it.max_points
            total += it.max_points
    assert (await _evaluate(api, token, COKING, heavy)).status_code == 303
    r = await api.client.post("/console/positive-list", data={"csrf": token, "enterprise_id": GLASS, "reason": "守法"})
    assert r.status_code == 303

    page = await api.client.get("/console/supervision", params={"period": YEAR})
    assert page.status_code == 200, page.text
    text = page.text
    assert "信用监管计划与双随机抽查" in text and "监管计划" in text and f"· {YEAR}</h1>" in text
    rows = {m.group(1): m.group(0) for m in re.finditer(r"<tr>\s*<td>[^<]*<small class=\"note\">(\w+)</small>.*?</tr>",
                                                        text, re.S)}
    assert set(rows) == {CEMENT, COKING, GLASS}
    assert "信用等级 A：每年例行现场检查 1 次" in rows[CEMENT] and "<strong>1</strong>" in rows[CEMENT]
    assert "信用等级 D：每年例行现场检查 12 次" in rows[COKING] and "<strong>12</strong>" in rows[COKING]
    assert "已列入正面清单" in rows[GLASS] and "<strong>0</strong>" in rows[GLASS]
    assert '<span class="badge warn">是</span>' in rows[GLASS] and '<span class="badge warn">' not in rows[CEMENT]
    assert 'id="plan-csv"' in text and 'id="draw-form"' in text
    en = await api.client.get("/console/supervision", params={"period": YEAR, "lang": "en"})
    assert "Supervision plan and random checks" in en.text
    assert "level D: 12 routine on-site inspection(s) a year" in en.text
    assert "监管计划" not in en.text

    exported = await api.client.get("/console/supervision/plan.csv", params={"period": YEAR, "region": "13"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    plan = {row["enterprise_id"]: row for row in csv.DictReader(io.StringIO(exported.text))}
    assert plan[COKING]["level"] == "D" and plan[COKING]["inspections"] == "12"
    assert plan[GLASS]["positive_list"] == "true" and plan[GLASS]["remote_inspections"] == "1"
    assert plan[CEMENT]["inspections"] == "1"


async def test_drawing_remote_checks_reproduces_and_exports(api: ApiEnv) -> None:
    """A draw posted from the page (303) shows its inputs, seed, candidates with weights and
    the selection in order; "re-run and check" says it selects the same; the same seed drawn
    again selects the same enterprises; the CSV has one row per candidate."""
    await _login(api, "officer")
    token = _form_token(await api.client.get("/console/supervision"))
    form = {"csrf": token, "region": "13", "period": PERIOD, "kind": "remote", "count": "2", "seed": "20261201"}
    r = await api.client.post("/console/supervision/draws", data=form)
    assert r.status_code == 303, r.text
    first = int(r.headers["location"].rsplit("/", 1)[1])
    page = await api.client.get(r.headers["location"])
    assert page.status_code == 200 and "远程执法抽查" in page.text and "20261201" in page.text
    assert "由执法人员指定" in page.text and page.text.count('class="selected-row"') == 2
    assert re.search(r'<ol id="selected-list">(\s*<li>.*?</li>){2}</ol>', page.text, re.S)
    (selected,), = await api.execute("SELECT selected FROM supervision_draws WHERE id = %s", (first,))
    r = await api.client.post(f"/console/supervision/draws/{first}/verify", data={"csrf": token})
    assert r.status_code == 200 and "核对一致：用随机种子 20261201 重新抽取，得到同样的 2 家企业，顺序相同" in r.text
    r = await api.client.post(f"/console/supervision/draws/{first}/verify?lang=en", data={"csrf": token})
    assert "Checked: drawing again with seed 20261201 selects the same 2 enterprise(s)" in r.text

    again = await api.client.post("/console/supervision/draws", data=form)
    second = int(again.headers["location"].rsplit("/", 1)[1])
    (selected_again,), = await api.execute("SELECT selected FROM supervision_draws WHERE id = %s", (second,))
    assert selected_again == selected and second != first

    exported = await api.client.get(f"/console/supervision/draws/{first}.csv")
    assert exported.status_code == 200 and exported.headers["x-draw-seed"] == "20261201"
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["enterprise_id"] for r in rows} == {CEMENT, COKING, GLASS}
    assert [r["enterprise_id"] for r in sorted((r for r in rows if r["selected"] == "true"),
                                               key=lambda r: int(r["rank"]))] == selected
    listing = await api.client.get("/console/supervision", params={"region": "13", "period": PERIOD, "lang": "en"})
    assert f'href="/console/supervision/draws/{first}?lang=en"' in listing.text and "remote spot check" in listing.text


async def test_refused_draws_are_shown_beside_the_form(api: ApiEnv) -> None:
    """A period that is not one, a count of 0, a seed that is not a number and an unknown kind
    re-render the page (422) with the reason beside the draw form and the typed values kept;
    a region outside the officer's jurisdiction is 404 beside the form; nothing is drawn."""
    await _login(api, "officer", region="1306")
    token = _form_token(await api.client.get("/console/supervision"))
    base = {"csrf": token, "period": PERIOD, "kind": "onsite", "count": "1"}
    r = await api.client.post("/console/supervision/draws", data=base | {"period": "2026-13"})
    assert r.status_code == 422 and "未能抽取" in r.text and "期间须为" in r.text and 'value="2026-13"' in r.text
    r = await api.client.post("/console/supervision/draws?lang=en", data=base | {"period": "Dec"})
    assert r.status_code == 422 and "Not drawn" in r.text and "Period must be a month" in r.text
    r = await api.client.post("/console/supervision/draws", data=base | {"count": "0"})
    assert r.status_code == 422 and "抽取数量须为 1 至 10000 的整数，而不是“0”" in r.text
    r = await api.client.post("/console/supervision/draws", data=base | {"seed": "abc"})
    assert r.status_code == 422 and "随机种子须为" in r.text and 'value="abc"' in r.text
    r = await api.client.post("/console/supervision/draws", data=base | {"kind": "aerial"})
    assert r.status_code == 422 and "抽查方式须为远程执法抽查或现场检查抽查" in r.text
    r = await api.client.post("/console/supervision/draws", data=base | {"region": "1301"})
    assert r.status_code == 404 and "本辖区内不存在区域 1301" in r.text and 'id="draw-form"' in r.text
    assert await _count(api, "supervision_draws") == 0
    r = await api.client.get("/console/supervision", params={"period": "next month"})
    assert r.status_code == 422 and 'id="filter-error"' in r.text and 'id="plan-table"' not in r.text


async def test_supervision_pages_are_scoped(api: ApiEnv) -> None:
    """An officer of 1306 sees only its region's plan and draws: 1301's plan, draw page, CSV
    and verification are 404, its own default draw covers its region only; an enterprise
    session gets 403 on every supervision page."""
    await _login(api, "officer")
    token = _form_token(await api.client.get("/console/supervision"))
    r = await api.client.post("/console/supervision/draws", data={
        "csrf": token, "region": "1301", "period": PERIOD, "kind": "onsite", "count": "1"})
    assert r.status_code == 303
    other = int(r.headers["location"].rsplit("/", 1)[1])

    await _login(api, "officer", region="1306")
    page = await api.client.get("/console/supervision", params={"period": PERIOD})
    assert page.status_code == 200 and GLASS in page.text and CEMENT not in page.text and COKING not in page.text
    assert f"/console/supervision/draws/{other}" not in page.text
    other_plan = await api.client.get("/console/supervision", params={"region": "1301", "period": PERIOD})
    assert other_plan.status_code == 404
    assert (await api.client.get("/console/supervision/plan.csv", params={"region": "1301"})).status_code == 404
    assert (await api.client.get(f"/console/supervision/draws/{other}")).status_code == 404
    assert (await api.client.get(f"/console/supervision/draws/{other}.csv")).status_code == 404
    token = _form_token(page)
    r = await api.client.post(f"/console/supervision/draws/{other}/verify", data={"csrf": token})
    assert r.status_code == 404
    r = await api.client.post("/console/supervision/draws", data={
        "csrf": token, "period": PERIOD, "kind": "remote", "count": "5"})
    assert r.status_code == 303
    own = int(r.headers["location"].rsplit("/", 1)[1])
    (region, selected), = await api.execute("SELECT region, selected FROM supervision_draws WHERE id = %s", (own,))
    assert (region, selected) == ("1306", [GLASS])
    page = await api.client.get("/console/supervision", params={"period": PERIOD})
    assert f"/console/supervision/draws/{own}" in page.text and f"/console/supervision/draws/{other}" not in page.text

    await _login(api, "enterprise", GLASS)
    token = await _enterprise_form_token(api, GLASS, "PWR-FURN-1")
    for path in ("/console/supervision", "/console/supervision/plan.csv", f"/console/supervision/draws/{own}",
                 f"/console/supervision/draws/{own}.csv"):
        assert (await api.client.get(path)).status_code == 403, path
    r = await api.client.post("/console/supervision/draws", data={
        "csrf": token, "period": PERIOD, "kind": "remote", "count": "1"})
    assert r.status_code == 403
    assert (await api.client.post(f"/console/supervision/draws/{own}/verify", data={"csrf": token})).status_code == 403


async def test_header_links_to_the_new_pages_by_role(api: ApiEnv) -> None:
    """Officers' pages link evaluations, the positive list and supervision in the header;
    an enterprise's link evaluations and the positive list, not supervision."""
    await _login(api, "officer")
    page = await api.client.get("/console/queue")
    for link in ('href="/console/credit/evaluations">信用评价<', 'href="/console/positive-list">正面清单<',
                 'href="/console/supervision">监管计划与抽查<'):
        assert link in page.text
    page = await api.client.get("/console/positive-list", params={"lang": "en"})
    assert 'href="/console/supervision?lang=en">Supervision and random checks<' in page.text
    await _login(api, "enterprise", CEMENT)
    page = await api.client.get("/console/credit/evaluations")
    assert 'href="/console/positive-list">正面清单<' in page.text and 'href="/console/supervision"' not in page.text


async def test_a_complaint_brings_a_listed_firm_back_on_the_onsite_plan_and_draws(api: ApiEnv) -> None:
    """With a complaint about the listed glass works received this month, the plan page gives
    it an on-site inspection on the complaint (Chinese and English) and counts it; an on-site
    draw's page marks it as drawn on the complaint, while a listed firm without one is shown
    as left out of on-site draws."""
    officer = await api.headers("officer")
    today = today_cst()
    for enterprise in (GLASS, COKING):
        r = await api.client.post("/api/v1/positive-list", headers=officer, json={
            "enterprise_id": enterprise, "start": (today - timedelta(days=30)).isoformat(), "reason": "守法"})
        assert r.status_code == 201, r.text
    received = today.isoformat() + "T00:00:00+08:00"
    r = await api.client.post("/api/v1/complaints", headers=officer, json={
        "enterprise_id": GLASS, "received_at": received, "source": "12369", "summary": "夜间异味"})
    assert r.status_code == 201, r.text

    await _login(api, "officer")
    page = await api.client.get("/console/supervision", params={"period": PERIOD, "region": "13"})
    assert page.status_code == 200
    rows = {m.group(1): m.group(0) for m in re.finditer(r"<tr>\s*<td>[^<]*<small class=\"note\">(\w+)</small>.*?</tr>",
                                                        page.text, re.S)}
    assert "本期收到信访投诉 1 件" in rows[GLASS] and "<strong>1</strong>" in rows[GLASS]
    assert "信访投诉" not in rows[COKING] and "<strong>0</strong>" in rows[COKING]
    assert re.search(r'id="on-complaint">因信访投诉恢复现场检查: <strong>1</strong>', page.text)
    en = await api.client.get("/console/supervision", params={"period": PERIOD, "region": "13", "lang": "en"})
    assert "1 complaint(s) about it were received in the period" in en.text

    token = _form_token(page)
    r = await api.client.post("/console/supervision/draws", data={
        "csrf": token, "region": "13", "period": PERIOD, "kind": "onsite", "count": "3", "seed": "9"})
    assert r.status_code == 303, r.text
    draw = await api.client.get(r.headers["location"])
    cells = {m.group(1): m.group(0) for m in re.finditer(
        r"<tr[^>]*>\s*<td>.*?</td>\s*<td>[^<]*<small class=\"note\">(\w+)</small>.*?</tr>", draw.text, re.S)}
    assert "本期有信访投诉：参加现场抽查" in cells[GLASS] and 'class="selected-row"' in cells[GLASS]
    assert "正面清单：不参加现场抽查" in cells[COKING] and "selected-row" not in cells[COKING]


async def test_complaints_page_records_lists_and_refuses_beside_the_form(api: ApiEnv) -> None:
    """An officer records a complaint from the page (303) and finds it listed with its
    source, summary and who recorded it, in Chinese and English; a future time or an
    enterprise outside a limited officer's jurisdiction is refused beside its field (422)
    with the typed values kept; enterprise sessions have no such page."""
    await _login(api, "officer", label="王芳")
    page = await api.client.get("/console/complaints")
    assert page.status_code == 200 and "登记信访投诉" in page.text and 'id="no-complaints"' in page.text
    token = _form_token(page)
    received = (today_cst() - timedelta(days=1)).isoformat() + "T09:30"
    r = await api.client.post("/console/complaints", data={
        "csrf": token, "enterprise_id": COKING, "received_at": received, "source": "12369 热线",
        "summary": "夜间焦化异味明显"})
    assert r.status_code == 303, r.text
    listed = await api.client.get("/console/complaints", params={"region": "1301"})
    row = re.search(r'<tr id="complaint-\d+">.*?</tr>', listed.text, re.S)
    assert row and "12369 热线" in row.group(0) and "夜间焦化异味明显" in row.group(0) and "王芳" in row.group(0)
    assert received.replace("T", " ") in row.group(0)
    assert (await api.execute("SELECT enterprise_id, source FROM complaints")) == [(COKING, "12369 热线")]
    en = await api.client.get("/console/complaints", params={"lang": "en"})
    assert "Record a complaint" in en.text and "夜间焦化异味明显" in en.text

    future = (today_cst() + timedelta(days=2)).isoformat() + "T09:30"
    refused = await api.client.post("/console/complaints", data={
        "csrf": token, "enterprise_id": CEMENT, "received_at": future, "source": "来信", "summary": "废水"})
    assert refused.status_code == 422 and 'id="add-refused"' in refused.text
    assert "不能晚于当前时间" in refused.text and 'value="来信"' in refused.text
    bad = await api.client.post("/console/complaints?lang=en", data={
        "csrf": token, "enterprise_id": CEMENT, "received_at": "yesterday", "source": "s", "summary": "s"})
    assert bad.status_code == 422 and "not &#34;yesterday&#34;" in bad.text

    await _login(api, "officer", region="1306")
    token = _form_token(await api.client.get("/console/complaints"))
    foreign = await api.client.post("/console/complaints", data={
        "csrf": token, "enterprise_id": COKING, "received_at": received, "source": "s", "summary": "s"})
    assert foreign.status_code == 422 and "夜间焦化异味明显" not in foreign.text
    assert (await _count(api, "complaints")) == 1
    await _login(api, "enterprise", COKING)
    assert (await api.client.get("/console/complaints")).status_code == 403
