"""Three failed syncs in a row raise a banner on every page until one succeeds."""

from __future__ import annotations

import pytest

from tests.test_pages import live_environment, run_dashboard
from tvmdata.errors import PermissionMissing
from tvmdata.sync import sync_tenant

PAGES = ["pages/home.py", "pages/remediation.py", "pages/recommendations.py"]
BANNER = "syncs failed"


def banners(app) -> list[str]:
    assert not app.exception, app.exception
    return [e.value for e in app.error if BANNER in e.value]


def fail_sync(settings) -> None:
    with pytest.raises(PermissionMissing):
        sync_tenant(settings)


def test_the_banner_needs_three_failures_in_a_row(monkeypatch, settings, emulator):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    emulator.fail_paths[r"^/api/machines$"] = 403

    fail_sync(settings)
    fail_sync(settings)
    two = run_dashboard("pages/home.py")
    fail_sync(settings)
    three = {page: run_dashboard(page) for page in PAGES}

    assert banners(two) == []
    for page, app in three.items():
        [banner] = banners(app)
        assert banner.startswith("The last 3 syncs failed. Data as of "), page
        assert "Machine.Read.All" in banner, page


def test_a_successful_sync_clears_the_banner(monkeypatch, settings, emulator):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    emulator.fail_paths[r"^/api/machines$"] = 403
    for _ in range(3):
        fail_sync(settings)
    assert banners(run_dashboard("pages/home.py"))

    del emulator.fail_paths[r"^/api/machines$"]
    sync_tenant(settings)

    assert banners(run_dashboard("pages/home.py")) == []
