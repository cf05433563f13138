"""A minute of syncs with slow merges in other processes while the Remediation
page loads and completions are written here: no page error, no completion lost,
every page showing one finished sync's data."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from tests.conftest import settings_for
from tests.test_kills import without_purged
from tests.test_pages import run_remediation_page
from tests.test_processes import (
    SyncProcesses,
    rows,
    show_the_tenant_on_the_dashboard,
)
from tvmdata import store
from tvmdata.emulator import sample_tenant
from tvmdata.staging import StagingArea
from tvmdata.sync import PAUSE_ENV, sync_tenant

SECONDS = 60
MERGE_PAUSE = 1.5
KEPT = "tvm_kept_results"


def tenant_with_progress(step: int) -> dict:
    """The sample tenant with every active activity `step` devices further on
    (less what a command-line sync purges)."""
    data = without_purged(sample_tenant())
    for task in data["remediationTasks"]:
        if task["status"] == "Active":
            task["fixedDevices"] = min(
                task["fixedDevices"] + step, task["targetDevices"]
            )
    return data


@pytest.fixture
def syncs(tmp_path):
    processes = SyncProcesses(tmp_path)
    yield processes
    processes.reap()


def load_page() -> dict:
    """The Remediation page (every status), as a user opens it."""
    app = run_remediation_page({"status": "All"})
    shown = app.dataframe[0].value if len(app.dataframe) else None
    kept = app.session_state[KEPT]["remediation"] if KEPT in app.session_state else None
    return {
        "exception": [e.value for e in app.exception],
        "error": [e.value for e in app.error],
        "sync_id": kept.value[0]["succeeded_id"] if kept else None,
        "progress": None if shown is None else progress_of(shown),
    }


def progress_of(shown) -> dict:
    # Attention-required activities show no progress (NaN, which never equals).
    pairs = zip(shown["activity_id"], shown["progress"], strict=True)
    return {activity: None if p != p else round(p, 6) for activity, p in pairs}


class SyncLoop:
    """Runs one sync process after another, each merge held `MERGE_PAUSE` s,
    alternating the tenant between two states, until stopped."""

    def __init__(self, settings, emulator, syncs, folder, tenants):
        self.settings, self.emulator, self.syncs = settings, emulator, syncs
        self.folder, self.tenants = folder, tenants
        self.stop = threading.Event()
        # How many times the loop found a merge in progress: a page load
        # during which it grew overlapped a merge.
        self.merging_seen = 0
        self.tenant_of_run: dict[int, int] = {}
        self.errors: list[str] = []

    def run(self) -> None:
        staged = StagingArea(self.settings.db).root / "manifest.json"
        number = 0
        while not self.stop.is_set():
            state = number % 2
            self.emulator.set_tenant(self.tenants[state])
            marker = self.folder / f"merging-{number}"
            pause = {PAUSE_ENV: str(marker), PAUSE_ENV + "_SECONDS": str(MERGE_PAUSE)}
            process = self.syncs.start(self.settings, f"loop-{number}", **pause)
            while process.poll() is None:
                # In the merge: it has begun and not committed (the staging
                # area goes right after the commit).
                if marker.exists() and staged.exists():
                    self.merging_seen += 1
                time.sleep(0.005)
            if process.returncode != 0:
                self.errors.append(self.syncs.stderr(process))
                return
            run_id = store.load_sync_status(self.settings)["succeeded_id"]
            self.tenant_of_run[run_id] = state
            number += 1


def keep_completing(settings, stop: threading.Event, written: list) -> None:
    number = 0
    while not stop.is_set():
        activity, note = f"local-{number}", f"fixed by hand, round {number}"
        store.mark_completed(
            settings, activity, "it@contoso.test", datetime.now(UTC), note
        )
        written.append((activity, note))
        number += 1
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_minute_of_slow_merges_beside_page_loads_and_completions(
    emulator, tmp_path, monkeypatch, syncs
):
    tenants = [tenant_with_progress(0), tenant_with_progress(1)]
    settings = settings_for(emulator, tmp_path / "tvm.duckdb", lock_wait_seconds=20)
    show_the_tenant_on_the_dashboard(monkeypatch, settings)
    # What the page shows for each state of the tenant, read while nothing runs.
    expected = {}
    for state in (1, 0):
        emulator.set_tenant(tenants[state])
        sync_tenant(settings)
        expected[state] = load_page()["progress"]
    assert expected[0] != expected[1]
    first = store.load_sync_status(settings)["succeeded_id"]

    loop = SyncLoop(settings, emulator, syncs, tmp_path, tenants)
    loop.tenant_of_run[first] = 0
    written: list = []
    stop_writing = threading.Event()
    threads = [
        threading.Thread(target=loop.run),
        threading.Thread(
            target=keep_completing, args=(settings, stop_writing, written)
        ),
    ]
    for thread in threads:
        thread.start()
    loads = []
    try:
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline and not loop.errors:
            seen = loop.merging_seen
            load = load_page()
            loads.append(dict(load, during_merge=loop.merging_seen > seen))
    finally:
        loop.stop.set()
        stop_writing.set()
        for thread in threads:
            thread.join(timeout=120)

    assert loop.errors == []
    assert len(loop.tenant_of_run) >= 5, "several syncs ran"
    succeeded = "select run_id from sync_runs where outcome = 'succeeded'"
    finished = {r[0] for r in rows(settings, succeeded)}
    for load in loads:
        assert load["exception"] == [] and load["error"] == [], load
        assert load["sync_id"] in finished, load
        state = loop.tenant_of_run[load["sync_id"]]
        assert load["progress"] == expected[state], load
    assert len({load["sync_id"] for load in loads}) >= 3, "loads saw several syncs"
    assert [load for load in loads if load["during_merge"]], "no load met a merge"
    completions = rows(settings, "select activity_id, note from completions")
    assert completions == sorted(written)
