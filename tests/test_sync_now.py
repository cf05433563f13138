"""The dashboard's "Sync now": the same sync command started as a background
process, refused while a sync runs; and the retention purge after every sync."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import streamlit as st

from tests.test_cli import cli, cli_env
from tests.test_pages import REMEDIATION_PAGE, run_dashboard, run_on_page
from tests.test_sync import machine, ref, rows, task, tenant_with
from tvmdata import background, retention, store
from tvmdata.config import Settings, settings_environment
from tvmdata.errors import ConfigError, DatabaseLocked, SyncAlreadyRunning
from tvmdata.sync import sync_lock, sync_tenant

WAIT_SECONDS = 90


def wait_for_new_success(settings, before: int | None) -> dict:
    """The sync status once a run newer than `before` has succeeded."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            status = store.load_sync_status(settings)
        except DatabaseLocked:
            status = None
        if status and status["succeeded_id"] not in (None, before):
            return status
        time.sleep(0.2)
    log = sync_log(settings)
    pytest.fail(f"no new sync succeeded within {WAIT_SECONDS} s; its log:\n{log}")


def wait_for_log_line(settings, text: str) -> str:
    """The background sync's log once it holds `text` (or as it is after
    `WAIT_SECONDS`)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while text not in sync_log(settings) and time.monotonic() < deadline:
        time.sleep(0.1)
    return sync_log(settings)


def sync_log(settings) -> str:
    path = settings.db.with_name(settings.db.name + ".sync.log")
    return path.read_text(encoding="utf-8") if path.exists() else "(no log)"


def dashboard_environment(monkeypatch, settings) -> None:
    """Every setting in the environment, so the started sync reaches the emulator."""
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def synced(settings):
    sync_tenant(settings)
    return settings


# Starting the background sync


def test_start_sync_runs_the_sync_command_recorded_as_from_the_dashboard(
    synced, caplog
):
    before = store.load_sync_status(synced)["succeeded_id"]

    with caplog.at_level(logging.INFO, logger="tvmdata.background"):
        pid = background.start_sync(synced)
    status = wait_for_new_success(synced, before)

    assert pid > 0
    assert status["last_run"]["outcome"] == "succeeded"
    assert status["last_run"]["source"] == "dashboard"
    # The process writes its summary line just after the merge commits.
    assert "succeeded" in wait_for_log_line(synced, "succeeded")
    assert [r.getMessage() for r in caplog.records] == [
        f"sync started in the background: pid {pid}, log {synced.db}.sync.log"
    ]


def test_start_sync_refuses_while_a_sync_holds_the_lock(synced):
    with sync_lock(synced.db):
        with pytest.raises(SyncAlreadyRunning, match="A sync is already running"):
            background.start_sync(synced)

    assert not synced.db.with_name(synced.db.name + ".sync.log").exists()


def test_start_sync_in_demo_mode_refuses_while_the_demo_emulator_is_stopped(
    tmp_path,
):
    settings = Settings(db=tmp_path / "demo.duckdb", demo=True)

    with pytest.raises(ConfigError) as refused:
        background.start_sync(settings)

    assert str(refused.value) == (
        "The demo emulator is stopped: start it with `python -m tvmdata demo up`."
    )


# The sidebar button


def test_the_sidebar_sync_now_button_starts_a_sync_from_the_dashboard(
    monkeypatch, synced
):
    before = store.load_sync_status(synced)["succeeded_id"]
    dashboard_environment(monkeypatch, synced)
    app = run_dashboard()
    button = app.sidebar.button(key="sync_now")
    assert button.label == "Sync now" and not button.disabled

    button.click()
    app = run_on_page(app, REMEDIATION_PAGE)
    status = wait_for_new_success(synced, before)

    assert not app.exception and not app.sidebar.error
    assert [t.value for t in app.toast] == ["Sync started"]
    # From the click on, before the new process holds the lock: a second
    # click cannot start another, and the sidebar says a sync is running.
    assert app.sidebar.button(key="sync_now").disabled
    assert "Sync in progress · pages show the last finished sync." in [
        c.value for c in app.sidebar.caption
    ]
    assert status["last_run"]["source"] == "dashboard"
    sources = rows(synced, "select source from sync_runs order by run_id")
    assert [s for (s,) in sources] == ["cli", "dashboard"]


def test_the_sync_now_button_is_disabled_while_a_sync_runs(monkeypatch, synced):
    dashboard_environment(monkeypatch, synced)

    with sync_lock(synced.db):
        app = run_dashboard()

    assert not app.exception
    assert app.sidebar.button(key="sync_now").disabled
    assert "Sync in progress · pages show the last finished sync." in [
        c.value for c in app.sidebar.caption
    ]


# The retention purge after each sync


def aged_tenant(emulator) -> None:
    """An activity completed 200 days ago and an active one."""
    now = datetime.now(UTC)
    old = (now - timedelta(days=200)).isoformat().replace("+00:00", "Z")
    device = machine("m1", 101, "Finance", last_seen=now)
    tasks = [
        task("old", 1, 1, "Completed", statusLastModifiedOn=old),
        task("active", 0, 1, "Active"),
    ]
    tenant_with(emulator, [device], tasks, {"active": [ref(device)]})


def activity_ids(settings) -> list[str]:
    return [r[0] for r in rows(settings, "select activity_id from activities")]


def test_a_sync_purges_activities_completed_past_the_retention_period(
    emulator, settings, tmp_path
):
    aged_tenant(emulator)

    done = cli("sync", env=cli_env(settings), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "purged 1 completed activities older than 180 days" in done.stdout
    assert activity_ids(settings) == ["active"]


def test_a_sync_with_nothing_to_purge_prints_no_purge_line(
    emulator, settings, tmp_path
):
    device = machine("m1", 101, "Finance", last_seen=datetime.now(UTC))
    tenant_with(emulator, [device], [task("active", 0, 1)], {"active": [ref(device)]})

    done = cli("sync", env=cli_env(settings), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "purged" not in done.stdout


def test_a_failed_purge_is_one_warning_and_the_sync_still_succeeds(
    emulator, settings, tmp_path
):
    aged_tenant(emulator)
    sync_tenant(settings)
    not_a_folder = tmp_path / "archive"
    not_a_folder.write_text("a file, not a folder", encoding="utf-8")
    policy = retention.RetentionPolicy(archive=True, archive_dir=not_a_folder)
    retention.save_policy(settings, policy, changed_by="lead@contoso.test")

    done = cli("sync", env=cli_env(settings), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout and "purged" not in done.stdout
    warning = done.stderr.strip().splitlines()
    assert len(warning) == 1, done.stderr
    assert warning[0].startswith("warning: the retention purge failed: ")
    assert sorted(activity_ids(settings)) == ["active", "old"]
