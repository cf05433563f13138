"""Syncs as separate processes on real DuckDB files, with the dashboard's reads and
writes running beside them: a sync killed at any point, two processes sharing the
file during a merge, and field case 08 (a slow sync while the pages are open)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st

from tests.conftest import (
    SYNC_TABLES,
    load_case,
    past_retention,
    process_env,
    settings_for,
)
from tests.test_pages import run_dashboard
from tvmdata import labels, store, views
from tvmdata.config import settings_environment
from tvmdata.sync import PAUSE_ENV, sync_in_progress, sync_tenant

SYNC_COMMAND = [sys.executable, "-m", "tvmdata", "sync"]
DEFENDER_CALLS = ("machines", "remediationTasks", "recommendations")
# What a sync of a tenant must produce however the database got there. Fetch
# times, run ids and closed history legitimately differ between databases.
SYNCED_CONTENT = {
    "activities": "select * exclude (devices_synced_at) from activities",
    "activity_devices": "select * from activity_devices",
    "machines": "select * from machines",
    "recommendations": "select * from recommendations",
    "recommendation_devices": "select * from recommendation_devices",
    "open_exposure": "select activity_id, machine_id, group_id "
    "from exposure_intervals where exposed_to is null",
    "device_groups": "select group_id, group_name from device_groups",
}
NEW_TASK_ID = "a1c3e5f7-0000-4000-8000-000000000005"
INTERRUPTED = "The sync process stopped before finishing (killed or crashed)."


# The tenant a day later


def reference(machine: dict) -> dict:
    return {
        "id": machine["id"],
        "computerDnsName": machine["computerDnsName"],
        "osPlatform": machine["osPlatform"],
        "rbacGroupName": machine["rbacGroupName"] or "UnassignedGroup",
    }


def tenant_a_day_later(data: dict) -> dict:
    """The sample tenant with every active activity's progress and devices changed,
    one new machine, one new activity and one recommendation exposed on more devices.

    The completed activity stays as it was: no sync refetches its devices.
    """
    new_machine = dict(
        data["machines"][2],
        id="07" + "5e1d0c" * 6 + "07",
        computerDnsName="eng-ws-03.contoso.test",
    )
    data["machines"].append(new_machine)
    named = {m["computerDnsName"].split(".")[0]: m for m in data["machines"]}

    def refs(*names):
        return [reference(named[name]) for name in names]

    chrome, reader, _, java = data["remediationTasks"]
    for task in (chrome, reader, java):
        task.update(fixedDevices=task["fixedDevices"] + 1)
        task.update(targetDevices=task["targetDevices"] + 1)
    viewer = dict(chrome, id=NEW_TASK_ID, title="Update Contoso Viewer")
    data["remediationTasks"].append(viewer)
    data["taskMachines"].update(
        {
            chrome["id"]: refs("fin-ws-02", "eng-ws-01"),
            reader["id"]: refs("fin-ws-01"),
            java["id"]: refs("ws-0417", "eng-ws-03"),
            NEW_TASK_ID: refs("eng-ws-01", "eng-ws-02", "eng-ws-03"),
        }
    )
    exposed = refs("fin-ws-02", "eng-ws-01", "eng-ws-03")
    data["recommendations"][0]["exposedMachinesCount"] = len(exposed)
    data["recommendationMachines"]["va-_-google-_-chrome"] = exposed
    return data


# Sync processes


class SyncProcesses:
    """Starts `python -m tvmdata sync` processes and reaps every one at teardown."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.started: list[subprocess.Popen] = []

    def start(self, settings, name: str, **extra_env) -> subprocess.Popen:
        env = process_env(settings, **extra_env)
        out, err = self.folder / f"{name}.out", self.folder / f"{name}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                SYNC_COMMAND, env=env, stdout=stdout, stderr=stderr
            )
        process.name = name
        self.started.append(process)
        return process

    def stderr(self, process) -> str:
        return (self.folder / f"{process.name}.err").read_text(encoding="utf-8")

    def kill(self, process) -> None:
        process.kill()
        assert process.wait(timeout=30) == -9, self.stderr(process)

    def finish(self, process, timeout: float = 60) -> int:
        code = process.wait(timeout=timeout)
        assert code == 0, self.stderr(process)
        return code

    def reap(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


@pytest.fixture
def syncs(tmp_path):
    processes = SyncProcesses(tmp_path)
    yield processes
    processes.reap()


def wait_until(condition, what: str, process=None, timeout: float = 60) -> None:
    """Poll `condition`; fail when it stays false, or when `process` exits first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the sync exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def defender_calls(emulator) -> int:
    calls = dict(emulator.calls)  # a copy: the emulator's threads keep counting
    return sum(n for k, n in calls.items() if k.startswith(DEFENDER_CALLS))


def wait_for_quiet_emulator(emulator, process, quiet_seconds: float) -> None:
    """Wait until no request has reached the emulator for `quiet_seconds`."""
    seen, since = len(emulator.requests), time.monotonic()
    while time.monotonic() - since < quiet_seconds:
        assert process.poll() is None, "the sync exited while it should wait"
        if len(emulator.requests) != seen:
            seen, since = len(emulator.requests), time.monotonic()
        time.sleep(0.05)


# Reading the database


def rows(settings, query: str) -> list[tuple]:
    with store.open_store(settings) as con:
        return con.execute(query + " order by all").fetchall()


def snapshot_of(settings) -> dict[str, list[tuple]]:
    return {table: rows(settings, f"select * from {table}") for table in SYNC_TABLES}


def synced_content(settings) -> dict[str, list[tuple]]:
    return {name: rows(settings, query) for name, query in SYNCED_CONTENT.items()}


def outcomes(settings) -> list[str]:
    return [r[1] for r in rows(settings, "select run_id, outcome from sync_runs")]


def activity_ids(settings) -> frozenset[str]:
    return frozenset(store.load_activities(settings)["activity_id"])


# 1. A sync killed at any point


@pytest.mark.timeout(180)
def test_a_sync_killed_at_any_point_leaves_the_previous_or_the_new_data(
    emulator, tmp_path, syncs
):
    settings = settings_for(emulator, tmp_path / "tvm.duckdb", lock_wait_seconds=30)
    sync_tenant(settings)
    previous = snapshot_of(settings)
    emulator.set_tenant(tenant_a_day_later(emulator.tenant()))
    emulator.delay = 0.2

    # While it fetches: four Defender calls in, the fourth still answering.
    calls_before = defender_calls(emulator)
    fetching = syncs.start(settings, "killed-while-fetching")
    wait_until(
        lambda: defender_calls(emulator) >= calls_before + 4, "4 calls", fetching
    )
    syncs.kill(fetching)
    assert snapshot_of(settings) == previous
    assert outcomes(settings) == ["succeeded", "running"]

    # Staged, before merging: the file is held open here, as a page read would,
    # until the resumed run has fetched the rest and waits for it.
    calls_before = defender_calls(emulator)
    staged = syncs.start(settings, "killed-before-merging")
    wait_until(
        lambda: defender_calls(emulator) > calls_before, "a resumed fetch", staged
    )
    with store.connect(settings.db):
        wait_for_quiet_emulator(emulator, staged, quiet_seconds=1.5)
        syncs.kill(staged)
    assert snapshot_of(settings) == previous
    assert outcomes(settings) == ["succeeded", "interrupted", "running"]

    # Inside the merge transaction, with every merge statement run.
    calls_before = defender_calls(emulator)
    marker = tmp_path / "merging"
    merging = syncs.start(settings, "killed-while-merging", **{PAUSE_ENV: str(marker)})
    wait_until(marker.exists, "the merge to start", merging)
    syncs.kill(merging)
    assert defender_calls(emulator) == calls_before, (
        "the run before had staged everything"
    )
    assert snapshot_of(settings) == previous
    assert outcomes(settings) == ["succeeded", "interrupted", "interrupted", "running"]

    emulator.delay = 0.0
    recovered = sync_tenant(settings)
    fresh = settings_for(emulator, tmp_path / "fresh.duckdb")
    sync_tenant(fresh)

    assert recovered.outcome == "succeeded" and recovered.resumed
    assert synced_content(settings) == synced_content(fresh)
    assert NEW_TASK_ID in activity_ids(settings)
    runs = rows(settings, "select outcome, error from sync_runs where run_id > 1")
    assert runs == [("interrupted", INTERRUPTED)] * 3 + [("succeeded", None)]
    assert not sync_in_progress(settings.db)


class Stopped(BaseException):
    """Stands in for a SIGKILL that lands part-way through a step."""


@pytest.mark.timeout(180)
def test_a_sync_stopped_while_removing_its_staging_area_does_not_resume_it(
    settings, monkeypatch
):
    sync_tenant(settings)
    machines = rows(settings, "select * from machines")
    remove_tree = shutil.rmtree

    def stopped_half_way(path, ignore_errors=False):
        staged_machines = Path(path) / "machines.ndjson"
        if not staged_machines.exists():
            return remove_tree(path, ignore_errors=ignore_errors)
        staged_machines.unlink()
        raise Stopped

    monkeypatch.setattr(shutil, "rmtree", stopped_half_way)
    with pytest.raises(Stopped):
        sync_tenant(settings)  # merged, then stopped while cleaning up
    monkeypatch.undo()
    result = sync_tenant(settings)

    assert result.outcome == "succeeded" and not result.resumed
    assert rows(settings, "select * from machines") == machines


# 2. Another process reads and writes while a merge holds the file


def keep_doing(action, stop: threading.Event) -> list[tuple[float, float, object]]:
    """Repeat `action(number)` until `stop`: when each call began, ended, returned."""
    spans = []
    while not stop.is_set():
        began = time.time()
        result = action(len(spans))
        spans.append((began, time.time(), result))
        time.sleep(0.05)
    return spans


def during(spans, start: float, end: float) -> list:
    """What the calls in progress at some moment between `start` and `end` returned."""
    return [result for began, ended, result in spans if began < end and ended > start]


@pytest.mark.timeout(180)
def test_reads_and_completions_in_another_process_survive_a_merge(
    emulator, tmp_path, syncs
):
    pause = 3.0
    settings = settings_for(emulator, tmp_path / "tvm.duckdb", lock_wait_seconds=15)
    sync_tenant(settings)
    old_ids = activity_ids(settings)
    emulator.set_tenant(tenant_a_day_later(emulator.tenant()))
    marker = tmp_path / "merging"
    merge_pause = {PAUSE_ENV: str(marker), PAUSE_ENV + "_SECONDS": str(pause)}

    def read(number):
        if number % 2:
            return store.load_sync_status(settings)["succeeded_id"]
        return activity_ids(settings)

    def complete(number):
        activity, note = f"local-{number}", f"patched by hand, round {number}"
        when = datetime.now(UTC)
        store.mark_completed(settings, activity, "it@contoso.test", when, note)
        return activity, note

    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=2) as pool:
        reading = pool.submit(keep_doing, read, stop)
        writing = pool.submit(keep_doing, complete, stop)
        try:
            sync = syncs.start(settings, "paused-merge", **merge_pause)
            syncs.finish(sync)
        finally:
            stop.set()
        reads, writes = reading.result(), writing.result()

    new_ids = activity_ids(settings)
    purged = past_retention(emulator.tenant()["remediationTasks"])
    assert new_ids == (old_ids | {NEW_TASK_ID}) - purged
    seen = [result for _, _, result in reads]
    assert seen[:2] == [old_ids, 1], "the first reads come before the sync"
    assert set(seen) <= {old_ids, 1, new_ids, 2}, "old or new, nothing else"
    completions = rows(settings, "select activity_id, note from completions")
    assert completions == sorted(result for _, _, result in writes)
    # Calls made while the merge held the file waited for it, then went through.
    paused = marker.stat().st_mtime + 0.1, marker.stat().st_mtime + pause - 0.1
    assert set(during(reads, *paused)) <= {new_ids, 2}
    assert during(reads, *paused) and during(writes, *paused)


# 3. Field case 08: the pages while a slow sync runs


def open_remediation_page() -> dict:
    app = run_dashboard()
    assert not app.exception, app.exception
    captions = [c.value for c in app.caption]
    return {
        "ids": frozenset(app.dataframe[0].value["activity_id"]),
        "as_of": captions[0],
        "says_sync_in_progress": any("Sync in progress" in c for c in captions),
    }


OTHER_PAGES = [
    "pages/home.py",
    "pages/device_groups.py",
    "pages/recommendations.py",
    "pages/settings.py",
]


def open_other_page(page: str) -> dict:
    app = run_dashboard(page)
    captions = [c.value for c in app.caption]
    return {
        "errors": [e.value for e in (*app.exception, *app.error)],
        "says_sync_in_progress": any("Sync in progress" in c for c in captions),
    }


def listed_ids(settings) -> frozenset[str]:
    """The activities the Remediation page lists by default (the active ones)."""
    return frozenset(views.filter_activities(settings)["activity_id"])


def page_caption(settings, ids) -> str:
    """The Remediation page's caption for the data of the last finished sync."""
    status = store.load_sync_status(settings)
    return f"{len(ids)} activities · {labels.data_as_of(status)}"


def show_the_tenant_on_the_dashboard(monkeypatch, settings) -> None:
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.mark.timeout(180)
def test_case_08_pages_keep_working_while_a_slow_sync_runs(
    emulator, tmp_path, monkeypatch, syncs
):
    case = load_case("08")
    slow = re.search(r"each page delayed (\d+) s", " ".join(case["input"]["steps"]))
    settings = settings_for(emulator, tmp_path / "tvm.duckdb", lock_wait_seconds=10)
    sync_tenant(settings)
    old_ids = listed_ids(settings)
    old_as_of = page_caption(settings, old_ids)
    show_the_tenant_on_the_dashboard(monkeypatch, settings)
    assert open_remediation_page() == {
        "ids": old_ids,
        "as_of": old_as_of,
        "says_sync_in_progress": False,
    }
    emulator.set_tenant(tenant_a_day_later(emulator.tenant()))
    emulator.delay = float(slow.group(1))
    emulator.reset_counts()

    started = time.monotonic()
    sync = syncs.start(settings, "slow")
    wait_until(lambda: sync_in_progress(settings.db), "the sync lock", sync)
    second_started = time.monotonic()
    second = syncs.start(settings, "second")
    second_code = second.wait(timeout=30)
    second_seconds = time.monotonic() - second_started
    views, others, deadline = [], [], time.monotonic() + 60
    while sync.poll() is None and time.monotonic() < deadline:
        held_before = sync_in_progress(settings.db)
        view = open_remediation_page()
        view["while_held"] = held_before and sync_in_progress(settings.db)
        views.append(view)
        # Every other page in turn, between two loads of the list.
        page = OTHER_PAGES[len(others) % len(OTHER_PAGES)]
        held_before = sync_in_progress(settings.db)
        shown = open_other_page(page)
        others.append((page, held_before and sync_in_progress(settings.db), shown))
    syncs.finish(sync)
    sync_seconds = time.monotonic() - started
    after = open_remediation_page()

    # No page errors; each view shows one finished sync's data, never a mix.
    new_ids = old_ids | {NEW_TASK_ID}
    new_as_of = page_caption(settings, new_ids)
    for view in views:
        if view["ids"] == old_ids:
            assert view["as_of"] == old_as_of, view
        else:
            assert view["ids"] == new_ids and view["as_of"] == new_as_of, view
    # Every page opened while the sync ran drew without an error and said so.
    assert {page for page, _, _ in others} == set(OTHER_PAGES), others
    for page, held, shown in others:
        assert not shown["errors"], (page, shown)
        assert shown["says_sync_in_progress"] or not held, (page, shown)
    # While the sync runs they show the last finished sync and say so.
    held = [v for v in views if v["while_held"]]
    assert len([v for v in held if v["ids"] == old_ids]) >= 3, views
    assert all(v["says_sync_in_progress"] for v in held), views
    # The sync is not held up by the pages beyond a short, bounded wait.
    fetch_seconds = defender_calls(emulator) * emulator.delay
    assert sync_seconds < fetch_seconds + 5, (sync_seconds, fetch_seconds)
    # Afterwards the pages show the new data.
    assert after["ids"] == new_ids and after["as_of"] == new_as_of
    assert not after["says_sync_in_progress"]
    # A second sync exits at once and says why.
    assert second_code != 0 and second_seconds < 5
    assert "a sync is already running" in syncs.stderr(second).lower()
