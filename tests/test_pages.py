"""Dashboard pages through Streamlit's AppTest, on a real synced database."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tvmdata import store
from tvmdata.sync import sync_tenant


def live_environment(monkeypatch, settings):
    monkeypatch.setenv("TVM_TENANT_ID", settings.tenant_id)
    monkeypatch.setenv("TVM_CLIENT_ID", settings.client_id)
    monkeypatch.setenv("TVM_CLIENT_SECRET", settings.client_secret)
    monkeypatch.setenv("TVM_DB", str(settings.db))
    st.cache_resource.clear()
    st.cache_data.clear()


def run_dashboard() -> AppTest:
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    return app.run()


def test_remediation_page_lists_the_synced_activities_newest_first(
    monkeypatch, settings
):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    app = run_dashboard()

    assert not app.exception
    shown = app.dataframe[0].value
    expected = store.load_activities(settings)
    assert shown["activity_id"].tolist() == expected["activity_id"].tolist()
    created = expected["created_on"].tolist()
    assert created == sorted(created, reverse=True)
    assert "sync 1 finished" in app.caption[0].value


def test_demo_mode_without_a_running_emulator_says_how_to_start_it(monkeypatch):
    monkeypatch.setenv("TVM_DEMO", "true")
    st.cache_resource.clear()

    app = run_dashboard()

    assert not app.exception
    assert "make run" in app.error[0].value


@pytest.mark.parametrize("value", ["maybe"])
def test_a_malformed_setting_is_one_plain_error_line(monkeypatch, value):
    monkeypatch.setenv("TVM_DEMO", value)
    st.cache_resource.clear()

    app = run_dashboard()

    assert not app.exception
    assert "TVM_DEMO must be true or false" in app.error[0].value
