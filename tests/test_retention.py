"""Retention: completed activities leave after the retention period, archived first
when archiving is on, and the per-group daily totals stay."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.test_sync import machine, ref, rows, task, tenant_with
from tvmdata import retention, store
from tvmdata.clock import FakeClock
from tvmdata.sync import sync_tenant

NOW = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def aged_tenant(emulator, settings):
    """Three completed activities (200, 181 and 179 days ago) and an active one;
    the recently completed one is first synced while still active."""
    devices = [machine("m1", 101, "Finance", last_seen=NOW)]
    old = NOW - timedelta(days=200)
    edge = NOW - timedelta(days=181)
    recent = NOW - timedelta(days=179)
    tasks = [
        task("old", 1, 1, "Completed", statusLastModifiedOn=stamp(old)),
        task("edge", 1, 1, "Completed", statusLastModifiedOn=stamp(edge)),
        task("recent", 0, 1, "Active"),
        task("active", 0, 1, "Active"),
    ]
    tenant_with(emulator, devices, tasks, {"recent": [ref(devices[0])],
                                           "active": [ref(devices[0])]})  # fmt: skip
    clock = FakeClock(recent - timedelta(days=1))
    sync_tenant(settings, clock=clock)
    tasks[2] = task("recent", 1, 1, "Completed", statusLastModifiedOn=stamp(recent))
    tenant_with(emulator, devices, tasks, {"active": [ref(devices[0])]})
    clock.set(recent)
    sync_tenant(settings, clock=clock)
    return tasks


def activity_ids(settings):
    return [
        r[0] for r in rows(settings, "select activity_id from activities order by 1")
    ]


def test_purge_removes_completed_activities_past_the_retention_period(
    settings, aged_tenant
):
    purged = retention.purge_completed(
        settings, retention.RetentionPolicy(days=180), clock=FakeClock(NOW)
    )

    assert sorted(purged) == ["edge", "old"]
    assert activity_ids(settings) == ["active", "recent"]


def test_purge_archives_activities_and_their_history_before_deleting(
    settings, aged_tenant, tmp_path
):
    policy = retention.RetentionPolicy(days=170, archive=True, archive_dir=tmp_path)

    retention.purge_completed(settings, policy, clock=FakeClock(NOW))

    archived = {p.name.split("-2026")[0]: p for p in tmp_path.glob("*.csv")}
    with archived["activities"].open(encoding="utf-8-sig") as handle:
        activities = list(csv.DictReader(handle))
    assert sorted(r["Activity id"] for r in activities) == ["edge", "old", "recent"]
    with archived["activity-devices"].open(encoding="utf-8-sig") as handle:
        devices = list(csv.DictReader(handle))
    history = [(r["Activity id"], r["Device id"], r["End reason"]) for r in devices]
    assert history == [("recent", "m1", "fixed")]
    # Headers in words, as the other exports write them; times in ISO 8601 UTC.
    headers = [*activities[0], *devices[0]]
    assert not [h for h in headers if "_" in h or h != h.strip()], headers
    assert {"Remediation activity", "Created on", "Due date", "Device name"} <= set(
        headers
    )
    assert activities[0]["As of (UTC)"] == "archived 2026-09-01T06:00:00Z"
    assert re.fullmatch(ISO_UTC, devices[0]["Exposed from"])
    left = rows(settings, "select count(*) from exposure_intervals "
                          "where activity_id = 'recent'")  # fmt: skip
    assert left == [(0,)]


def test_daily_totals_stay_and_the_sync_does_not_bring_purged_activities_back(
    settings, aged_tenant
):
    totals_before = rows(settings, "select * from group_daily_totals order by all")

    retention.purge_completed(
        settings, retention.RetentionPolicy(days=170), clock=FakeClock(NOW)
    )
    sync_tenant(settings, clock=FakeClock(NOW))

    assert activity_ids(settings) == ["active"]
    totals_after = rows(settings, "select * from group_daily_totals order by all")
    assert totals_after[: len(totals_before)] == totals_before


def test_age_counts_from_a_completion_marked_here(settings, aged_tenant):
    marked = NOW - timedelta(days=200)
    store.mark_completed(settings, "active", "dana@contoso.test", marked)

    purged = retention.purge_completed(
        settings, retention.RetentionPolicy(days=180), clock=FakeClock(NOW)
    )

    assert sorted(purged) == ["active", "edge", "old"]


def test_the_policy_is_stored_in_the_database(settings, aged_tenant):
    assert retention.load_policy(settings) == retention.RetentionPolicy()
    chosen = retention.RetentionPolicy(days=90, archive=True)

    retention.save_policy(settings, chosen, "admin@contoso.test")

    assert retention.load_policy(settings) == chosen
