"""The field cases as the dashboard shows them: every page through AppTest on
real DuckDB files synced from the emulator, and every download read back.

Each test names the case file of /work/shared/cases it reads (through
`tests.conftest.load_case`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

import pandas as pd
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO, capture_downloads, load_case, process_env
from tests.test_pages import (
    LOCKED_WARNING,
    hold_the_database,
    live_environment,
    release,
)
from tests.test_remediation_page import in_order
from tests.test_sync import case_06_tenant, machine, rows, tenant_with
from tvmdata import labels, retention, store, views
from tvmdata.errors import PermissionMissing
from tvmdata.sync import sync_lock, sync_tenant

HOME = "pages/home.py"
REMEDIATION = "pages/remediation.py"
RECOMMENDATIONS = "pages/recommendations.py"
DEVICE_GROUPS = "pages/device_groups.py"
SETTINGS = "pages/settings.py"


# Running the dashboard


def open_dashboard(page: str, params: dict | None = None, state=None) -> AppTest:
    """The dashboard, frame included, on `page` with `params` in the address
    and `state` in the session (see `tests.test_pages.run_on_page`)."""
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app.query_params.update(params or {})
    for key, value in (state or {}).items():
        app.session_state[key] = value
    app.switch_page(page)
    original = PagesManager.__init__

    def navigation_only(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    with mock.patch.object(PagesManager, "__init__", navigation_only):
        return app.run()


def open_again(app: AppTest, page: str, params: dict | None = None) -> AppTest:
    """The same session, address and page run once more (a reload, a poll)."""
    state = {k: app.session_state[k] for k in app.session_state.keys()}
    state = {k: v for k, v in state.items() if not k.startswith("$$")}
    return open_dashboard(page, params, state)


def shown_tables(app: AppTest) -> list:
    return [frame.value for frame in app.dataframe]


def shown_words(app: AppTest) -> list[str]:
    kinds = ("title", "subheader", "caption", "markdown", "text", "info", "metric")
    words = [str(e.value) for kind in kinds for e in app.main.get(kind)]
    return words + [chart.proto.spec for chart in app.main.get("plotly_chart")]


def same_tables(before: list, after: list) -> bool:
    return len(after) == len(before) and all(
        new.equals(old) for old, new in zip(before, after, strict=True)
    )


def assert_same_tables(before: list, after: list) -> None:
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        assert new.equals(old), (old, new)


def sample_ids(emulator) -> dict:
    tenant = emulator.tenant()
    return {
        "activity": tenant["remediationTasks"][0]["id"],
        "recommendation": tenant["recommendations"][0]["id"],
        "group": str(next(m["rbacGroupId"] for m in tenant["machines"])),
    }


def a_day_later(emulator) -> None:
    """The sample tenant a day on: a new activity, a device of the first one
    fixed, and one more device exposed to the first recommendation."""
    data = emulator.tenant()
    first = data["remediationTasks"][0]
    data["remediationTasks"].append(
        {**first, "id": "a-day-later", "title": "Update a day later"}
    )
    data["taskMachines"]["a-day-later"] = data["taskMachines"][first["id"]]
    first["fixedDevices"] = (first.get("fixedDevices") or 0) + 1
    data["taskMachines"][first["id"]] = data["taskMachines"][first["id"]][1:]
    rec = data["recommendations"][0]
    rec["exposedMachinesCount"] += 1
    emulator.set_tenant(data)


# --------------------------------------------------------------------------------
# Case 08: the database locked by a sync's merge, on every page

PAGES = {
    "home": (HOME, None),
    "remediation list": (REMEDIATION, {"status": "All"}),
    "activity detail": (REMEDIATION, "activity"),
    "recommendations": (RECOMMENDATIONS, "recommendation"),
    "device groups": (DEVICE_GROUPS, "group"),
    "settings": (SETTINGS, None),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_a_locked_database_keeps_every_page_on_its_data_under_one_notice(
    monkeypatch, settings, emulator, name
):
    # 08-database-locked: pages loaded while a sync holds the file.
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    monkeypatch.setenv("TVM_LOCK_WAIT_SECONDS", "1")
    page, params = PAGES[name]
    if isinstance(params, str):
        params = {params: sample_ids(emulator)[params]}
    app = open_dashboard(page, params)
    assert not app.exception and not app.error
    tables, words = shown_tables(app), shown_words(app)
    page_warnings = [w.value for w in app.main.warning]
    assert tables or app.metric, "the page shows data to keep"

    # As in a sync's merge: the sync lock taken, the database file held.
    with sync_lock(settings.db):
        holder = hold_the_database(settings.db)
        try:
            locked = open_again(app, page, params)
        finally:
            release(holder)

    assert not locked.exception, locked.exception
    assert not locked.error, [e.value for e in locked.error]
    warnings = [w.value for w in locked.main.warning]
    notices = [w for w in warnings if re.fullmatch(LOCKED_WARNING, w)]
    assert len(notices) == 1, warnings
    assert [w for w in warnings if w not in notices] == page_warnings
    assert_same_tables(tables, shown_tables(locked))
    assert shown_words(locked) == words
    sidebar = [c.value for c in locked.sidebar.caption]
    assert "Sync in progress · pages show the last finished sync." in sidebar

    unlocked = open_again(locked, page, params)
    assert not unlocked.exception and not unlocked.error
    assert [w.value for w in unlocked.main.warning] == page_warnings
    assert_same_tables(tables, shown_tables(unlocked))

    # The sync finishes with news: the pages show it.
    a_day_later(emulator)
    sync_tenant(settings)
    synced = open_again(unlocked, page, params)
    assert not synced.exception and not synced.error
    news = [w.value for w in synced.main.warning]
    assert not [w for w in news if re.fullmatch(LOCKED_WARNING, w)]
    assert shown_words(synced) != words or not same_tables(tables, shown_tables(synced))


# --------------------------------------------------------------------------------
# Case 10: formulas planted in free text, in every CSV the product writes

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def read_back(document: bytes) -> list[dict]:
    assert document.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark"
    return list(csv.DictReader(io.StringIO(document.decode("utf-8-sig"))))


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def formula_cells(rows: list[dict]) -> list[str]:
    """Cells a spreadsheet would run: text starting a formula, unquoted."""
    return [
        value
        for row in rows
        for value in [*row.values(), *row.keys()]
        if value and value.startswith(FORMULA_STARTS) and not is_number(value)
    ]


def plant_formulas(emulator, cells: dict, numbers: dict) -> dict:
    """The sample tenant with the case's cells in every free-text field: titles,
    notes, descriptions, components, device names and a device-group name."""
    data = emulator.tenant()
    group_name = cells["description"]
    names = {m["id"]: f"{cells['computerDnsName']}-{i}"
             for i, m in enumerate(data["machines"])}  # fmt: skip
    for device in data["machines"]:
        device["computerDnsName"] = names[device["id"]]
        if device["rbacGroupId"] == 101:
            device["rbacGroupName"] = group_name
    for refs in [*data["taskMachines"].values(),
                 *data["recommendationMachines"].values()]:  # fmt: skip
        for ref in refs:
            ref["computerDnsName"] = names[ref["id"]]
            if ref["rbacGroupName"] == "Finance":
                ref["rbacGroupName"] = group_name
    for i, task in enumerate(data["remediationTasks"]):
        task.update(
            title=f"{cells['title']} {i}",
            requesterNotes=cells["requesterNotes" if i % 2 else "notes2"],
            relatedComponent=cells["relatedComponent"],
            description=cells["description"],
        )
        if task["rbacGroupNames"]:
            task["rbacGroupNames"] = [
                group_name if g == "Finance" else g for g in task["rbacGroupNames"]
            ]
    data["remediationTasks"][0]["targetDevices"] = numbers["targetDevices"]
    for rec in data["recommendations"]:
        rec["recommendationName"] = f"{cells['title']} {rec['id']}"
    emulator.set_tenant(data)
    return {
        "group": group_name,
        "devices": sorted(names.values()),
        "tasks": data["remediationTasks"],
    }


@pytest.fixture
def planted(monkeypatch, settings, emulator):
    case = load_case("10")["input"]
    planted = plant_formulas(emulator, case["cells"], case["numbers"])
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    return {**case, **planted, "ids": sample_ids(emulator)}


def test_every_dashboard_download_writes_planted_formulas_as_text(
    monkeypatch, settings, emulator, planted
):
    # 10-csv-formula-injection: the Remediation list, an activity's devices,
    # every file of the Device groups page (the progress report included) and
    # the audit log, here with a purge recorded under a planted name.
    files = capture_downloads(monkeypatch)
    activity, group = planted["ids"]["activity"], "101"
    actor = planted["cells"]["requesterNotes"]
    retention.purge_completed(settings, retention.RetentionPolicy(days=1), by=actor)

    pages = [
        open_dashboard(REMEDIATION, {"status": "All"}),
        open_dashboard(REMEDIATION, {"activity": activity}),
        open_dashboard(DEVICE_GROUPS, {"group": group}),
        open_dashboard(SETTINGS),
        open_dashboard(RECOMMENDATIONS),
    ]

    assert all(not app.exception and not app.error for app in pages), [
        (a.exception, a.error) for a in pages
    ]
    kinds = ["audit-log", "activities-all", "devices-", "device-groups", "forecasts",
             "regressions", "regressions-per-group", "months", "progress-report",
             "burndown", "group-activities", "exposed-devices",
             "recommendations-"]  # fmt: skip
    for kind in kinds:
        assert any(name.startswith(kind) for name in files), (kind, sorted(files))
    for name, document in files.items():
        rows = read_back(document)
        assert formula_cells(rows) == [], name
        assert midnight_days(rows) == [], name
    listed = read_back(
        next(v for k, v in files.items() if k.startswith("activities-all"))
    )
    first = next(r for r in listed if r["Activity id"] == activity)
    assert first["Remediation activity"] == "'" + planted["cells"]["title"] + " 0"
    # The sync may trim the tab; what is left still starts a formula.
    notes2 = planted["cells"]["notes2"]
    assert first["Notes"] in ("'" + notes2, "'" + notes2.strip())
    assert first["Related component"] == "'" + planted["cells"]["relatedComponent"]
    assert first["Target devices"] == str(planted["numbers"]["targetDevices"])
    devices = read_back(next(v for k, v in files.items() if k.startswith("devices")))
    assert {r["Device name"] for r in devices} <= {
        "'" + name for name in planted["devices"]
    }
    assert devices, "the activity's devices are exported"
    audit_log = read_back(next(v for k, v in files.items() if k.startswith("audit")))
    assert "'" + actor in [v for r in audit_log for v in r.values()]
    report = read_back(
        next(v for k, v in files.items() if k.startswith("progress-report"))
    )
    assert "'" + planted["group"] in {r["Device group"] for r in report}


DAY_COLUMNS = ("Due date", "Day", "Projected completion", "Period start",
               "Period end")  # fmt: skip
DAY = re.compile(r"^\d{4}-\d\d-\d\d$")


def midnight_days(rows: list[dict]) -> list[tuple[str, str]]:
    """Cells of calendar-day columns written as anything but `YYYY-MM-DD`
    (a day read as a time at midnight, say)."""
    return [
        (name, value)
        for row in rows
        for name, value in row.items()
        if name in DAY_COLUMNS and value and not DAY.match(value)
    ]


def run_cli(settings, *args) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "tvmdata", *args],
        env=process_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def reopen_then_complete(settings, emulator, task_id: str) -> None:
    """Sync `task_id` while active with the devices of the first activity
    exposed, then completed, so that it has an exposure history to archive."""
    data = emulator.tenant()
    task = next(t for t in data["remediationTasks"] if t["id"] == task_id)
    done = dict(task)
    task.update(status="Active", fixedDevices=0)
    first = data["remediationTasks"][0]["id"]
    data["taskMachines"][task_id] = data["taskMachines"][first]
    emulator.set_tenant(data)
    sync_tenant(settings)
    task.update(done)
    data["taskMachines"][task_id] = []
    emulator.set_tenant(data)
    sync_tenant(settings)


def test_command_line_exports_and_purge_archives_write_planted_formulas_as_text(
    settings, emulator, planted, tmp_path
):
    # 10-csv-formula-injection: `export activities`, `export devices` and the
    # archive `purge --archive` writes before deleting.
    activity = planted["ids"]["activity"]
    completed = [t["id"] for t in planted["tasks"] if t["status"] == "Completed"]
    reopen_then_complete(settings, emulator, completed[0])
    archive = tmp_path / "archive"
    archive.mkdir()

    run_cli(settings, "export", "activities", "--out", str(tmp_path / "a.csv"))
    run_cli(settings, "export", "devices", "--activity", activity,
            "--out", str(tmp_path / "d.csv"))  # fmt: skip
    run_cli(settings, "purge", "--days", "1", "--archive", str(archive))

    archived = sorted(archive.glob("*.csv"))
    assert [p.name.split("-20")[0] for p in archived] == [
        "activities",
        "activity-devices",
    ]
    for path in [tmp_path / "a.csv", tmp_path / "d.csv", *archived]:
        rows = read_back(path.read_bytes())
        assert rows, path.name
        assert formula_cells(rows) == [], path.name
        assert midnight_days(rows) == [], path.name
    activities = read_back((tmp_path / "a.csv").read_bytes())
    first = next(r for r in activities if r["Activity id"] == activity)
    assert first["Target devices"] == str(planted["numbers"]["targetDevices"])
    assert first["Device groups"].startswith("'")
    devices = read_back((tmp_path / "d.csv").read_bytes())
    assert {r["Device name"] for r in devices} <= {
        "'" + name for name in planted["devices"]
    }
    purged = read_back(archived[0].read_bytes())
    assert [r["Activity id"] for r in purged] == completed
    assert purged[0]["Remediation activity"].startswith("'" + planted["cells"]["title"])
    assert purged[0]["Description"] == "'" + planted["cells"]["description"]
    history = read_back(archived[1].read_bytes())
    assert history and all(r["Device name"].startswith("'") for r in history)


# --------------------------------------------------------------------------------
# Case 06: timestamps of any precision and zone, shown the same to everyone

ZONES = ["UTC", "Pacific/Auckland", "America/Los_Angeles"]
ONE_DAY_FORMAT = "D MMM YYYY"


@pytest.fixture
def in_zone(request, monkeypatch):
    """The process's local time zone set to `request.param` for the test."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    assert (time.localtime().tm_gmtoff != 0) == (request.param != "UTC")
    yield request.param
    monkeypatch.undo()
    time.tzset()


def time_configs(app: AppTest) -> dict[str, tuple[str, str]]:
    """Every date or time column the page's tables show: (type, format)."""
    configs = {}
    for table in app.dataframe:
        for name, config in json.loads(table.proto.columns or "{}").items():
            kind = config.get("type_config", {})
            if kind.get("type") in ("date", "datetime", "time"):
                configs[name] = (kind["type"], kind.get("format"))
    return configs


def instants(app: AppTest, configs: dict) -> list:
    """The columns shown as a date and time (not a calendar day), as loaded."""
    return [
        frame[name]
        for frame in shown_tables(app)
        for name in frame.columns
        if configs.get(name, ("",))[0] == "datetime"
    ]


def facts(app: AppTest) -> dict[str, str]:
    """The detail's facts: each caption with the text drawn right after it."""
    drawn = [e for e in in_order(app.main) if e.type in ("caption", "text")]
    return {
        label.value: value.value
        for label, value in zip(drawn, drawn[1:], strict=False)
        if label.type == "caption" and value.type == "text"
    }


@pytest.mark.parametrize("in_zone", ZONES, indirect=True)
def test_the_case_timestamps_show_as_one_utc_day_format_on_every_page(
    monkeypatch, settings, emulator, in_zone
):
    # 06-timestamps: t2 was created and is due at 2021-02-11T00:00:00Z, the
    # first instant of 11 Feb in UTC and still 10 Feb in Los Angeles.
    case_06_tenant(emulator)
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    listing = open_dashboard(REMEDIATION, {"status": "All"})
    detail = open_dashboard(REMEDIATION, {"activity": "t2"})
    home = open_dashboard(HOME)
    history = open_dashboard(SETTINGS)

    for app in (listing, detail, home, history):
        assert not app.exception and not app.error
    for app in (listing, detail, history):
        configs = time_configs(app)
        assert configs, "the page shows times"
        assert {f[: len(ONE_DAY_FORMAT)] for _, f in configs.values()} == {
            ONE_DAY_FORMAT
        }, configs
        shown = instants(app, configs)
        assert shown, "the page shows instants"
        for column in shown:
            # An instant with its zone is shown in UTC whatever the viewer's.
            assert str(column.dt.tz) == "UTC", column.name
    listed = listing.dataframe[0].value
    created = dict(zip(listed["activity_id"], listed["created_on"], strict=True))
    assert created["t5"] == pd.Timestamp("2017-01-01 08:02:18.199408", tz="UTC")
    assert created["t2"] == pd.Timestamp("2021-02-11", tz="UTC")
    shown = facts(detail)
    assert shown["Created on"] == "11 Feb 2021"
    assert shown["Due date"].startswith("11 Feb 2021 (")
    assert shown["Due date"].endswith(" days overdue)")
    assert "Due 11 Feb 2021 · :red[**Overdue**]" in [
        m.value for m in home.main.markdown
    ]


def test_every_time_column_in_the_store_is_a_utc_timestamp_or_a_calendar_day(
    settings, emulator
):
    # 06-timestamps: machines' firstSeen and lastSeen, like the activities'
    # times, keep the instant whatever the precision and zone.
    values = case_06_tenant(emulator)
    data = emulator.tenant()
    devices = [
        machine(f"m{i}", 101, "Finance", firstSeen=value, lastSeen=value)
        for i, value in enumerate(values)
    ]
    tenant_with(emulator, devices, data["remediationTasks"], {})

    sync_tenant(settings)

    seen = dict(rows(settings, "select machine_id, first_seen from machines"))
    last = dict(rows(settings, "select machine_id, last_seen from machines"))
    assert seen == last
    assert seen["m0"] == datetime(2021, 1, 12, 18, 54, 11, 549947, tzinfo=UTC)
    assert seen["m3"] == datetime(2020, 11, 3, 10, 13, 34, 847688, tzinfo=UTC)
    assert seen["m5"] == datetime(2017, 1, 1, 8, 2, 18, 199408, tzinfo=UTC)
    assert all(v.utcoffset() == timedelta(0) for v in seen.values())
    kinds = rows(
        settings,
        "select table_name, column_name, data_type from information_schema.columns "
        "where data_type ilike '%time%' or data_type = 'DATE' order by all",
    )
    assert ("machines", "first_seen", "TIMESTAMP WITH TIME ZONE") in kinds
    days = {(t, c) for t, c, kind in kinds if kind == "DATE"}
    assert days == {("activities", "due_on"), ("requests", "due_on"),
                    ("group_daily_totals", "day")}  # fmt: skip
    others = {kind for _, _, kind in kinds if kind != "DATE"}
    assert others == {"TIMESTAMP WITH TIME ZONE"}


# --------------------------------------------------------------------------------
# Case 07: optional fields absent, null or empty, shown as blanks

PLACEHOLDERS = re.compile(r"\b(None|nan|NaN|NaT)\b|<NA>")


def placeholders(words: list) -> list[str]:
    """Shown words that leak a missing value's programming name."""
    return [w for w in words if isinstance(w, str) and PLACEHOLDERS.search(w)]


def table_cells(app: AppTest) -> list[str]:
    """Every cell of the page's tables as the browser would get its text."""
    return [
        str(value)
        for frame in shown_tables(app)
        for column in frame.columns
        for value in frame[column].tolist()
        if isinstance(value, str)
    ]


@pytest.fixture
def sparse(monkeypatch, settings, emulator):
    case = load_case("07")["input"]
    tenant_with(emulator, [], [case["remediationTask"]], {}, case["recommendations"])
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    return case


def test_a_task_without_optional_fields_shows_blanks_on_every_page_and_csv(
    monkeypatch, sparse
):
    # 07-null-missing-empty: the task has no scid, dueOn or fixedDevices and a
    # null completerEmail.
    task = sparse["remediationTask"]
    files = capture_downloads(monkeypatch)

    listing = open_dashboard(REMEDIATION, {"status": "All"})
    detail = open_dashboard(REMEDIATION, {"activity": task["id"]})
    home = open_dashboard(HOME)
    groups = open_dashboard(DEVICE_GROUPS)

    for app in (listing, detail, home, groups):
        assert not app.exception, app.exception
        assert not app.error, [e.value for e in app.error]
        assert placeholders(shown_words(app) + table_cells(app)) == []
    row = listing.dataframe[0].value.set_index("activity_id").loc[task["id"]]
    assert row["activity"] == task["title"]
    assert pd.isna(row["due_on"]) and pd.isna(row["progress"])
    assert pd.isna(row["completed_by"])
    shown = facts(detail)
    assert shown["Due date"] == "No due date"
    assert f"Activity id `{task['id']}`" in [c.value for c in detail.caption]
    assert task["title"] in [t.value for t in detail.main.title]
    assert [m.value for m in home.metric][0] == "1", "the active task counts"
    assert task["id"] not in str([link.proto for link in home.get("page_link")])
    listed = read_back(next(v for k, v in files.items() if k.startswith("activ")))
    written = next(r for r in listed if r["Activity id"] == task["id"])
    assert written["Due date"] == "" and written["Fixed devices"] == ""
    assert written["Completed by"] == ""
    assert placeholders([v for r in listed for v in r.values()]) == []
    devices = read_back(next(v for k, v in files.items() if k.startswith("devices")))
    assert devices == []


def test_recommendations_with_empty_and_null_versions_show_a_dash(sparse):
    # 07-null-missing-empty: absent, empty and null recommendedVersion.
    ids = [r["id"] for r in sparse["recommendations"]]

    listing = open_dashboard(RECOMMENDATIONS)
    details = [open_dashboard(RECOMMENDATIONS, {"recommendation": i}) for i in ids]

    for app in (listing, *details):
        assert not app.exception, app.exception
        assert not app.error, [e.value for e in app.error]
        assert placeholders(shown_words(app) + table_cells(app)) == []
    assert sorted(listing.dataframe[0].value["recommendation_id"]) == sorted(ids)
    for app in details:
        metrics = {m.label: m.value for m in app.metric}
        assert metrics["Recommended version"] == "—"


def test_the_top_card_shows_a_task_without_optional_fields_with_blanks(
    monkeypatch, settings, emulator
):
    # 07-null-missing-empty: the case's task, given a due date so that the
    # Top remediation activities card lists it; still no priority, type,
    # device counts or device groups.
    task = dict(load_case("07")["input"]["remediationTask"])
    task["dueOn"] = "2021-02-11T00:00:00Z"
    tenant_with(emulator, [], [task], {})
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    home = open_dashboard(HOME)

    assert not home.exception, home.exception[0].stack_trace if home.exception else ""
    assert not home.error
    card = home.main.get("page_link")
    assert task["id"] in str([link.proto for link in card])
    words = shown_words(home) + [p.proto.text for p in home.get("progress")]
    assert placeholders(words) == []
    assert "Due 11 Feb 2021 · :red[**Overdue**]" in words
    assert "0 of 0 devices fixed" in words
    assert "No device group" in words
    charts = [c.proto.spec for c in home.main.get("plotly_chart")]
    assert any('"name":"No priority"' in spec for spec in charts)


# --------------------------------------------------------------------------------
# Case 02: a sync refused for a missing permission, as the pages say it


def test_after_a_403_every_page_keeps_the_last_data_as_of_its_sync_and_names_the_fix(
    monkeypatch, settings, emulator
):
    # 02-missing-permission-403: the last good sync's data stays, with its
    # "as of" time, under a warning naming the permission and the fix.
    case = load_case("02")
    permission = re.search(r"\((\S+\.Read\.All)\)", str(case["input"])).group(1)
    sync_tenant(settings)
    good = store.load_sync_status(settings)
    listed_before = views.filter_activities(settings)["activity_id"].tolist()
    emulator.script(r"^/api/remediationTasks$", case["input"]["responses"])
    with pytest.raises(PermissionMissing):
        sync_tenant(settings)
    live_environment(monkeypatch, settings)
    as_of = labels.data_as_of(good)

    pages = {page: open_dashboard(page) for page in
             (HOME, REMEDIATION, DEVICE_GROUPS, RECOMMENDATIONS, SETTINGS)}  # fmt: skip

    for page, app in pages.items():
        assert not app.exception and not app.error, page
        warning = [w.value for w in app.sidebar.warning]
        assert len(warning) == 1, (page, warning)
        assert warning[0].startswith("The last sync failed: ")
        assert permission in warning[0] and "grant" in warning[0], warning[0]
        assert "app registration" in warning[0]
    listing = pages[REMEDIATION]
    assert listing.dataframe[0].value["activity_id"].tolist() == listed_before
    assert listing.caption[0].value == f"{len(listed_before)} activities · {as_of}"
    assert as_of in [c.value for c in pages[DEVICE_GROUPS].main.caption]
    assert as_of.startswith("Data as of ") and "(last sync)" in as_of
    history = pages[SETTINGS].dataframe
    runs = next(t.value for t in history if "outcome" in t.value.columns)
    assert runs["outcome"].tolist()[:2] == ["Failed", "Succeeded"]
    assert permission in runs["error"].tolist()[0]
