"""The activity detail in a browser at 1440 px: its progress over time after
two syncs a few hours apart names each day once on the date axis, and its
long activity id stays on one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser import (
    chromium_browser,
    new_page,
    screenshot,
    streamlit_server,
    wait_until_idle,
)
from tests.conftest import process_env, settings_for
from tvmdata import views
from tvmdata.clock import FakeClock
from tvmdata.emulator import Emulator, sample_tenant
from tvmdata.sync import sync_tenant

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

WAIT_MS = 30000
FIRST_SYNC = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
GUID = "829f36b0-2a26-4c8c-9632-80d5f3a01999"


@pytest.fixture(scope="module")
def synced_twice(tmp_path_factory):
    """A sample tenant synced twice, three hours apart, with a long activity id
    (Defender's are GUIDs)."""
    tenant = sample_tenant()
    first = tenant["remediationTasks"][0]
    tenant["taskMachines"][GUID] = tenant["taskMachines"].pop(first["id"])
    first["id"] = GUID
    emulator = Emulator(tenant).start()
    try:
        db = tmp_path_factory.mktemp("charts") / "tvm.duckdb"
        settings = settings_for(emulator, db)
        for hours in (0, 3):
            sync_tenant(settings, clock=FakeClock(FIRST_SYNC + timedelta(hours=hours)))
        yield settings
    finally:
        emulator.stop()


def test_progress_over_time_names_each_day_once(synced_twice):
    activity = views.load_top_activities(synced_twice).iloc[0]
    history = views.load_activity_progress_over_time(
        synced_twice, activity["activity_id"]
    )
    assert len(history) == 2

    with streamlit_server(process_env(synced_twice)) as url, chromium_browser() as b:
        page = new_page(b, width=1440)
        page.goto(f"{url}/remediation?activity={activity['activity_id']}")
        wait_until_idle(page)
        chart = page.get_by_test_id("stPlotlyChart").first
        expect(chart.locator(".xtick text").first).to_be_visible(timeout=WAIT_MS)
        chart.scroll_into_view_if_needed()
        labels = chart.locator(".xtick text").all_text_contents()
        screenshot(page, "detail-progress-two-syncs")

    assert "1 Dec 2026" in labels
    assert len(labels) == len(set(labels)), labels


def test_a_long_activity_id_stays_on_one_line(synced_twice):
    with streamlit_server(process_env(synced_twice)) as url, chromium_browser() as b:
        page = new_page(b, width=1440)
        page.goto(f"{url}/remediation?activity={GUID}")
        wait_until_idle(page)
        code = page.locator("code", has_text=GUID)
        expect(code).to_be_visible(timeout=WAIT_MS)
        height = code.bounding_box()["height"]
        line = code.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)")
        caption = code.locator("xpath=..").inner_text()

    assert caption.replace("\n", " ").startswith("Activity id")
    assert height < 1.5 * line, (height, line)
