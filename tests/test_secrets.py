"""The client secret never leaves the settings: not in a log line at any level,
a page, an export, the database or an exception, whether sign-in works, is
refused or the sync fails."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO, settings_for
from tests.test_pages import run_on_page
from tvmdata import exports, opsettings, store, views
from tvmdata.clock import FakeClock
from tvmdata.config import settings_environment
from tvmdata.emulator import Emulator, sample_tenant
from tvmdata.errors import TvmError
from tvmdata.sync import sync_tenant

SECRET = "CANARY-7f3a9e-SECRET"
WRONG = "CANARY-WRONG-b41c2d-SECRET"
PAGES = [
    "pages/home.py",
    "pages/remediation.py",
    "pages/device_groups.py",
    "pages/recommendations.py",
    "pages/settings.py",
]


@pytest.fixture
def canary_emulator():
    data = sample_tenant()
    client_id = next(iter(data["clients"]))
    data["clients"] = {client_id: SECRET}
    emulator = Emulator(data).start()
    yield emulator
    emulator.stop()


def page_text(app: AppTest) -> str:
    return repr(app._tree) + repr(
        {k: app.session_state[k] for k in app.session_state.keys()}
    )


def open_page(page: str, monkeypatch, settings, test_connection=False) -> AppTest:
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app = run_on_page(app, page)
    if test_connection:
        app.button(key="test_connection").click()
        app = run_on_page(app, page)
    return app


def everything_stored(settings) -> str:
    with store.connect(settings.db) as con:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        return repr({t: con.execute(f"select * from {t}").fetchall() for t in tables})


def test_the_client_secret_shows_nowhere(
    canary_emulator, tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    emulator = canary_emulator
    settings = settings_for(emulator, tmp_path / "tvm.duckdb")
    wrong = settings.with_overrides(client_secret=WRONG)
    seen: list[str] = []

    sync_tenant(settings)
    opsettings.save_operational(
        settings, {"intune_enabled": True}, "lead@contoso.test", datetime.now(UTC)
    )
    for failing in (wrong, settings):
        if failing is settings:
            emulator.fail_paths[r"^/api/"] = 503
        with pytest.raises(TvmError) as raised:
            sync_tenant(failing, clock=FakeClock(datetime.now(UTC)))
        seen += [str(raised.value), repr(raised.value), repr(raised.value.__cause__)]
    emulator.fail_paths.clear()
    for configured in (settings, wrong):
        for page in PAGES:
            test = page == "pages/settings.py"
            app = open_page(page, monkeypatch, configured, test_connection=test)
            assert not app.exception, (page, app.exception)
            seen.append(page_text(app))
            if test and configured is wrong:
                refused = [e.value for e in app.error]
    listed = views.filter_activities(settings, status=None)
    seen.append(exports.filtered_list_csv(listed, "sync 1").decode("utf-8-sig"))
    seen.append(everything_stored(settings))
    seen.append(caplog.text)
    seen += [repr(r.args) for r in caplog.records]

    assert "Entra ID refused the token" in " ".join(seen), "the refusal was seen"
    assert any("client secret is wrong" in e for e in refused), refused
    for text in seen:
        assert SECRET not in text and WRONG not in text
        assert "CANARY" not in text
