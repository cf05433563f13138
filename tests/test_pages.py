"""Dashboard pages through Streamlit's AppTest, on a real synced database."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from pages import common
from tests.conftest import REPO
from tvmdata import background, demo, labels, store, views
from tvmdata.errors import PermissionMissing
from tvmdata.sync import sync_lock, sync_tenant

LOCKED_WARNING = (
    r"A sync is merging new data; showing the data loaded at \d\d:\d\d UTC\."
)


def shown(element) -> str:
    """An element's text as the reader sees it: Markdown escapes removed."""
    return re.sub(r"\\(.)", r"\1", element.value)


def live_environment(monkeypatch, settings):
    monkeypatch.setenv("TVM_TENANT_ID", settings.tenant_id)
    monkeypatch.setenv("TVM_CLIENT_ID", settings.client_id)
    monkeypatch.setenv("TVM_CLIENT_SECRET", settings.client_secret)
    monkeypatch.setenv("TVM_DB", str(settings.db))
    monkeypatch.setenv("TVM_SIGN_IN", "none")
    st.cache_resource.clear()
    st.cache_data.clear()


REMEDIATION_PAGE = "pages/remediation.py"


def run_dashboard(page: str = REMEDIATION_PAGE) -> AppTest:
    """The dashboard opened on `page` (a file in pages/), its frame included."""
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    return run_on_page(app, page)


def run_on_page(app: AppTest, page: str) -> AppTest:
    """Run `app` on `page` as `streamlit run` does: the frame's `st.navigation`
    chooses the page.

    AppTest alone would run a page file without the frame: it sees a pages/
    folder beside the script and treats the files there as pages (Streamlit
    drops that reading once the frame calls `st.navigation`; AppTest starts
    over on every run).
    """
    app.switch_page(page)
    original = PagesManager.__init__

    def navigation_only(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    with mock.patch.object(PagesManager, "__init__", navigation_only):
        return app.run()


def run_remediation_page(query_params: dict | None = None) -> AppTest:
    """The dashboard, opened on the Remediation page (Home is the default)."""
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app.query_params.update(query_params or {})
    return run_on_page(app, REMEDIATION_PAGE)


def run_again(app: AppTest, page: str = REMEDIATION_PAGE) -> AppTest:
    """Run the dashboard again in the same session.

    A second `app.run()` would not do: AppTest rebuilds its page registry on
    every run and, with a pages/ folder beside the script, runs the last page
    file alone, without the frame.
    """
    again = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    again.switch_page(page)
    for key in app.session_state.keys():
        if not key.startswith("$$"):
            again.session_state[key] = app.session_state[key]
    return run_on_page(again, page)


def sidebar_text(app: AppTest) -> list[str]:
    """The sidebar's notices, less the line saying nobody signs in."""
    captions = [
        c.value for c in app.sidebar.caption if c.value != common.NO_SIGN_IN_LINE
    ]
    return captions + [w.value for w in app.sidebar.warning]


def synced_demo_database(settings, tmp_path):
    """A demo database in the working directory, synced from the sample tenant."""
    demo_db = tmp_path / demo.DEMO_DB
    sync_tenant(settings.with_overrides(db=demo_db))
    return demo_db


# The remediation page


def test_remediation_page_lists_the_synced_activities_newest_first(
    monkeypatch, settings
):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    app = run_remediation_page()

    assert not app.exception
    shown = app.dataframe[0].value
    expected = views.filter_activities(settings)
    assert shown["activity_id"].tolist() == expected["activity_id"].tolist()
    created = expected["created_on"].tolist()
    assert created == sorted(created, reverse=True)
    status = store.load_sync_status(settings)
    assert app.caption[0].value == (
        f"{len(expected)} activities · {labels.data_as_of(status)}"
    )


def test_the_table_shows_the_portals_columns_blanks_and_readable_types(
    monkeypatch, settings
):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    app = run_remediation_page()

    table = app.dataframe[0]
    # The portal's columns, whether the activity is overdue, and the source;
    # the activity id is in the detail and the CSV, not a column of its own.
    assert list(table.proto.column_order) == [
        "activity", "remediation_type", "priority", "created_by", "created_on",
        "due_on", "overdue", "status", "progress", "source", "completed_by",
        "completed_on", "device_groups", "ticket_status",
    ]  # fmt: skip
    assert table.proto.placeholder == ""
    stored = views.filter_activities(settings)["remediation_type"].tolist()
    assert table.value["remediation_type"].tolist() == [
        labels.remediation_type(t) for t in stored
    ]
    assert set(stored) - set(labels.REMEDIATION_TYPES) == set()


def test_remediation_types_read_as_the_portal_words_them():
    assert [
        labels.remediation_type(t)
        for t in ["AttentionRequired", "ConfigurationChange", "Update", "Upgrade",
                  "Uninstall", "SomethingNew", None]
    ] == [
        "Attention required", "Configuration change", "Software update",
        "Software upgrade", "Software uninstall", "SomethingNew", None,
    ]  # fmt: skip


def test_data_freshness_is_worded_for_people_not_as_a_run_number():
    finished = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    status = {"succeeded_id": 31, "succeeded_at": finished}

    assert labels.data_as_of(status) == "Data as of 3 Dec 2026 06:00 UTC (last sync)"
    assert labels.data_as_of({"succeeded_id": None}) == "No sync has finished yet"
    assert [
        labels.synced_ago(status, finished + timedelta(minutes=m))
        for m in (-3, 0, 12, 59, 60, 47 * 60 + 59, 72 * 60)
    ] == [
        "Synced just now", "Synced just now", "Synced 12 min ago",
        "Synced 59 min ago", "Synced 1 h ago", "Synced 47 h ago",
        "Synced 3 days ago (3 Dec 2026 06:00 UTC)",
    ]  # fmt: skip


# The shared sidebar: data freshness


def test_the_sidebar_says_when_the_last_sync_finished(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    app = run_dashboard()

    assert sidebar_text(app) == ["Synced just now"]


def test_the_sidebar_says_a_sync_is_in_progress(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    with sync_lock(settings.db):
        app = run_dashboard()

    assert not app.exception
    assert sidebar_text(app) == [
        "Synced just now",
        "Sync in progress · pages show the last finished sync.",
    ]


def test_the_sidebar_warns_when_the_last_sync_lacked_a_permission(
    monkeypatch, settings, emulator
):
    sync_tenant(settings)
    emulator.fail_paths = {r"^/api/remediationTasks$": 403}
    with pytest.raises(PermissionMissing):
        sync_tenant(settings)
    live_environment(monkeypatch, settings)

    app = run_remediation_page()

    assert not app.exception
    warning = app.sidebar.warning[0].value
    assert warning.startswith("The last sync failed: ")
    assert "lacks the application permission RemediationTasks.Read.All" in warning
    assert "grant it" in warning
    assert len(app.dataframe[0].value) == len(views.filter_activities(settings))


def test_before_any_sync_the_sidebar_says_how_to_run_one(monkeypatch, settings):
    live_environment(monkeypatch, settings)

    app = run_remediation_page()

    assert not app.exception and not app.error
    assert sidebar_text(app) == ["No sync yet: run `python -m tvmdata sync`"]
    assert app.caption[0].value == "0 activities · No sync has finished yet"


# Demo mode and credentials


@pytest.mark.parametrize("demo_setting", [None, "true"])
def test_demo_mode_shows_the_demo_data_with_the_emulator_stopped(
    monkeypatch, settings, tmp_path, demo_setting
):
    demo_db = synced_demo_database(settings, tmp_path)
    if demo_setting:
        monkeypatch.setenv("TVM_DEMO", demo_setting)
    st.cache_resource.clear()

    app = run_remediation_page()

    assert not app.exception and not app.error
    shown = app.dataframe[0].value["activity_id"].tolist()
    demo_settings = demo.local_demo_settings()
    assert demo_settings.db == demo.DEMO_DB and demo_db.exists()
    assert shown == views.filter_activities(demo_settings)["activity_id"].tolist()
    assert app.sidebar.caption[0].value.startswith(
        "Demo mode · emulator stopped: the pages show the demo data"
    )


def test_demo_mode_without_a_demo_database_says_how_to_build_it(monkeypatch):
    monkeypatch.setenv("TVM_DEMO", "true")
    st.cache_resource.clear()

    app = run_dashboard()

    assert not app.exception
    assert [shown(e) for e in app.error] == [
        "The demo tenant is not built (data/demo.duckdb is missing): run "
        "`make run` or `python -m tvmdata demo up`."
    ]


@pytest.mark.parametrize(
    "missing", ["TVM_TENANT_ID", "TVM_CLIENT_ID", "TVM_CLIENT_SECRET"]
)
def test_partial_credentials_are_one_error_naming_the_missing_setting(
    monkeypatch, settings, tmp_path, missing
):
    synced_demo_database(settings, tmp_path)
    live_environment(monkeypatch, settings)
    monkeypatch.delenv(missing)

    app = run_dashboard()

    assert not app.exception
    assert len(app.error) == 1
    assert shown(app.error[0]).startswith(f"{missing} is not set")
    assert not app.dataframe


def test_partial_credentials_with_demo_mode_on_show_the_demo(
    monkeypatch, settings, tmp_path
):
    synced_demo_database(settings, tmp_path)
    live_environment(monkeypatch, settings)
    monkeypatch.delenv("TVM_CLIENT_SECRET")
    monkeypatch.setenv("TVM_DEMO", "true")

    app = run_dashboard()

    assert not app.exception and not app.error
    assert app.sidebar.caption[0].value.startswith("Demo mode")


def test_no_credentials_with_demo_mode_off_is_an_error_not_the_demo(
    monkeypatch, settings, tmp_path
):
    synced_demo_database(settings, tmp_path)
    monkeypatch.setenv("TVM_DEMO", "false")
    st.cache_resource.clear()

    app = run_dashboard()

    assert [shown(e)[:25] for e in app.error] == ["TVM_TENANT_ID is not set:"]


@pytest.mark.parametrize("value", ["maybe"])
def test_a_malformed_setting_is_one_plain_error_line(monkeypatch, value):
    monkeypatch.setenv("TVM_DEMO", value)
    st.cache_resource.clear()

    app = run_dashboard()

    assert not app.exception
    assert [shown(e) for e in app.error] == [
        "TVM_DEMO must be true or false, not 'maybe'."
    ]


def test_a_failing_frame_still_lists_only_the_real_pages(monkeypatch):
    monkeypatch.setenv("TVM_DEMO", "maybe")
    st.cache_resource.clear()

    app = run_dashboard()

    # Helper modules in pages/ are no pages: navigation is set up before any stop.
    with pytest.raises(ValueError, match="navigation page"):
        app.switch_page("pages/common.py")
    app.switch_page("pages/remediation.py")


# A database locked by a sync's merge


def hold_the_database(db) -> subprocess.Popen:
    """Another process holding the DuckDB file, as a long merge would."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('holding', flush=True); time.sleep(30)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def release(holder: subprocess.Popen) -> None:
    holder.kill()
    holder.wait(timeout=10)
    holder.stdout.close()


def test_a_locked_database_shows_the_last_loaded_rows_under_a_warning(
    monkeypatch, settings
):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    monkeypatch.setenv("TVM_LOCK_WAIT_SECONDS", "1")
    app = run_remediation_page()
    loaded = app.dataframe[0].value["activity_id"].tolist()
    caption = app.caption[0].value

    holder = hold_the_database(settings.db)
    try:
        app = run_again(app)
    finally:
        release(holder)

    assert not app.exception and not app.error
    warnings = [w.value for w in app.main.warning]
    assert len(warnings) == 1 and re.fullmatch(LOCKED_WARNING, warnings[0])
    assert app.dataframe[0].value["activity_id"].tolist() == loaded
    assert app.caption[0].value == caption
    assert sidebar_text(app)[0] == "Synced just now"


def test_a_locked_database_is_one_notice_however_many_reads_fall_back(
    monkeypatch, settings
):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    monkeypatch.setenv("TVM_LOCK_WAIT_SECONDS", "1")
    app = run_dashboard("pages/home.py")

    holder = hold_the_database(settings.db)
    try:
        app = run_again(app, "pages/home.py")
    finally:
        release(holder)

    assert not app.exception and not app.error
    warnings = [w.value for w in app.main.warning]
    assert len(warnings) == 1 and re.fullmatch(LOCKED_WARNING, warnings[0])


def test_a_locked_database_with_nothing_loaded_before_is_one_error(
    monkeypatch, settings
):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    monkeypatch.setenv("TVM_LOCK_WAIT_SECONDS", "1")

    holder = hold_the_database(settings.db)
    try:
        app = run_dashboard()
    finally:
        release(holder)

    assert not app.exception and not app.warning and not app.dataframe
    assert len(app.error) == 1
    assert shown(app.error[0]).startswith(f"The database {settings.db} stayed locked")


# The shared sidebar: following a running sync


def recording_polls(monkeypatch) -> list:
    """The `run_every` of every fragment the dashboard draws, in order."""
    polls = []
    real = st.fragment

    def fragment(func=None, *, run_every=None):
        polls.append(run_every)
        return real(func, run_every=run_every)

    monkeypatch.setattr(st, "fragment", fragment)
    return polls


def recording(monkeypatch, target, name: str) -> list:
    calls = []
    real = getattr(target, name)

    def recorded(*args, **kwargs):
        calls.append(kwargs or args)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, recorded)
    return calls


def test_the_sidebar_polls_only_while_a_sync_runs(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    polls = recording_polls(monkeypatch)

    idle = run_dashboard()
    assert not idle.exception and polls == [None]
    with sync_lock(settings.db):
        running = run_again(idle)

    assert not running.exception
    assert polls == [None, common.POLL_SECONDS]
    assert "Sync in progress · pages show the last finished sync." in sidebar_text(
        running
    )


def test_when_the_watched_sync_ends_the_caches_clear_and_the_app_reruns(
    monkeypatch, settings
):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    with sync_lock(settings.db):
        app = run_dashboard()
    polls = recording_polls(monkeypatch)
    clears = recording(monkeypatch, st.cache_data, "clear")
    reruns = recording(monkeypatch, st, "rerun")

    sync_tenant(settings)  # the sync that was running finishes
    app = run_again(app)

    assert not app.exception
    assert reruns == [{"scope": "app"}] and len(clears) == 1
    # The run that saw the end polled; the rerun after it does not.
    assert polls == [common.POLL_SECONDS, None]
    assert sidebar_text(app) == ["Synced just now"]
    assert len(app.dataframe[0].value) == len(views.filter_activities(settings))


def test_sync_now_polls_until_its_sync_is_seen(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    started = recording(monkeypatch, background, "start_sync")
    monkeypatch.setattr(background, "start_sync", lambda *a, **k: started.append(a))
    polls = recording_polls(monkeypatch)
    app = run_dashboard()

    app.sidebar.button(key="sync_now").click()
    app = run_on_page(app, REMEDIATION_PAGE)

    assert not app.exception and len(started) == 1
    # No sync holds the lock yet: the block polls all the same, for a while.
    assert polls == [None, common.POLL_SECONDS]
