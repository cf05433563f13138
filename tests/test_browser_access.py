"""Sign-in in a real browser: a user outside the allowed list gets a plain
refusal and no page, an allowed viewer gets the pages without Settings.
Streamlit's sign-in is stubbed at the `st.user` level (tests/stub_user.py); the
access rules come from a real secrets file in the server's folder."""

from __future__ import annotations

import json
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
from tests.test_access import AUTH
from tests.test_access_pages import RULES
from tvmdata.emulator import Emulator, sample_tenant
from tvmdata.sync import sync_tenant

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

WAIT_MS = 30000
STUB = Path(__file__).with_name("stub_user.py")


@pytest.fixture(scope="module")
def signed_in_folder(tmp_path_factory):
    """A synced store, and a folder whose .streamlit/secrets.toml turns
    sign-in on with the test's access rules."""
    emulator = Emulator(sample_tenant()).start()
    try:
        folder = tmp_path_factory.mktemp("signed-in")
        settings = settings_for(emulator, folder / "tvm.duckdb", sign_in=None)
        sync_tenant(settings)
        (folder / ".streamlit").mkdir()
        (folder / ".streamlit" / "secrets.toml").write_text(AUTH + RULES)
        yield settings, folder
    finally:
        emulator.stop()


def server_for(signed_in_folder, email: str):
    settings, folder = signed_in_folder
    claims = {"is_logged_in": True, "email": email, "name": email.split("@")[0]}
    env = process_env(settings, STUB_USER=json.dumps(claims))
    return streamlit_server(env, cwd=folder, launcher=STUB)


def test_a_user_outside_the_allowed_list_sees_a_refusal_and_no_page(
    signed_in_folder,
):
    with server_for(signed_in_folder, "mallory@elsewhere.test") as url:
        with chromium_browser() as browser:
            page = new_page(browser)
            page.goto(url + "/remediation")
            wait_until_idle(page)

            refusal = page.get_by_role("heading", name="Access refused")
            expect(refusal).to_be_visible(timeout=WAIT_MS)
            expect(
                page.get_by_text("mallory@elsewhere.test may not use this dashboard.")
            ).to_be_visible()
            expect(page.get_by_role("button", name="Sign out")).to_be_visible()
            expect(page.get_by_text("Remediation activities")).to_have_count(0)
            expect(page.get_by_role("link", name="Settings")).to_have_count(0)
            screenshot(page, "access-refused")


def test_an_allowed_viewer_gets_the_pages_but_not_settings(signed_in_folder):
    with server_for(signed_in_folder, "someone@contoso.test") as url:
        with chromium_browser() as browser:
            page = new_page(browser)
            page.goto(url)
            wait_until_idle(page)

            expect(
                page.get_by_role("heading", name="Remediation overview")
            ).to_be_visible(timeout=WAIT_MS)
            sidebar = page.get_by_test_id("stSidebar")
            expect(
                sidebar.get_by_text("Signed in as someone@contoso.test · viewer")
            ).to_be_visible()
            expect(sidebar.get_by_role("link", name="Remediation")).to_be_visible()
            expect(sidebar.get_by_role("link", name="Settings")).to_have_count(0)
            expect(sidebar.get_by_role("button", name="Sync now")).to_have_count(0)
