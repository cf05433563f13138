"""CSV exports: the shared writer, formula neutralising, and the command line."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd

from tests.conftest import REPO, load_case, past_retention, process_env
from tests.test_intune import file_with_task, intune_on  # noqa: F401 (fixture)
from tests.test_requests import synced  # noqa: F401 (the intune_on fixture's)
from tvmdata import csvout, exports, store, views
from tvmdata.sync import sync_tenant


def read_csv(data: bytes) -> list[dict]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def planted_tenant(emulator, cells, numbers):
    data = emulator.tenant()
    first = data["remediationTasks"][0]
    first.update(
        requesterNotes=cells["requesterNotes"],
        title=cells["title"],
        relatedComponent=cells["relatedComponent"],
        targetDevices=numbers["targetDevices"],
    )
    device = data["taskMachines"][first["id"]][0]
    device["computerDnsName"] = cells["computerDnsName"]
    other = data["remediationTasks"][1]
    other["requesterNotes"] = cells["notes2"]
    emulator.set_tenant(data)
    return first["id"], other["id"], first["rbacGroupNames"]


def test_formula_cells_are_quoted_and_numbers_kept_in_every_export(
    settings, emulator, tmp_path
):
    case = load_case("10")["input"]
    cells, numbers = case["cells"], case["numbers"]
    activity_id, other_id, groups = planted_tenant(emulator, cells, numbers)
    sync_tenant(settings)

    activities_file = tmp_path / "activities.csv"
    exports.export_activities(settings, activities_file)
    devices_file = tmp_path / "devices.csv"
    exports.export_devices(settings, activity_id, devices_file)

    rows = read_csv(activities_file.read_bytes())
    planted = next(r for r in rows if r["Activity id"] == activity_id)
    other = next(r for r in rows if r["Activity id"] == other_id)
    assert planted["Notes"] == "'" + cells["requesterNotes"]
    # The sync trims surrounding whitespace, so the tab may be gone; what is left
    # still starts a formula and must be written as text.
    assert other["Notes"] in ("'" + cells["notes2"], "'" + cells["notes2"].strip())
    assert planted["Remediation activity"] == "'" + cells["title"]
    assert planted["Related component"] == "'" + cells["relatedComponent"]
    assert planted["Target devices"] == str(numbers["targetDevices"])
    assert planted["Device groups"] == "; ".join(groups)
    device_rows = read_csv(devices_file.read_bytes())
    names = {r["Device name"] for r in device_rows}
    assert "'" + cells["computerDnsName"] in names


def test_every_text_that_starts_a_formula_is_written_as_text():
    case = load_case("10")["input"]
    columns = list(case["cells"]) + list(case["numbers"])
    row = {**case["cells"], **case["numbers"]}

    written = read_csv(csvout.build_csv([row], columns, "sync 1"))[0]

    for name, text in case["cells"].items():
        assert written[name] == "'" + text, name
    assert written["targetDevices"] == "-5"
    assert written["severityScore"] == "7.5"
    assert written[csvout.AS_OF_COLUMN] == "sync 1"


def test_plain_text_and_blank_cells_are_left_alone():
    written = csvout.build_csv([{"a": "Update Chrome", "b": None}], ["a", "b"], "x")

    assert read_csv(written) == [
        {"a": "Update Chrome", "b": "", csvout.AS_OF_COLUMN: "x"}
    ]


def test_the_activity_list_download_goes_through_the_same_writer(settings):
    sync_tenant(settings)
    frame = views.filter_activities(settings, status=None)

    rows = read_csv(exports.filtered_list_csv(frame, "sync 1"))

    assert [r["Activity id"] for r in rows] == frame["activity_id"].tolist()


def run_cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "tvmdata", *args],
        cwd=env.pop("_cwd"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_env(settings, tmp_path, **extra):
    return process_env(settings, _cwd=str(tmp_path), **extra)


def test_sync_then_export_from_the_command_line_writes_every_activity(
    settings, emulator, tmp_path
):
    sync_run = run_cli("sync", env=cli_env(settings, tmp_path))
    out = tmp_path / "a.csv"
    exported = run_cli("export", "activities", "--out", str(out),
                       env=cli_env(settings, tmp_path))  # fmt: skip

    assert sync_run.returncode == 0, sync_run.stderr
    assert exported.returncode == 0, exported.stderr
    ids = {r["Activity id"] for r in read_csv(out.read_bytes())}
    tasks = emulator.tenant()["remediationTasks"]
    assert ids == {t["id"] for t in tasks} - past_retention(tasks)
    assert "sync 1 finished" in read_csv(out.read_bytes())[0][csvout.AS_OF_COLUMN]


def test_the_command_line_filters_activities_by_status_group_and_priority(
    settings, emulator, tmp_path
):
    sync_tenant(settings)
    tasks = emulator.tenant()["remediationTasks"]
    out = tmp_path / "f.csv"

    done = run_cli("export", "activities", "--out", str(out), "--status", "Active",
                   "--group", "Finance", "--priority", "High",
                   env=cli_env(settings, tmp_path))  # fmt: skip

    assert done.returncode == 0, done.stderr
    expected = {
        t["id"]
        for t in tasks
        if t["status"] == "Active"
        and t["priority"] == "High"
        and "Finance" in (t.get("rbacGroupNames") or [])
    }
    assert {r["Activity id"] for r in read_csv(out.read_bytes())} == expected


def test_sync_without_credentials_refuses_and_names_the_settings(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "_cwd": str(tmp_path)}

    done = run_cli("sync", env=env)

    assert done.returncode == 1
    assert "TVM_CLIENT_SECRET" in done.stderr and "--demo" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_exporting_devices_of_an_unknown_activity_says_so(settings, tmp_path):
    sync_tenant(settings)

    out = str(tmp_path / "d.csv")
    env = cli_env(settings, tmp_path)

    done = run_cli("export", "devices", "--activity", "nope", "--out", out, env=env)

    assert done.returncode == 1
    assert "No remediation activity has the id 'nope'" in done.stderr


# One form across every CSV


ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_times_are_iso_8601_utc_to_the_second_and_dates_iso_days():
    columns = ["naive", "aware", "defender", "day"]
    row = {
        "naive": datetime(2026, 3, 1, 6, 0, 5, 123),
        "aware": datetime(2026, 3, 1, 7, 0, tzinfo=timezone(timedelta(hours=1))),
        "defender": pd.Timestamp("2021-01-12T18:54:11.5499478Z"),
        "day": date(2026, 3, 1),
    }

    [written] = read_csv(csvout.build_csv([row], columns, "x"))

    assert [written[c] for c in columns] == [
        "2026-03-01T06:00:05Z",
        "2026-03-01T06:00:00Z",
        "2021-01-12T18:54:11Z",
        "2026-03-01",
    ]
    finished = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    assert store.describe_as_of({"succeeded_id": 3, "succeeded_at": finished}) == (
        "sync 3 finished 2026-12-03T06:00:00Z"
    )


def test_the_dashboards_downloads_write_times_in_that_form(settings):
    sync_tenant(settings)
    as_of = store.describe_as_of(store.load_sync_status(settings))
    listed = views.filter_activities(settings, status=None)
    first = listed.iloc[0]["activity_id"]
    devices = views.load_activity_device_history(settings, first)

    activities = read_csv(exports.filtered_list_csv(listed, as_of))
    exposed = read_csv(exports.device_history_csv(devices, as_of))

    assert activities and exposed
    assert all(ISO_UTC.fullmatch(r["Created on"]) for r in activities)
    assert all(ISO_UTC.fullmatch(r["First exposed"]) for r in exposed)
    assert ISO_UTC.search(activities[0][csvout.AS_OF_COLUMN])


def test_the_command_line_writes_the_dashboards_activity_csv(settings, tmp_path):
    sync_tenant(settings)
    out = tmp_path / "active.csv"
    everything = tmp_path / "all.csv"

    active = run_cli("export", "activities", "--out", str(out), "--status",
                     "active", env=cli_env(settings, tmp_path))  # fmt: skip
    every = run_cli("export", "activities", "--out", str(everything),
                    env=cli_env(settings, tmp_path))  # fmt: skip

    assert active.returncode == 0, active.stderr
    assert every.returncode == 0, every.stderr
    as_of = store.describe_as_of(store.load_sync_status(settings))
    dashboard = exports.filtered_list_csv(
        views.filter_activities(settings, status="Active"), as_of
    )
    assert out.read_bytes() == dashboard
    all_rows = read_csv(everything.read_bytes())
    assert list(all_rows[0]) == [*exports.LIST_COLUMNS.values(), csvout.AS_OF_COLUMN]
    assert [r["Activity id"] for r in all_rows] == views.filter_activities(
        settings, status=None
    )["activity_id"].tolist()


# The command line writes straight from the database; the pages write the
# DataFrames they show. Both go through the one writer and agree byte for byte.

HOSTILE = {
    "title": '=HYPERLINK("http://example.test","open me")',
    "relatedComponent": 'Chrome, "stable"\nchannel',
    "requesterNotes": "-2+3\r\nsecond line, with a comma",
}


def hostile_tenant(emulator):
    data = emulator.tenant()
    first, second = data["remediationTasks"][:2]
    first.update(HOSTILE)
    first["rbacGroupNames"] = ["+Finance", 'HR, "West"']
    second["title"] = "@SUM(A1) Ünïcødé ✓ 名前"
    device = data["taskMachines"][first["id"]][0]
    device["computerDnsName"] = "=cmd|' /C calc'!A0"
    emulator.set_tenant(data)
    return first["id"]


def as_of_now(settings) -> str:
    return store.describe_as_of(store.load_sync_status(settings))


def test_the_command_line_and_the_page_write_the_same_bytes(
    settings, emulator, tmp_path
):
    planted = hostile_tenant(emulator)
    sync_tenant(settings)
    out = tmp_path / "all.csv"

    exports.export_activities(settings, out)

    listed = views.filter_activities(settings, status=None)
    assert out.read_bytes() == exports.filtered_list_csv(listed, as_of_now(settings))
    row = next(r for r in read_csv(out.read_bytes()) if r["Activity id"] == planted)
    assert row["Remediation activity"] == "'" + HOSTILE["title"]
    assert row["Device groups"] == '\'+Finance; HR, "West"'
    assert row["Related component"] == HOSTILE["relatedComponent"]


def test_filtered_command_line_exports_match_the_filtered_page_list(
    settings, emulator, tmp_path
):
    sync_tenant(settings)
    groups = views.list_device_groups(settings)
    group = groups.iloc[0]
    out = tmp_path / "some.csv"

    exports.export_activities(settings, out, "Active", group["group_name"], "High")

    listed = views.filter_activities(
        settings, status="Active", priorities=["High"], groups=[group["group_id"]]
    )
    assert out.read_bytes() == exports.filtered_list_csv(listed, as_of_now(settings))


def test_the_device_export_matches_the_same_rows_written_from_a_dataframe(
    settings, emulator, tmp_path
):
    planted = hostile_tenant(emulator)
    sync_tenant(settings)
    out = tmp_path / "devices.csv"

    count = exports.export_devices(settings, planted, out)

    frame = store.load_activity_devices(settings, planted)
    columns = exports.DEVICE_COLUMNS
    assert count == len(frame) > 0
    assert out.read_bytes() == csvout.build_csv(
        frame.rename(columns=columns), list(columns.values()), as_of_now(settings)
    )
    names = {r["Device name"] for r in read_csv(out.read_bytes())}
    assert "'=cmd|' /C calc'!A0" in names


def test_ticket_statuses_and_request_sources_match_in_both_files(
    intune_on,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    file_with_task(intune_on)
    out = tmp_path / "all.csv"

    exports.export_activities(intune_on, out)

    listed = views.filter_activities(intune_on, status=None)
    assert listed["ticket_status"].notna().any()
    assert out.read_bytes() == exports.filtered_list_csv(listed, as_of_now(intune_on))
    filed = [r for r in read_csv(out.read_bytes()) if r["Source"] == "This dashboard"]
    assert filed and all(r["Ticket status"] for r in filed)
