"""Filing a remediation request through the real form, in a browser, on a
dashboard whose very first visitor opens a page's address directly."""

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
from tvmdata import completion, store
from tvmdata.emulator import Emulator, sample_tenant
from tvmdata.sync import sync_tenant

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

READER = "va-_-contoso-_-reader"
OPERATOR = "ops@contoso.test"
WAIT_MS = 30000


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    emulator = Emulator(sample_tenant()).start()
    try:
        db = tmp_path_factory.mktemp("requests") / "tvm.duckdb"
        settings = settings_for(emulator, db)
        sync_tenant(settings)
        completion.set_operator_email(settings, OPERATOR, "test")
        yield settings
    finally:
        emulator.stop()


def filed_requests(settings) -> list[tuple]:
    with store.connect(settings.db) as con:
        return con.execute(
            "select a.title, q.priority, q.due_on, q.notes, q.requested_by "
            "from requests q join activities a using (activity_id)"
        ).fetchall()


def test_a_request_filed_through_the_form_opens_on_the_remediation_page(synced):
    due = (datetime.now(UTC) + timedelta(days=21)).date()

    # A fresh server: this browser is its first visitor, straight to a page.
    with streamlit_server(process_env(synced)) as url, chromium_browser() as browser:
        page = new_page(browser)
        page.goto(f"{url}/recommendations?recommendation={READER}")
        wait_until_idle(page)
        expect(page.get_by_text("Device groups: all")).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_role("heading", name="Update Reader")).to_be_visible()

        form = page.get_by_test_id("stForm")
        form.get_by_text("High", exact=True).click()
        # The date field is typed segment by segment, as a keyboard user does.
        form.get_by_role("spinbutton", name="year, Due date").click()
        page.keyboard.type(f"{due.year}{due.month:02}{due.day:02}")
        form.get_by_label("Notes").fill("Patch before the audit <b>please</b>")
        form.get_by_role("button", name="File request").click()
        wait_until_idle(page)

        expect(page.get_by_text("Request filed: 2 devices targeted.")).to_be_visible(
            timeout=WAIT_MS
        )
        screenshot(page, "request-filed")
        page.get_by_role(
            "link", name="Open the activity on the Remediation page"
        ).click()
        wait_until_idle(page)
        expect(page.get_by_role("heading", name="Update Reader")).to_be_visible(
            timeout=WAIT_MS
        )
        expect(page.get_by_text("Patch before the audit <b>please</b>")).to_be_visible()
        screenshot(page, "request-detail")

    assert filed_requests(synced) == [
        ("Update Reader", "High", due, "Patch before the audit <b>please</b>", OPERATOR)
    ]
