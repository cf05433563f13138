"""The Device groups page in a browser: the sidebar's group filter changes the
group table and its CSV download."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

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
from tvmdata import progress
from tvmdata.emulator import Emulator, sample_tenant
from tvmdata.sync import sync_tenant

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

WAIT_MS = 30000
DOWNLOAD = "Download the device groups (CSV)"


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    emulator = Emulator(sample_tenant()).start()
    try:
        db = tmp_path_factory.mktemp("groups") / "tvm.duckdb"
        settings = settings_for(emulator, db)
        sync_tenant(settings)
        yield settings
    finally:
        emulator.stop()


def download(page, label: str):
    """Click the download button called `label`; its file name and CSV rows."""
    button = page.get_by_role("button", name=label)
    expect(button).to_be_visible(timeout=WAIT_MS)
    with page.expect_download(timeout=WAIT_MS) as info:
        button.click()
    raw = Path(info.value.path()).read_bytes()
    return info.value.suggested_filename, list(
        csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    )


def group_grid(page):
    # The table draws on a canvas; its accessible twin counts the rows.
    return page.locator("[data-testid='stDataFrame'] [role='grid']").first


def table_rows(page) -> str:
    grid = group_grid(page)
    expect(grid).to_be_attached(timeout=WAIT_MS)
    return grid.get_attribute("aria-rowcount")


def test_the_group_filter_changes_the_group_table_and_its_download(synced):
    every = progress.load_group_progress(synced)["group_name"].tolist()
    finance_shares = progress.load_group_progress(synced, [101])["fixed_share"]
    assert every == ["Engineering", "Finance", "Unassigned"]

    with streamlit_server(process_env(synced)) as url, chromium_browser() as browser:
        page = new_page(browser)
        # The server's very first visitor, opening the page's address directly.
        page.goto(f"{url}/device_groups")
        wait_until_idle(page)
        expect(page.get_by_text("Page not found")).to_have_count(0)
        expect(page.get_by_role("heading", name="Device groups").first).to_be_visible(
            timeout=WAIT_MS
        )
        rows_before = table_rows(page)
        name_before, before = download(page, DOWNLOAD)

        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_role("combobox").click()
        page.get_by_role("option", name="Finance", exact=True).click()
        wait_until_idle(page)
        # Close the filter's open list, which keeps the page inert.
        page.keyboard.press("Escape")
        expect(sidebar.get_by_text("Device groups: 1 of 3")).to_be_visible(
            timeout=WAIT_MS
        )
        expect(group_grid(page)).not_to_have_attribute(
            "aria-rowcount", rows_before, timeout=WAIT_MS
        )
        rows_after = table_rows(page)
        name_after, after = download(page, DOWNLOAD)
        screenshot(page, "device-groups-finance")

    assert [row["Device group"] for row in before] == every
    assert [row["Device group"] for row in after] == ["Finance"]
    assert int(rows_before) - int(rows_after) == 2
    # Named by the sync's day, once.
    assert re.fullmatch(r"device-groups-all-groups-\d{4}-\d\d-\d\d\.csv", name_before)
    assert re.fullmatch(r"device-groups-finance-\d{4}-\d\d-\d\d\.csv", name_after)
    assert [row["Share fixed (%)"] for row in after] == [
        f"{share * 100:.1f}" for share in finance_shares
    ]


def test_the_chosen_groups_stay_in_the_address_across_page_switches(synced):
    groups = progress.load_group_progress(synced)
    finance = int(groups.loc[groups["group_name"] == "Finance", "group_id"].iloc[0])

    with streamlit_server(process_env(synced)) as url, chromium_browser() as browser:
        page = new_page(browser)
        # A shared link to Home with one group chosen.
        page.goto(f"{url}/?groups={finance}")
        wait_until_idle(page)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("Device groups: 1 of 3")).to_be_visible(
            timeout=WAIT_MS
        )
        visited = []
        for name, path in (("Remediation", "/remediation"), ("Home", "/")):
            sidebar.get_by_role("link", name=name).click()
            expect(page).to_have_url(f"{url}{path}?groups={finance}", timeout=WAIT_MS)
            wait_until_idle(page)
            visited.append(page.url)
        expect(sidebar.get_by_text("Device groups: 1 of 3")).to_be_visible()

        # Back to every group: no parameter left.
        sidebar.get_by_role("button", name="Clear all").click()
        expect(page).to_have_url(f"{url}/", timeout=WAIT_MS)

    assert visited == [
        f"{url}/remediation?groups={finance}",
        f"{url}/?groups={finance}",
    ]
