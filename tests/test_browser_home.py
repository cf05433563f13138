"""The home page in a browser: served by `streamlit run`."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import chromium_page, screenshot, streamlit_server, wait_until_idle
from tests.test_browser import live_env
from tvmdata import views
from tvmdata.sync import sync_tenant

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_a_top_activity_opens_on_the_remediation_page(settings):
    sync_tenant(settings)
    first = views.load_top_activities(settings).iloc[0]

    with streamlit_server(live_env(settings)) as url, chromium_page() as page:
        page.goto(url)
        wait_until_idle(page)
        page.get_by_text("Top remediation activities").first.wait_for(timeout=30000)
        page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=30000)
        shot = screenshot(page, "home")
        page.get_by_role("link", name=first["title"]).first.click()
        expect(page).to_have_url(
            re.compile(rf"/remediation\?activity={first['activity_id']}"),
            timeout=30000,
        )
        wait_until_idle(page)

    assert shot.stat().st_size > 10_000
