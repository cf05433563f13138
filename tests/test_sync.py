"""The sync against the emulator into real DuckDB files: staging, merge, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import load_case
from tvmdata import store
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
    tables = [
        "activities",
        "activity_devices",
        "machines",
        "recommendations",
        "recommendation_devices",
        "exposure_intervals",
        "group_snapshots",
        "device_groups",
    ]
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
    assert snapshot_of(settings) == before
    status = store.load_sync_status(settings)
    assert status["last_run"]["outcome"] == "failed"
    assert status["succeeded_id"] == 1, "the 'as of' sync stays the last good one"


def test_paging_without_nextlink_stores_every_machine_and_failure_keeps_them(
    settings, emulator
):
    case = load_case("03")
    pages = case["input"]["responses_by_skip"]
    expected_ids = [m["id"] for skip in sorted(pages, key=int)
                    for m in pages[skip]["body"]["value"]]  # fmt: skip
    tenant_with(emulator, [{"id": i} for i in expected_ids], [], {})
    paged = settings.with_overrides(page_size=2)

    sync_tenant(paged)

    stored = [r[0] for r in rows(paged, "select machine_id from machines order by 1")]
    assert stored == sorted(expected_ids)
    assert emulator.calls["machines"] == len(pages)

    before = snapshot_of(paged)
    failing = [{"status": 500, "body": {"error": {"code": "InternalError"}}}]
    emulator.script(r"^/api/machines$", [pages["0"]] + failing * 4)
    with pytest.raises(ApiError) as raised:
        sync_tenant(paged)
    assert "500" in str(raised.value) and "after 4 tries" in str(raised.value)
    assert "%24skip=2" in emulator.requests[-1][1]
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


def test_timestamps_with_any_precision_are_stored_in_utc(settings, emulator):
    values = load_case("06")["input"]["values"]
    tasks = [
        task(f"t{i}", 0, 1, createdOn=v, statusLastModifiedOn=v, dueOn=v)
        for i, v in enumerate(values)
    ]
    tenant_with(emulator, [], tasks, {})

    sync_tenant(settings)
    first = rows(settings, "select activity_id, created_on, due_on from activities")
    sync_tenant(settings)

    stored = {r[0]: r[1] for r in first}
    assert len(stored) == len(values)
    assert all(v.utcoffset() == timedelta(0) for v in stored.values())
    last = stored[f"t{len(values) - 1}"]
    assert last == datetime(2017, 1, 1, 8, 2, 18, 199408, tzinfo=UTC)
    assert rows(settings, "select activity_id, created_on, due_on from activities") \
        == first  # fmt: skip
    due = {r[0]: r[2] for r in first}
    assert due["t2"].isoformat() == "2021-02-11"


def test_null_missing_and_empty_fields_are_stored_as_null(settings, emulator):
    case = load_case("07")["input"]
    tenant_with(emulator, [], [case["remediationTask"]], {}, case["recommendations"])

    sync_tenant(settings)

    versions = dict(
        rows(
            settings,
            "select recommendation_id, recommended_version from recommendations",
        )
    )
    assert versions == {
        "va-_-contoso-_-reader": None,
        "va-_-contoso-_-viewer": None,
        "scid-2000": None,
    }
    stored = store.load_activities(settings)
    assert stored["activity_id"].tolist() == ["t9"]
    row = stored.iloc[0]
    assert row["due_on"] is None or str(row["due_on"]) in ("NaT", "None")
    assert row["fixed_devices"] is None or str(row["fixed_devices"]) in ("<NA>", "nan")


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
