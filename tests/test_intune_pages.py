"""Intune security tasks in the pages, against the emulator's Graph endpoints:
the request form's option, filing once whatever reruns (case 09), IT's answer
on the home page, and demo mode's IT controls."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO, load_case, serve_as_demo
from tests.test_cli import cli, cli_env
from tests.test_pages import (
    live_environment,
    run_on_page,
    run_remediation_page,
    synced_demo_database,
)
from tvmdata import exports, intune, opsettings, remediation, store, views
from tvmdata.config import settings_environment
from tvmdata.sync import sync_tenant

READER = "va-_-contoso-_-reader"
RECOMMENDATIONS = "pages/recommendations.py"
HOME = "pages/home.py"
SETTINGS = "pages/settings.py"
ADMIN = "lead@contoso.test"
DUE = (datetime.now(UTC) + timedelta(days=30)).date()


def key(field: str) -> str:
    return f"request_{field}:{READER}"


@pytest.fixture
def live(monkeypatch, settings):
    """A synced store, every setting pointing at the emulator."""
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    return settings


def turn_intune_on(settings) -> None:
    opsettings.save_operational(
        settings, {"intune_enabled": True}, ADMIN, datetime.now(UTC)
    )


def open_on(page: str, params: dict | None = None) -> AppTest:
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app.query_params.update(params or {})
    app.user = {"is_logged_in": True, "email": ADMIN}
    return run_on_page(app, page)


def file_with_task(app: AppTest) -> AppTest:
    app.radio(key=key("priority")).set_value("Medium")
    app.date_input(key=key("due_on")).set_value(DUE)
    app.checkbox(key=key("intune")).check()
    app.button(key=f"FormSubmitter:{key('form')}-File request").click()
    return run_on_page(app, RECOMMENDATIONS)


def count(settings, table: str) -> int:
    with store.connect(settings.db) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def test_the_task_option_shows_only_when_the_connection_is_on(live):
    off = open_on(RECOMMENDATIONS, {"recommendation": READER})
    turn_intune_on(live)
    on = open_on(RECOMMENDATIONS, {"recommendation": READER})

    assert not off.exception and not on.exception
    assert not [c for c in off.checkbox if c.key == key("intune")]
    assert on.checkbox(key=key("intune")).label == "Create an Intune security task"
    assert intune.PRIORITY_NOTE in [c.value for c in on.caption]


def test_a_request_over_the_device_limit_warns_before_submitting(live, monkeypatch):
    turn_intune_on(live)
    monkeypatch.setattr(intune, "INTUNE_DEVICE_LIMIT", 1)

    app = open_on(RECOMMENDATIONS, {"recommendation": READER})

    limit = (
        "This request covers 2 devices; Intune takes at most 1, so its task counts 1."
    )
    assert limit in [w.value for w in app.warning]
    monkeypatch.setattr(intune, "INTUNE_DEVICE_LIMIT", 2)
    app = open_on(RECOMMENDATIONS, {"recommendation": READER})
    assert not [w for w in app.warning if "Intune takes at most" in w.value]


def test_case_09_one_activity_and_one_task_whatever_reruns(live, emulator):
    case = load_case("09")
    assert "one Intune task" in case["expected"]
    turn_intune_on(live)
    app = open_on(RECOMMENDATIONS, {"recommendation": READER})

    app = file_with_task(app)
    for _ in range(2):  # the later reruns of the case
        app = run_on_page(app, RECOMMENDATIONS)

    assert not app.exception and not app.error
    assert [i.value for i in app.info] == ["Intune security task: Pending."]
    assert count(live, "requests") == 1
    assert count(live, "intune_tasks") == 1
    assert emulator.calls["graph POST tasks"] == 1
    assert len(emulator.tenant()["intuneTasks"]) == 1


def test_a_task_rejected_by_it_shows_on_home_after_a_sync(live, emulator):
    turn_intune_on(live)
    file_with_task(open_on(RECOMMENDATIONS, {"recommendation": READER}))
    [task] = intune.list_tasks(live)
    emulator.act_on_task(task["task_id"], "reject", assigned_to="it@contoso.test")

    before = open_on(HOME)
    sync_tenant(live)
    after = open_on(HOME)

    assert "Rejected by IT" not in [s.value for s in before.subheader]
    assert "Rejected by IT" in [s.value for s in after.subheader]
    rejected = after.get("page_link")
    assert any(
        link.proto.label == "Update Reader"
        and task["activity_id"] in link.proto.query_string
        for link in rejected
    )
    assert "Rejected by it@contoso.test" in [m.value for m in after.markdown]


def home_filtered_to(group_ids: list[int]) -> AppTest:
    app = open_on(HOME)
    app.sidebar.multiselect(key="device_groups").set_value(group_ids)
    return run_on_page(app, HOME)


def test_rejected_by_it_obeys_the_device_group_filter(live, emulator):
    turn_intune_on(live)
    file_with_task(open_on(RECOMMENDATIONS, {"recommendation": READER}))
    [task] = intune.list_tasks(live)
    emulator.act_on_task(task["task_id"], "reject", assigned_to="it@contoso.test")
    sync_tenant(live)
    covered = set(
        views.load_activity_detail(live, task["activity_id"])["device_groups"]
    )
    groups = views.list_device_groups(live)
    names = dict(zip(groups["group_id"].astype(int), groups["group_name"], strict=True))
    inside = [i for i, name in names.items() if name in covered]
    outside = [i for i, name in names.items() if name not in covered]
    assert inside and outside, "the sample tenant has groups on both sides"

    shown = home_filtered_to(inside[:1])
    hidden = home_filtered_to(outside)

    assert not shown.exception and not hidden.exception
    assert "Rejected by IT" in [s.value for s in shown.subheader]
    assert "Rejected by IT" not in [s.value for s in hidden.subheader]
    assert [t["activity_id"] for t in views.load_rejected_tasks(live, outside)] == []
    assert [t["activity_id"] for t in views.load_rejected_tasks(live, inside)] == [
        task["activity_id"]
    ]


def test_demo_mode_answers_a_task_as_it(monkeypatch, settings, emulator, tmp_path):
    demo_db = synced_demo_database(settings, tmp_path)
    demo_settings = settings.with_overrides(db=demo_db)
    turn_intune_on(demo_settings)
    serve_as_demo(emulator)
    monkeypatch.setenv("TVM_DEMO", "true")
    st.cache_data.clear()
    file_with_task(open_on(RECOMMENDATIONS, {"recommendation": READER}))
    [task] = intune.list_tasks(demo_settings)

    app = open_on(SETTINGS)
    app.selectbox(key="demo_task_id").set_value(task["task_id"])
    app.radio(key="demo_task_answer").set_value("accept")
    app.text_input(key="demo_task_assignee").set_value("it@contoso.test")
    app.button(key="FormSubmitter:demo_task_answer-Answer as IT").click()
    app = run_on_page(app, SETTINGS)

    assert not app.exception and not app.error
    assert "IT accepted the task" in app.success[0].value
    [stored] = emulator.tenant()["intuneTasks"]
    assert (stored["status"], stored["assignedTo"]) == ("active", "it@contoso.test")


def test_the_sync_command_reports_the_intune_step(settings, emulator, tmp_path):
    sync_tenant(settings)
    turn_intune_on(settings)
    form = remediation.RequestForm(
        form_token="cli",
        recommendation_id=READER,
        remediation_type="Update",
        group_ids=(101,),
        priority="High",
        due_on=DUE,
    )
    remediation.file_request(settings, form, ADMIN, datetime.now(UTC), intune_task=True)
    env = cli_env(settings)

    fine = cli("sync", env=env, cwd=tmp_path)
    emulator.fail_paths[r"^/graph/"] = 503
    down = cli("sync", env=env, cwd=tmp_path)

    assert fine.returncode == 0, fine.stderr
    assert "Intune tasks updated (1 Graph calls)" in fine.stdout
    assert down.returncode == 0, down.stderr
    assert "succeeded" in down.stdout
    assert down.stderr.startswith("warning: Intune tasks were not updated: ")


def remediation_row(activity_id: str) -> dict:
    app = run_remediation_page({"status": "All"})
    assert not app.exception, app.exception
    shown = app.dataframe[0].value
    return shown[shown["activity_id"] == activity_id].iloc[0].to_dict()


def test_ticket_status_follows_it_in_the_list_the_csv_and_the_detail(live, emulator):
    turn_intune_on(live)
    file_with_task(open_on(RECOMMENDATIONS, {"recommendation": READER}))
    [task] = intune.list_tasks(live)
    activity_id = task["activity_id"]

    pending = remediation_row(activity_id)["ticket_status"]
    emulator.act_on_task(task["task_id"], "accept", assigned_to="it@contoso.test")
    sync_tenant(live)
    accepted = remediation_row(activity_id)["ticket_status"]
    listed = views.filter_activities(live, status=None)
    rows = list(csv.DictReader(io.StringIO(
        exports.filtered_list_csv(listed, "sync").decode("utf-8-sig")
    )))  # fmt: skip
    detail = run_remediation_page({"activity": activity_id})

    assert (pending, accepted) == ("Pending", "Accepted")
    assert {r["Activity id"]: r["Ticket status"] for r in rows}[activity_id] == (
        "Accepted"
    )
    assert not detail.exception
    assert "**Intune security task** · Accepted" in [m.value for m in detail.markdown]
    assert any("Assigned to it@contoso.test" in c.value for c in detail.caption)


def test_a_task_graph_refused_waits_and_retry_sends_it_once(live, emulator):
    turn_intune_on(live)
    emulator.fail_paths[r"/deviceAppManagementTasks$"] = 503
    file_with_task(open_on(RECOMMENDATIONS, {"recommendation": READER}))
    [activity_id] = [r[0] for r in store_rows(live, "select activity_id from requests")]
    app = run_remediation_page({"activity": activity_id})
    waiting = [m.value for m in app.markdown]

    del emulator.fail_paths[r"/deviceAppManagementTasks$"]
    app.button(key="intune_retry").click()
    sent = run_on_page(app, "pages/remediation.py")

    assert "**Intune security task** · Not sent yet (will retry)" in waiting
    assert [s.value for s in sent.success][-1] == "Sent to Intune."
    assert "**Intune security task** · Pending" in [m.value for m in sent.markdown]
    assert len(emulator.tenant()["intuneTasks"]) == 1
    assert not [b for b in sent.button if b.key == "intune_retry"]


def store_rows(settings, query: str) -> list[tuple]:
    with store.connect(settings.db) as con:
        return con.execute(query).fetchall()
