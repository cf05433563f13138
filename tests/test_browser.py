"""What only a browser shows: the dashboard served by `streamlit run`."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import chromium_page, screenshot, streamlit_server, wait_until_idle
from tests.conftest import process_env
from tvmdata import labels, store, views
from tvmdata.sync import sync_tenant

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def live_env(settings) -> dict:
    return process_env(settings)


def test_the_remediation_page_shows_the_synced_activities_in_a_browser(
    settings, emulator
):
    sync_tenant(settings)
    titles = views.filter_activities(settings)["activity"].tolist()  # active ones

    with streamlit_server(live_env(settings)) as url, chromium_page() as page:
        page.goto(f"{url}/remediation")  # Home is the default page
        wait_until_idle(page)
        page.get_by_text("Remediation activities").first.wait_for(timeout=30000)
        page.locator("[data-testid='stDataFrame']").wait_for(timeout=30000)
        caption = page.get_by_text(f"{len(titles)} activities ·").first.inner_text()
        rows = page.locator("[data-testid='stDataFrame'] [role='row']")
        # one header row and one row per activity
        expect(rows).to_have_count(len(titles) + 1, timeout=30000)
        shot = screenshot(page, "remediation-page")

    status = store.load_sync_status(settings)
    assert caption == f"{len(titles)} activities · {labels.data_as_of(status)}"
    assert shot.stat().st_size > 10_000
