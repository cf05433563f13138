"""A long sync's progress per endpoint: printed by the command line and, while
the run fetches, shown in every page's sidebar (read from the staging area)."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import settings_for
from tests.test_pages import run_remediation_page
from tests.test_processes import SyncProcesses, show_the_tenant_on_the_dashboard
from tvmdata.emulator import sample_tenant
from tvmdata.staging import StagingArea, read_progress
from tvmdata.sync import sync_tenant

LINE = re.compile(
    r"^(Devices|Activities|Recommendations|Activities' exposed devices|"
    r"Recommendations' exposed devices): "
    r"[\d,]+ (pages?|of [\d,]+ lists), [\d,]+ rows$"
)


@pytest.fixture
def syncs(tmp_path):
    processes = SyncProcesses(tmp_path)
    yield processes
    processes.reap()


def test_the_command_line_is_told_each_endpoint_in_turn(settings):
    told = []

    result = sync_tenant(settings.with_overrides(page_size=2), progress=told.append)

    kinds = list(dict.fromkeys(line.split(": ")[0] for line in told))
    assert result.outcome == "succeeded"
    assert kinds == [
        "machines",
        "activities",
        "recommendations",
        "activity_devices",
        "recommendation_devices",
    ]
    assert told[:3] == [
        "machines: 1 page, 2 rows",
        "machines: 2 pages, 4 rows",
        "machines: 3 pages, 6 rows",
    ]
    # What the dashboard read goes with the staging area once merged.
    assert not StagingArea(settings.db).root.exists()
    assert read_progress(settings.db) == {}


@pytest.mark.timeout(120)
def test_the_sidebar_shows_a_running_syncs_progress_per_endpoint(
    emulator, tmp_path, monkeypatch, syncs
):
    emulator.set_tenant(sample_tenant())
    settings = settings_for(emulator, tmp_path / "tvm.duckdb", page_size=1)
    sync_tenant(settings)
    show_the_tenant_on_the_dashboard(monkeypatch, settings)
    emulator.delay = 0.3  # every page a while: the run is caught fetching

    process = syncs.start(settings, "slow")
    deadline = time.monotonic() + 60
    while not read_progress(settings.db):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    app = run_remediation_page()

    captions = [c.value for c in app.sidebar.caption]
    shown = [c for c in captions if LINE.match(c)]
    assert "Sync in progress · pages show the last finished sync." in captions
    assert shown, captions
    emulator.delay = 0
    assert syncs.finish(process) == 0
