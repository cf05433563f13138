"""Benchmark pieces: each page's script run against a synced database, next to
the bare `tvmdata` calls it makes.

A page run is the dashboard (`dashboard.py`, its frame included) opened on one
page through Streamlit's AppTest, as tests/test_pages.py runs it, with every
Streamlit cache cleared first. The bare calls are the `tvmdata.views`,
`tvmdata.progress` and `tvmdata.store` functions the page's loaders call, timed
alone; the CSV files a page builds while loading are timed apart, since they
are neither a query nor the framework.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import streamlit as st
from bench_sync import REPO
from streamlit.testing.v1 import AppTest

from tests.test_pages import run_on_page
from tvmdata import progress, remediation, store, views
from tvmdata.config import settings_environment

REMEDIATION = "pages/remediation.py"


def choose_targets(settings, data: dict) -> dict:
    """What the pages are opened on: the active activity with the most exposed
    devices in the served `data`, and the device group with the most
    activities (for the filtered list)."""
    active = [t["id"] for t in data["remediationTasks"] if t["status"] == "Active"]
    devices = {i: len(data["taskMachines"].get(i) or []) for i in active}
    largest = max(sorted(devices), key=devices.get)
    groups = views.list_device_groups(settings)
    counts = {
        int(g): len(views.filter_activities(settings, groups=[int(g)]))
        for g in groups["group_id"]
    }
    group_id = max(counts, key=lambda g: (counts[g], -g))
    return {
        "activity_id": largest,
        "activity_devices": devices[largest],
        "group_id": group_id,
        "group_name": groups.set_index("group_id").loc[group_id, "group_name"],
    }


def pages(targets: dict) -> list[dict]:
    """The page runs measured: label, page file, address parameters, and the
    page's loader work as (kind, name, call) steps taking the settings."""
    activity, group = targets["activity_id"], targets["group_id"]
    return [
        {"label": "Home", "file": "pages/home.py", "params": {}, "work": _home},
        {
            "label": "Remediation, unfiltered (every status)",
            "file": REMEDIATION,
            "params": {"status": "All"},
            "work": lambda s: _remediation(s, {"status": None}),
        },
        {
            "label": "Remediation, filtered (Active, High, one device group)",
            "file": REMEDIATION,
            "params": {"priority": "High", "groups": str(group)},
            "work": lambda s: _remediation(
                s, {"priorities": ("High",)}, groups=(group,)
            ),
        },
        {
            "label": "Activity detail (the largest activity)",
            "file": REMEDIATION,
            "params": {"activity": activity},
            "work": lambda s: _remediation(s, {}) + _detail(s, activity),
        },
        {
            "label": "Device groups",
            "file": "pages/device_groups.py",
            "params": {},
            "work": _device_groups,
        },
    ]


def measure_pages(settings, targets: dict, repeats: int = 3) -> list[dict]:
    """Each page's run (median of `repeats`, caches cleared before each) and
    its bare calls (median of as many runs), in seconds."""
    use_settings(settings)
    for page in pages(targets):  # the first run of a page imports its modules
        run_page(page)
    results = []
    for page in pages(targets):
        runs = [run_page(page) for _ in range(repeats)]
        bare = [time_work(page["work"], settings) for _ in range(repeats)]
        errors = [e for _, e in runs if e]
        results.append({
            "label": page["label"],
            "page_seconds": statistics.median(t for t, _ in runs),
            "query_seconds": statistics.median(b["query"] for b in bare),
            "slowest_query": max(bare[-1]["steps"], key=lambda s: s[1]),
            "queries": sum("one_reading" not in n for n, _ in bare[-1]["steps"]),
            "error": errors[0] if errors else None,
        })  # fmt: skip
    return results


def measure_open(settings, repeats: int = 20) -> float:
    """Seconds to open the database as every read does (connect, schema check,
    the read macros) and close it: the median of `repeats`."""
    times = []
    for _ in range(repeats):
        started = time.monotonic()
        with store.open_store(settings) as con:
            store.run_script(con, "read_macros")
        times.append(time.monotonic() - started)
    return statistics.median(times)


def use_settings(settings) -> None:
    """Point the dashboard of this process at `settings` (no sign-in), as
    `live_environment` in tests/test_pages.py does."""
    for name in [n for n in os.environ if n.startswith("TVM_")]:
        del os.environ[name]
    os.environ.update(settings_environment(settings))


def run_page(page: dict) -> tuple[float, str | None]:
    # Outside a running app, clearing the caches warns on every call.
    logging.disable(logging.WARNING)
    st.cache_data.clear()
    st.cache_resource.clear()
    logging.disable(logging.NOTSET)
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=600)
    app.query_params.update(page["params"])
    started = time.monotonic()
    run_on_page(app, page["file"])
    seconds = time.monotonic() - started
    error = app.exception[0].value if app.exception else None
    return seconds, error


def time_work(work, settings) -> dict:
    """Run a page's loader steps; seconds in all and per step."""
    totals, steps = {"query": 0.0}, []
    context: dict = {}
    for kind, name, call in work(settings):
        started = time.monotonic()
        context[name] = call(context)
        seconds = time.monotonic() - started
        totals[kind] += seconds
        if kind == "query":
            steps.append((name, seconds))
    return {**totals, "steps": steps}


# Each page's loader work, in the order the page does it. Every step takes the
# results so far (`ctx`), so a step can use what an earlier one returned. CSV
# downloads are built only when clicked, so no page builds one while loading.


def _frame(s) -> list:
    # The frame reads the sync status twice (freshness, failure banner) and
    # the device groups once (then from its cache).
    return [
        ("query", "load_sync_status", lambda ctx: store.load_sync_status(s)),
        ("query", "load_sync_status", lambda ctx: store.load_sync_status(s)),
        ("query", "list_device_groups", lambda ctx: views.list_device_groups(s)),
    ]


def _home(s) -> list:
    return _frame(s) + [
        ("query", "load_kpis", lambda ctx: views.load_kpis(s)),
        ("query", "load_top_activities", lambda ctx: views.load_top_activities(s)),
        (
            "query",
            "load_remediated_over_time",
            lambda ctx: views.load_remediated_over_time(s),
        ),
        ("query", "load_activity_counts", lambda ctx: views.load_activity_counts(s)),
        ("query", "load_overdue_by_group", lambda ctx: views.load_overdue_by_group(s)),
        ("query", "load_rejected_tasks", lambda ctx: views.load_rejected_tasks(s)),
    ]


def _remediation(s, filters: dict, groups=None) -> list:
    chosen = {"status": "Active", **filters}
    today = datetime.now(UTC).date()
    return _frame(s) + [
        ("query", "status", lambda ctx: store.load_sync_status(s)),
        (
            "query",
            "filter_activities",
            lambda ctx: views.filter_activities(
                s, groups=groups, today=today, **chosen
            ),
        ),
        ("query", "load_sync_status", lambda ctx: store.load_sync_status(s)),
        ("query", "list_requesters", lambda ctx: views.list_requesters(s)),
    ]


def _detail(s, activity_id: str) -> list:
    today = datetime.now(UTC).date()
    return [
        (
            "query",
            "load_activity_detail",
            lambda ctx: views.load_activity_detail(s, activity_id, today),
        ),
        (
            "query",
            "load_request",
            lambda ctx: (
                remediation.load_request(s, activity_id)
                if ctx["load_activity_detail"]["source"] == "dashboard"
                else None
            ),
        ),
        (
            "query",
            "load_activity_group_progress",
            lambda ctx: views.load_activity_group_progress(s, activity_id),
        ),
        (
            "query",
            "load_activity_progress_over_time",
            lambda ctx: views.load_activity_progress_over_time(s, activity_id),
        ),
        (
            "query",
            "load_activity_device_history",
            lambda ctx: views.load_activity_device_history(s, activity_id),
        ),
        (
            "query",
            "group_ids_named",
            lambda ctx: views.group_ids_named(
                s, ctx["load_activity_detail"]["device_groups"]
            ),
        ),
    ]


def _device_groups(s) -> list:
    now = datetime.now(UTC)
    start, end = progress.default_period(now)
    calls = {
        "load_group_progress": lambda: progress.load_group_progress(s, None, now),
        "load_forecasts": lambda: progress.load_forecasts(s, None, now),
        "load_regressions": lambda: progress.load_regressions(s, None, start, end, now),
        "count_regressions": lambda: progress.count_regressions(
            s, None, start, end, now
        ),
        "load_month_comparison": lambda: progress.load_month_comparison(s, None, now),
        "load_progress_report": lambda: progress.load_progress_report(
            s, None, start, end, now
        ),
    }
    # The page runs its six loads on one open database (`progress.one_reading`).
    reading = ExitStack()
    steps = _frame(s) + [("query", "status", lambda ctx: store.load_sync_status(s))]
    steps.append(
        (
            "query",
            "one_reading (open)",
            lambda ctx: reading.enter_context(progress.one_reading(s)),
        )
    )
    steps += [("query", name, _ignoring_context(call)) for name, call in calls.items()]
    steps.append(("query", "one_reading (close)", lambda ctx: reading.close()))
    return steps


def _ignoring_context(call):
    return lambda ctx: call()
