"""The sync against the emulator into real DuckDB files: staging, merge, history."""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import PER_RUN_HISTORY, SYNC_TABLES, load_case
from tvmdata import records, store
from tvmdata.clock import FakeClock
from tvmdata.errors import ApiError, InvalidResponse, PermissionMissing, TenantMismatch
from tvmdata.sync import sync_in_progress, sync_lock, sync_tenant

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def machine(machine_id, group_id, group_name, last_seen=T0, **extra):
    return {
        "id": machine_id,
        "computerDnsName": f"{machine_id}.contoso.test",
        "osPlatform": "Windows11",
        "rbacGroupId": group_id,
        "rbacGroupName": group_name,
        "lastSeen": last_seen.isoformat().replace("+00:00", "Z"),
        "healthStatus": "Active",
        "onboardingStatus": "Onboarded",
        "isExcluded": False,
        **extra,
    }


def task(task_id, fixed, target, status="Active", **extra):
    return {
        "id": task_id,
        "title": f"Update {task_id}",
        "createdOn": "2026-03-01T10:00:00.1234567Z",
        "status": status,
        "statusLastModifiedOn": "2026-03-01T10:00:00Z",
        "targetDevices": target,
        "fixedDevices": fixed,
        "rbacGroupNames": ["Finance", "UnassignedGroup", "HR"],
        "priority": "High",
        "type": "Update",
        "dueOn": "2026-04-01T00:00:00Z",
        **extra,
    }


def ref(machine_row):
    return {
        "id": machine_row["id"],
        "computerDnsName": machine_row["computerDnsName"],
        "osPlatform": machine_row["osPlatform"],
        "rbacGroupName": machine_row["rbacGroupName"] or "UnassignedGroup",
    }


def tenant_with(emulator, machines, tasks, task_machines, recommendations=()):
    data = emulator.tenant()
    data.update(
        machines=machines,
        remediationTasks=tasks,
        taskMachines=task_machines,
        recommendations=list(recommendations),
        recommendationMachines={},
    )
    emulator.set_tenant(data)


def rows(settings, query, params=None):
    with store.connect(settings.db) as con:
        return con.execute(query, params or []).fetchall()


def snapshot_of(settings):
    """Everything the sync owns, to compare before and after a failed run."""
    tables = SYNC_TABLES
    return {t: sorted(map(repr, rows(settings, f"select * from {t}"))) for t in tables}


def test_first_sync_stores_every_collection_of_the_sample_tenant(settings, emulator):
    result = sync_tenant(settings)

    expected_tasks = {t["id"] for t in emulator.tenant()["remediationTasks"]}
    stored = {r[0] for r in rows(settings, "select activity_id from activities")}
    assert stored == expected_tasks
    machines = rows(settings, "select count(*) from machines")[0][0]
    assert machines == len(emulator.tenant()["machines"])
    assert result.outcome == "succeeded" and result.full_refresh
    outcome = rows(settings, "select outcome, error from sync_runs")
    assert outcome == [("succeeded", None)]


def test_steady_state_sync_fetches_no_device_lists_when_nothing_changed(
    settings, emulator
):
    first = sync_tenant(settings)
    second = sync_tenant(settings)

    children = [k for k in first.calls if k.endswith("machineReferences")]
    assert children, "the first run fetches exposed-device lists"
    assert not [k for k in second.calls if k.endswith("machineReferences")]
    assert second.calls == {"machines": 1, "remediationTasks": 1, "recommendations": 1}
    assert not second.full_refresh


def test_only_the_changed_activity_is_refetched(settings, emulator):
    sync_tenant(settings)
    data = emulator.tenant()
    changed = next(t for t in data["remediationTasks"] if t["status"] == "Active")
    changed["fixedDevices"] += 1
    emulator.set_tenant(data)
    emulator.reset_counts()

    sync_tenant(settings)

    refetched = [p for _, p in emulator.requests if "machineReferences" in p]
    assert len(refetched) == 1 and changed["id"] in refetched[0]


def test_history_records_intervals_and_group_snapshots_over_three_syncs(
    emulator, settings
):
    old = T0 - timedelta(days=40)
    m1, m2 = machine("m1", 101, "Finance"), machine("m2", 101, "Finance")
    m3, m4 = machine("m3", 0, None), machine("m4", "102", "HR")
    clock = FakeClock(T0)
    t1 = T0 + timedelta(days=1)
    t2 = T0 + timedelta(days=2)

    tenant_with(
        emulator,
        [m1, m2, m3, m4],
        [task("T1", 0, 4)],
        {"T1": [ref(m) for m in (m1, m2, m3, m4)]},
    )
    sync_tenant(settings, clock=clock)
    clock.set(t1)
    silent_m3 = machine("m3", 0, None, last_seen=old)
    tenant_with(
        emulator,
        [m1, m2, silent_m3, m4],
        [task("T1", 2, 4)],
        {"T1": [ref(m2), ref(m4)]},
    )
    sync_tenant(settings, clock=clock)
    clock.set(t2)
    tenant_with(
        emulator,
        [m1, m2, silent_m3, m4],
        [task("T1", 2, 4)],
        {"T1": [ref(m1), ref(m2)]},
    )
    sync_tenant(settings, clock=clock)

    intervals = rows(
        settings,
        "select machine_id, group_id, exposed_from, exposed_to, end_reason "
        "from exposure_intervals order by machine_id, exposed_from",
    )
    assert intervals == [
        ("m1", 101, T0, t1, "fixed"),
        ("m1", 101, t2, None, None),
        ("m2", 101, T0, None, None),
        ("m3", 0, T0, t1, "no_longer_reported"),
        ("m4", 102, T0, t2, "fixed"),
    ]
    # Each interval's links: m1 was fixed on day 1 and exposed again on day 2.
    links = rows(
        settings,
        "select machine_id, exposed_from, regressed, fixed_before, superseded_at "
        "from exposure_intervals order by machine_id, exposed_from",
    )
    assert links == [
        ("m1", T0, False, None, t2),
        ("m1", t2, True, t1, None),
        ("m2", T0, False, None, None),
        ("m3", T0, False, None, None),
        ("m4", T0, False, None, None),
    ]
    snapshots = rows(
        settings,
        "select run_id, group_id, exposed_devices, fixed_devices "
        "from group_snapshots order by run_id, group_id",
    )
    assert snapshots == [
        (1, 0, 1, 0), (1, 101, 2, 0), (1, 102, 1, 0),
        (2, 0, 0, 0), (2, 101, 1, 1), (2, 102, 1, 0),
        (3, 0, 0, 0), (3, 101, 2, 0), (3, 102, 0, 1),
    ]  # fmt: skip


def test_a_404_on_a_device_list_is_recorded_as_gone_not_as_a_failure(
    settings, emulator
):
    victim = emulator.tenant()["remediationTasks"][0]["id"]
    emulator.fail_paths[f"/api/remediationTasks/{victim}/machineReferences"] = 404

    result = sync_tenant(settings)

    assert result.outcome == "succeeded"
    gone = rows(
        settings,
        "select activity_id from activities where devices_gone order by 1",
    )
    assert gone == [(victim,)]


def test_invalid_json_page_fails_the_run_and_keeps_the_previous_data(
    settings, emulator
):
    case = load_case("01")
    sync_tenant(settings)
    before = snapshot_of(settings)
    active = [
        t for t in emulator.tenant()["remediationTasks"] if t["status"] == "Active"
    ]
    data = emulator.tenant()
    for item in data["remediationTasks"]:
        item["fixedDevices"] = (item.get("fixedDevices") or 0) + 1  # all changed
    emulator.set_tenant(data)
    emulator.script(
        r"/api/remediationTasks/[^/]+/machineReferences$",
        case["input"]["responses"] * len(active),
    )

    with pytest.raises(InvalidResponse) as raised:
        sync_tenant(settings)

    assert "machineReferences" in str(raised.value)
    assert "not valid JSON" in str(raised.value)
    assert snapshot_of(settings) == before
    runs = rows(settings, "select outcome, error from sync_runs order by run_id")
    assert runs[-1][0] == "failed" and "not valid JSON" in runs[-1][1]
    devices = rows(settings, "select count(*) from activity_devices")[0][0]
    assert devices > 0, "nothing reports 0 devices"


def test_missing_permission_fails_the_run_and_names_the_permission(settings, emulator):
    case = load_case("02")
    sync_tenant(settings)
    before = snapshot_of(settings)
    response = case["input"]["responses"][0]
    emulator.script(r"^/api/remediationTasks$", [response])

    with pytest.raises(PermissionMissing) as raised:
        sync_tenant(settings)

    message = str(raised.value)
    assert "RemediationTasks.Read.All" in message and "grant" in message
    assert "app registration" in message
    assert snapshot_of(settings) == before
    status = store.load_sync_status(settings)
    assert status["last_run"]["outcome"] == "failed"
    assert status["succeeded_id"] == 1, "the 'as of' sync stays the last good one"


def case_03_tenant(emulator, pages):
    """The case's machines, all exposed for one activity (its list pages too)."""
    exposed = [
        m for skip in sorted(pages, key=int) for m in pages[skip]["body"]["value"]
    ]
    tenant_with(
        emulator,
        [dict(m) for m in exposed],
        [task("T3", 0, len(exposed))],
        {"T3": [dict(m) for m in exposed]},
    )
    return [m["id"] for m in exposed]


def test_paging_without_nextlink_stores_every_machine_and_exposed_device(
    settings, emulator
):
    pages = load_case("03")["input"]["responses_by_skip"]
    expected_ids = case_03_tenant(emulator, pages)
    paged = settings.with_overrides(page_size=2)

    sync_tenant(paged, clock=FakeClock(T0))

    stored = [r[0] for r in rows(paged, "select machine_id from machines order by 1")]
    assert stored == sorted(expected_ids)
    assert emulator.calls["machines"] == len(pages)
    exposed = rows(paged, "select machine_id from activity_devices order by 1")
    assert [r[0] for r in exposed] == sorted(expected_ids)
    assert emulator.calls["remediationTasks/{id}/machineReferences"] == len(pages)


@pytest.mark.parametrize(
    "failing_path",
    [r"^/api/machines$", r"^/api/remediationTasks/T3/machineReferences$"],
)
def test_a_page_failing_on_every_retry_fails_the_run_and_keeps_the_snapshot(
    settings, emulator, failing_path
):
    case = load_case("03")["input"]
    pages = case["responses_by_skip"]
    exposed_ids = case_03_tenant(emulator, pages)
    paged = settings.with_overrides(page_size=2)
    clock = FakeClock(T0)
    sync_tenant(paged, clock=clock)
    intervals = "select * from exposure_intervals order by all"
    devices = "select * from activity_devices order by all"
    before = snapshot_of(paged)
    intervals_before, devices_before = rows(paged, intervals), rows(paged, devices)
    data = emulator.tenant()
    data["remediationTasks"][0]["fixedDevices"] += 1  # its list is fetched again
    emulator.set_tenant(data)
    tries = paged.max_retries + 1
    failing = [{"status": 500, "body": {"error": {"code": "InternalError"}}}]
    emulator.script(failing_path, [pages["0"]] + failing * tries)
    emulator.reset_counts()
    clock.advance(3600)

    with pytest.raises(ApiError) as raised:
        sync_tenant(paged, clock=clock)

    assert "500" in str(raised.value) and f"after {tries} tries" in str(raised.value)
    assert "%24skip=2" in emulator.requests[-1][1]
    assert sorted(r[1] for r in intervals_before) == sorted(exposed_ids)
    assert rows(paged, intervals) == intervals_before
    closed = "select * from exposure_intervals where exposed_to is not null"
    assert rows(paged, closed) == [], "no device marked fixed or removed"
    assert rows(paged, devices) == devices_before
    assert snapshot_of(paged) == before


def test_field_types_drift_is_normalised(settings, emulator):
    case = load_case("05")["input"]
    tenant_with(emulator, case["machines"], case["remediationTasks"], {})

    sync_tenant(settings)

    groups = dict(rows(settings, "select activity_id, device_groups from activities"))
    assert groups == {"t1": ["Unassigned", "Servers"], "t2": [], "t3": []}
    machine_groups = rows(
        settings, "select machine_id, group_id from machines order by 1"
    )
    assert machine_groups == [("m1", 140), ("m2", 140)]
    column_type = rows(
        settings,
        "select data_type from information_schema.columns "
        "where table_name = 'activities' and column_name = 'device_groups'",
    )
    assert column_type == [("VARCHAR[]",)]
    servers = store.load_activities(settings, groups=["Servers"])
    assert servers["activity_id"].tolist() == ["t1"]


def case_06_tenant(emulator):
    values = load_case("06")["input"]["values"]
    tasks = [
        task(f"t{i}", 0, 1, createdOn=v, statusLastModifiedOn=v, dueOn=v)
        for i, v in enumerate(values)
    ]
    tenant_with(emulator, [], tasks, {})
    return values


def test_timestamps_with_any_precision_are_stored_in_utc(settings, emulator):
    values = case_06_tenant(emulator)

    sync_tenant(settings)

    stored = dict(rows(settings, "select activity_id, created_on from activities"))
    assert len(stored) == len(values)
    assert stored == {
        "t0": datetime(2021, 1, 12, 18, 54, 11, 549947, tzinfo=UTC),
        "t1": datetime(2021, 1, 26, 20, 33, 59, 200000, tzinfo=UTC),
        "t2": datetime(2021, 2, 11, 0, 0, 0, tzinfo=UTC),
        # Without a zone the clock time is taken as UTC.
        "t3": datetime(2020, 11, 3, 10, 13, 34, 847688, tzinfo=UTC),
        "t4": datetime(2020, 12, 30, 14, 17, 26, tzinfo=UTC),
        "t5": datetime(2017, 1, 1, 8, 2, 18, 199408, tzinfo=UTC),
    }
    assert all(v.utcoffset() == timedelta(0) for v in stored.values())
    types = rows(
        settings,
        "select column_name, data_type from information_schema.columns "
        "where table_name = 'activities' "
        "and column_name in ('created_on', 'status_changed_on') order by 1",
    )
    assert types == [
        ("created_on", "TIMESTAMP WITH TIME ZONE"),
        ("status_changed_on", "TIMESTAMP WITH TIME ZONE"),
    ]


def test_resyncing_the_same_timestamps_changes_nothing(settings, emulator):
    case_06_tenant(emulator)
    clock = FakeClock(T0)
    sync_tenant(settings, clock=clock)
    before = snapshot_of(settings)
    clock.advance(3600)

    second = sync_tenant(settings, clock=clock)

    # Every run adds its own history rows; everything else stays as it was.
    after = snapshot_of(settings)
    for table in PER_RUN_HISTORY:
        assert len(after.pop(table)) == 2 * len(before.pop(table))
    assert after == before
    assert not [k for k in second.calls if k.endswith("machineReferences")]


@pytest.mark.parametrize(
    "sent", ["['UnassignedGroup', 'Servers']", '["UnassignedGroup", "Servers"]']
)
def test_device_groups_sent_as_text_of_a_list_are_stored_as_a_list(
    settings, emulator, sent
):
    # 05-field-types-drift, one step further: the list arrives as its text.
    case = load_case("05")["input"]
    tasks = [dict(case["remediationTasks"][0], rbacGroupNames=sent)]
    tenant_with(emulator, case["machines"], tasks, {})

    sync_tenant(settings)

    groups = rows(settings, "select device_groups from activities")
    assert groups == [(["Unassigned", "Servers"],)]
    servers = store.load_activities(settings, groups=["Servers"])
    assert servers["activity_id"].tolist() == ["t1"]


@pytest.mark.parametrize(
    "sent",
    ["2021-02-11T00:00:00+01:00", "2021-02-11T23:30:00-05:00", "2021-02-11"],
)
def test_a_due_date_with_an_offset_keeps_the_day_it_names(settings, emulator, sent):
    # 06-timestamps: a due date is a chosen day; its offset does not move it.
    tenant_with(emulator, [], [task("t1", 0, 1, dueOn=sent)], {})

    sync_tenant(settings)

    assert rows(settings, "select due_on from activities") == [(date(2021, 2, 11),)]
    listed = store.load_activities(settings, today=date(2021, 2, 11))
    assert listed["overdue"].tolist() == [False]


def test_a_due_date_is_overdue_only_once_its_day_has_passed(settings, emulator):
    case_06_tenant(emulator)
    sync_tenant(settings)

    on_the_day = store.load_activities(settings, today=date(2021, 2, 11))
    next_day = store.load_activities(settings, today=date(2021, 2, 12))

    assert on_the_day["overdue"].dtype == bool
    overdue = dict(zip(on_the_day["activity_id"], on_the_day["overdue"], strict=True))
    assert bool(overdue["t2"]) is False
    overdue = dict(zip(next_day["activity_id"], next_day["overdue"], strict=True))
    assert bool(overdue["t2"]) is True


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_a_due_date_is_the_same_calendar_day_in_every_time_zone(
    settings, emulator, monkeypatch, zone
):
    case_06_tenant(emulator)
    try:
        with monkeypatch.context() as patch:
            patch.setenv("TZ", zone)
            time.tzset()
            assert (time.localtime().tm_gmtoff != 0) == (zone != "UTC")
            sync_tenant(settings)
            stored = dict(rows(settings, "select activity_id, due_on from activities"))
            listed = store.load_activities(settings)
    finally:
        time.tzset()

    assert stored["t2"] == date(2021, 2, 11)
    due = dict(zip(listed["activity_id"], listed["due_on"], strict=True))
    assert str(due["t2"])[:10] == "2021-02-11"
    types = rows(
        settings,
        "select data_type from information_schema.columns "
        "where table_name = 'activities' and column_name = 'due_on'",
    )
    assert types == [("DATE",)]


def test_null_missing_and_empty_fields_are_stored_as_null(settings, emulator):
    case = load_case("07")["input"]
    tenant_with(emulator, [], [case["remediationTask"]], {}, case["recommendations"])

    sync_tenant(settings)

    recommendations = rows(
        settings,
        "select recommendation_id, name, product_name, vendor, recommended_version "
        "from recommendations order by recommendation_id",
    )
    assert recommendations == [
        ("scid-2000", "Turn on a setting", None, None, None),
        ("va-_-contoso-_-reader", None, "reader", "contoso", None),
        ("va-_-contoso-_-viewer", None, "viewer", "contoso", None),
    ]
    task_row = rows(
        settings,
        "select activity_id, scid, due_on, fixed_devices, completer_email "
        "from activities",
    )
    assert task_row == [(case["remediationTask"]["id"], None, None, None, None)]
    stored = store.load_activities(settings)
    assert stored["activity_id"].tolist() == ["t9"]
    row = stored.iloc[0]
    assert row["due_on"] is None or str(row["due_on"]) in ("NaT", "None")
    assert row["fixed_devices"] is None or str(row["fixed_devices"]) in ("<NA>", "nan")


def test_an_unknown_field_is_logged_once_at_debug(
    settings, emulator, caplog, monkeypatch
):
    case = load_case("07")["input"]
    tenant_with(emulator, [], [case["remediationTask"]], {}, case["recommendations"])
    monkeypatch.setattr(records, "_reported_unknown", set())
    caplog.set_level(logging.DEBUG, logger="tvmdata.records")

    def reports_of_the_new_field():
        return [
            r
            for r in caplog.records
            if r.name == "tvmdata.records" and "brandNewField" in r.getMessage()
        ]

    first = sync_tenant(settings)
    logged = reports_of_the_new_field()
    unknown = [r for r in caplog.records if "ignoring unknown" in r.getMessage()]
    caplog.clear()
    second = sync_tenant(settings)

    assert (first.outcome, first.skipped) == ("succeeded", 0)
    assert [r.levelno for r in logged] == [logging.DEBUG]
    assert unknown == logged, "only the new field is reported as unknown"
    assert second.outcome == "succeeded"
    assert reports_of_the_new_field() == [], "reported once, not on every sync"


def test_a_database_of_another_tenant_is_refused(settings, emulator):
    sync_tenant(settings)
    other = settings.with_overrides(tenant_id="11111111-1111-1111-1111-111111111111")

    with pytest.raises(TenantMismatch) as raised:
        sync_tenant(other)

    assert emulator.tenant_id in str(raised.value)


def test_a_second_sync_while_one_holds_the_lock_exits_at_once(settings):
    with sync_lock(settings.db):
        assert sync_in_progress(settings.db)
        with pytest.raises(Exception, match="already running"):
            sync_tenant(settings)
    assert not sync_in_progress(settings.db)


def test_an_interrupted_run_resumes_from_its_staging_area(settings, emulator):
    emulator.fail_paths[r"^/api/recommendations$"] = 503
    with pytest.raises(Exception, match="503"):
        sync_tenant(settings)
    fetched_before = emulator.calls["machines"], emulator.calls["remediationTasks"]
    emulator.fail_paths.clear()

    result = sync_tenant(settings)

    assert result.resumed
    assert (emulator.calls["machines"], emulator.calls["remediationTasks"]) == \
        fetched_before, "finished collections are not fetched again"  # fmt: skip
    assert result.outcome == "succeeded"


def test_a_staging_area_left_behind_by_a_merged_run_is_not_resumed(settings, emulator):
    from tvmdata.staging import StagingArea

    first = sync_tenant(settings)
    leftover = StagingArea(settings.db)
    now = datetime.now(UTC)
    leftover.open(settings.tenant_id, now, False, run_id=first.run_id, last_merged=0)
    for name in ("machines", "activities", "recommendations"):
        leftover.write_collection(name, [], lambda row: row)
    emulator.reset_counts()

    second = sync_tenant(settings)

    assert not second.resumed
    assert emulator.calls["machines"] == 1
    stored = rows(settings, "select count(*) from machines")[0][0]
    assert stored == len(emulator.tenant()["machines"])
