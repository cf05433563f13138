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
from tests.conftest import load_case, process_env, settings_for
from tvmdata import completion, opsettings, store
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
        form.get_by_role("textbox", name="Notes").fill(
            "Patch before the audit <b>please</b>"
        )
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


def test_case_09_in_a_browser_one_request_one_task_and_downloads_call_nothing(
    emulator, settings
):
    case = load_case("09")
    assert "one POST reached the Graph server" in case["expected"]
    sync_tenant(settings)
    opsettings.save_operational(
        settings, {"intune_enabled": True}, OPERATOR, datetime.now(UTC)
    )
    completion.set_operator_email(settings, OPERATOR, "test")
    due = (datetime.now(UTC) + timedelta(days=14)).date()

    with streamlit_server(process_env(settings)) as url, chromium_browser() as browser:
        page = new_page(browser)
        page.goto(f"{url}/recommendations?recommendation={READER}")
        wait_until_idle(page)
        form = page.get_by_test_id("stForm")
        form.get_by_text("High", exact=True).click()
        form.get_by_role("spinbutton", name="year, Due date").click()
        page.keyboard.type(f"{due.year}{due.month:02}{due.day:02}")
        page.keyboard.press("Tab")  # leave the date field, as a person would
        form.get_by_text("Create an Intune security task").click()
        task = form.get_by_role("checkbox", name="Create an Intune security task")
        expect(task).to_be_checked()
        submit = form.get_by_role("button", name="File request")
        submit.dblclick()  # the double click of the case
        wait_until_idle(page)
        expect(page.get_by_text("Intune security task: Pending.")).to_be_visible(
            timeout=WAIT_MS
        )
        page.get_by_role(
            "link", name="Open the activity on the Remediation page"
        ).click()
        wait_until_idle(page)
        calls_before = sum(emulator.calls.values())
        with page.expect_download() as download:
            page.get_by_role("button", name="Export devices to CSV").click()
        assert download.value.suggested_filename.endswith(".csv")
        page.reload()  # the reruns of the case
        wait_until_idle(page)
        page.reload()
        wait_until_idle(page)
        expect(page.get_by_text("Intune security task · Pending")).to_be_visible(
            timeout=WAIT_MS
        )
        calls_after = sum(emulator.calls.values())

    assert len(filed_requests(settings)) == 1
    assert emulator.calls["graph POST tasks"] == 1
    assert len(emulator.tenant()["intuneTasks"]) == 1
    assert calls_after == calls_before
