"""Whole flows in a browser: one dashboard served by `streamlit run` for the
module, over a database synced from the emulator's sample tenant."""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import expect

from tests.browser import (
    chromium_browser,
    new_page,
    screenshot,
    streamlit_server,
    wait_until_idle,
)
from tests.conftest import process_env, settings_for
from tvmdata import completion, views
from tvmdata.emulator import Emulator, sample_tenant
from tvmdata.sync import sync_tenant

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

OPERATOR = "ops@contoso.test"
WAIT_MS = 30000


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """Settings over a database synced once, with an operator email so that
    marking complete works without sign-in."""
    emulator = Emulator(sample_tenant()).start()
    try:
        db = tmp_path_factory.mktemp("flows") / "tvm.duckdb"
        settings = settings_for(emulator, db)
        sync_tenant(settings)
        completion.set_operator_email(settings, OPERATOR, "test")
        yield settings
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def app(synced):
    with streamlit_server(process_env(synced)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


def open_detail(page, app: str, activity_id: str) -> None:
    page.goto(f"{app}/remediation?activity={activity_id}")
    wait_until_idle(page)


def detail_heading(page, title: str):
    return page.get_by_role("heading", name=title, exact=True)


def screenshot_detail(page, title: str, name: str) -> Path:
    # The app scrolls inside its own container, so a full-page screenshot
    # shows only the first screen: bring the detail to its top first.
    detail_heading(page, title).evaluate("el => el.scrollIntoView()")
    return screenshot(page, name)


def download(page, label: str):
    """Click the download button called `label`; the file and its CSV rows."""
    button = page.get_by_role("button", name=label)
    expect(button).to_be_visible(timeout=WAIT_MS)
    with page.expect_download(timeout=WAIT_MS) as info:
        button.click()
    raw = Path(info.value.path()).read_bytes()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    return info.value, raw, rows


def test_a_top_activity_on_home_opens_its_detail_on_the_remediation_page(
    app, page, synced
):
    first = views.load_top_activities(synced).iloc[0]

    page.goto(app)
    wait_until_idle(page)
    link = page.get_by_role("link", name=first["title"], exact=True)
    expect(link).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("[data-testid='stPlotlyChart']").first).to_be_visible()
    screenshot(page, "home")
    link.click()

    expect(page).to_have_url(
        re.compile(rf"/remediation\?activity={re.escape(first['activity_id'])}$"),
        timeout=WAIT_MS,
    )
    wait_until_idle(page)
    expect(detail_heading(page, first["title"])).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Export devices to CSV")).to_be_visible()
    shot = screenshot_detail(page, first["title"], "activity-detail")
    assert shot.stat().st_size > 10_000


def test_the_filtered_list_downloads_as_the_list_shows_it(app, page, synced):
    page.goto(f"{app}/remediation")
    wait_until_idle(page)
    expect(page.get_by_text("Remediation activities").first).to_be_visible()

    file, raw, rows = download(page, "Export the filtered list to CSV")

    expected = views.filter_activities(synced)["activity_id"].tolist()
    assert raw.startswith(codecs.BOM_UTF8)
    assert [row["Activity id"] for row in rows] == expected
    assert file.suggested_filename.startswith("activities-active-")


def test_an_activitys_devices_download_from_its_detail(app, page, synced):
    first = views.load_top_activities(synced).iloc[0]
    devices = views.load_activity_device_history(synced, first["activity_id"])
    assert not devices.empty, "the sample tenant's top activity has devices"

    open_detail(page, app, first["activity_id"])
    expect(detail_heading(page, first["title"])).to_be_visible(timeout=WAIT_MS)
    file, raw, rows = download(page, "Export devices to CSV")

    assert raw.startswith(codecs.BOM_UTF8)
    assert [row["Device id"] for row in rows] == devices["machine_id"].tolist()
    assert first["activity_id"].casefold() in file.suggested_filename


def test_marking_an_activity_complete_records_the_operator_email(app, page, synced):
    top_id = views.load_top_activities(synced).iloc[0]["activity_id"]
    active = views.filter_activities(synced)
    chosen = active[active["activity_id"] != top_id].iloc[-1]

    open_detail(page, app, chosen["activity_id"])
    expect(detail_heading(page, chosen["activity"])).to_be_visible(timeout=WAIT_MS)
    mark = page.get_by_role("button", name="Mark as complete")
    expect(mark).to_be_disabled()
    page.get_by_text("I confirm this activity is done").click()
    wait_until_idle(page)
    expect(mark).to_be_enabled(timeout=WAIT_MS)
    mark.click()
    wait_until_idle(page)

    done = page.get_by_test_id("stAlertContentSuccess")
    expect(done).to_contain_text(f"Marked complete here by {OPERATOR}", timeout=WAIT_MS)
    # Said once: no second notice repeating it.
    expect(page.get_by_text("Marked complete", exact=False)).to_have_count(1)
    expect(mark).to_have_count(0)
    screenshot_detail(page, chosen["activity"], "marked-complete")
    detail = views.load_activity_detail(synced, chosen["activity_id"])
    assert (detail["status"], detail["completed_by"]) == ("Completed", OPERATOR)


def test_a_deep_link_opens_the_detail_in_a_fresh_browser(app, page, synced):
    first = views.load_top_activities(synced).iloc[0]

    open_detail(page, app, first["activity_id"])

    heading = detail_heading(page, first["title"])
    expect(heading).to_be_visible(timeout=WAIT_MS)
    folded = page.get_by_text("All remediation activities (").first
    expect(folded).to_be_visible()
    # The detail leads: its title sits above the folded list, on the first screen.
    assert heading.bounding_box()["y"] < 200
    assert heading.bounding_box()["y"] < folded.bounding_box()["y"]
    shot = screenshot_detail(page, first["title"], "deep-link")
    assert shot.stat().st_size > 10_000


def test_all_activities_leaves_the_detail_for_the_list(app, page, synced):
    first = views.load_top_activities(synced).iloc[0]
    open_detail(page, app, first["activity_id"])
    expect(detail_heading(page, first["title"])).to_be_visible(timeout=WAIT_MS)

    page.get_by_role("button", name="All activities").click()

    expect(page).to_have_url(re.compile(r"/remediation$"), timeout=WAIT_MS)
    wait_until_idle(page)
    expect(detail_heading(page, "Remediation activities")).to_be_visible()
    expect(detail_heading(page, first["title"])).to_have_count(0)


def test_the_remediation_table_keeps_the_activity_pinned_at_1440_px(
    app, browser, synced
):
    page = new_page(browser, width=1440)
    try:
        page.goto(f"{app}/remediation?status=All")
        wait_until_idle(page)
        grid = page.locator("[data-testid='stDataFrame'] .dvn-scroller").first
        expect(grid).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("[data-testid='stSidebar']")).to_be_visible()
        title = detail_heading(page, "Remediation activities").bounding_box()
        table = page.locator("[data-testid='stDataFrame']").first
        box = table.bounding_box()
        # The selection box and the pinned activity column (33 + 256 px), less
        # its right edge, where the grid draws a shadow once the table scrolls.
        pinned = {**box, "width": 240}
        rest = {**box, "x": box["x"] + 300, "width": box["width"] - 320}
        before = (page.screenshot(clip=pinned), page.screenshot(clip=rest))
        grid.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
        page.wait_for_timeout(500)
        after = (page.screenshot(clip=pinned), page.screenshot(clip=rest))
        screenshot(page, "remediation-1440")
    finally:
        page.context.close()

    assert changed_pixels(*before[1:], *after[1:]) > 1000, "the table scrolls sideways"
    # The grid's rounded corner may differ by a shade; the column itself not.
    assert changed_pixels(before[0], after[0]) == 0, "the activity column stays"
    # Streamlit's default leaves about 110 px above a title; ours less than 90.
    assert title["y"] < 90


def changed_pixels(first: bytes, second: bytes, shades: int = 16) -> int:
    """How many pixels of two same-sized PNG screenshots differ by more than
    `shades` in some colour channel."""
    a, b = (Image.open(io.BytesIO(shot)).convert("RGB") for shot in (first, second))
    red, green, blue = ImageChops.difference(a, b).split()
    largest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return sum(largest.histogram()[shades + 1 :])


def test_tables_offer_no_csv_download_but_the_products_own(app, browser, synced):
    # Every CSV goes through the product's writer, which makes formula cells
    # text; the grid's own "Download as CSV" would write them as they are.
    page = new_page(browser, width=1440)
    try:
        page.goto(f"{app}/remediation?status=All")
        wait_until_idle(page)
        table = page.locator("[data-testid='stDataFrame']").first
        expect(table).to_be_visible(timeout=WAIT_MS)
        table.hover()
        toolbar = page.locator("[data-testid='stElementToolbar']").first
        expect(toolbar).to_be_visible(timeout=WAIT_MS)
        expect(toolbar.get_by_role("button").first).to_be_visible()
        grid_download = toolbar.get_by_role("button", name="Download as CSV")
        expect(grid_download).to_have_count(0)
        own = page.get_by_role("button", name="Export the filtered list to CSV")
        expect(own).to_be_visible()
    finally:
        page.context.close()
