"""The Settings page through AppTest: operational settings saved in the store,
deployment settings shown read-only, the connection test against the emulator,
and the sync history."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO, serve_as_demo
from tests.test_pages import live_environment, run_on_page, synced_demo_database
from tvmdata import opsettings
from tvmdata.config import settings_environment
from tvmdata.errors import PermissionMissing
from tvmdata.sync import sync_tenant

PAGE = "pages/settings.py"
SAVE = "FormSubmitter:operational_settings-Save settings"
CHROME = "va-_-google-_-chrome"
SIGNED_IN = {"is_logged_in": True, "email": "lead@contoso.test"}


def open_page(monkeypatch, settings, user=None) -> AppTest:
    """The dashboard on the Settings page, every setting pointing at `settings`
    (the emulator's hosts and CA file too)."""
    live_environment(monkeypatch, settings)
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app.user = user or SIGNED_IN
    return run(app)


def run(app: AppTest) -> AppTest:
    return run_on_page(app, PAGE)


def save(app: AppTest, **values) -> AppTest:
    fields = {
        "intune_enabled": app.toggle(key="ops_intune_enabled"),
        "retention_days": app.number_input(key="ops_retention_days"),
        "archive_before_purge": app.checkbox(key="ops_archive_before_purge"),
        "operator_email": app.text_input(key="ops_operator_email"),
    }
    for name, value in values.items():
        fields[name].set_value(value)
    app.button(key=SAVE).click()
    return run(app)


def shown_fields(app: AppTest) -> dict:
    return {
        "intune_enabled": app.toggle(key="ops_intune_enabled").value,
        "retention_days": app.number_input(key="ops_retention_days").value,
        "archive_before_purge": app.checkbox(key="ops_archive_before_purge").value,
        "operator_email": app.text_input(key="ops_operator_email").value,
    }


def test_the_stored_defaults_are_shown_before_anything_is_saved(monkeypatch, settings):
    sync_tenant(settings)

    app = open_page(monkeypatch, settings)

    assert not app.exception and not app.error
    assert [s.value for s in app.subheader] == [
        "Operational settings",
        "Deployment settings",
        "Sync history",
        "Audit log",
    ]
    assert shown_fields(app) == {
        "intune_enabled": False,
        "retention_days": 180,
        "archive_before_purge": False,
        "operator_email": "",
    }
    assert "Creates Intune security tasks from requests (off by default)." in [
        c.value for c in app.caption
    ]
    assert app.text_input(key="ops_operator_email").help == (
        "Used as 'Completed by' and requester when nobody is signed in"
    )


def test_saved_settings_survive_a_reload(monkeypatch, settings):
    sync_tenant(settings)
    app = open_page(monkeypatch, settings)

    app = save(
        app,
        intune_enabled=True,
        retention_days=90,
        archive_before_purge=True,
        operator_email="  ops@contoso.test ",
    )

    assert not app.exception and not app.error
    assert [s.value for s in app.success] == ["Settings saved."]
    stored = opsettings.load_operational(settings)
    assert stored == opsettings.OperationalSettings(
        intune_enabled=True,
        retention_days=90,
        archive_before_purge=True,
        operator_email="ops@contoso.test",
    )
    reloaded = open_page(monkeypatch, settings)
    assert shown_fields(reloaded) == {
        "intune_enabled": True,
        "retention_days": 90,
        "archive_before_purge": True,
        "operator_email": "ops@contoso.test",
    }
    assert not reloaded.success, "the saved notice shows once"


def test_saving_without_a_change_says_so(monkeypatch, settings):
    sync_tenant(settings)
    app = open_page(monkeypatch, settings)

    app = save(app)

    assert [s.value for s in app.success] == ["Nothing changed: no setting saved."]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"operator_email": "not an email"},
            ["'not an email' is not an email address: give one like ops@contoso.com."],
        ),
        (
            {"retention_days": 0, "operator_email": "ops"},
            [
                "The retention period must be 1 to 3650 days, not 0.",
                "'ops' is not an email address: give one like ops@contoso.com.",
            ],
        ),
        (
            {"retention_days": 3651},
            ["The retention period must be 1 to 3650 days, not 3651."],
        ),
    ],
)
def test_a_refused_value_is_named_under_its_field_and_nothing_is_saved(
    monkeypatch, settings, values, expected
):
    sync_tenant(settings)
    app = open_page(monkeypatch, settings)

    app = save(app, intune_enabled=True, **values)

    assert not app.exception and not app.success
    assert [e.value for e in app.error] == expected
    assert opsettings.load_operational(settings) == opsettings.OperationalSettings()
    assert app.toggle(key="ops_intune_enabled").value, "what was typed stays"


def test_deployment_settings_are_read_only_and_keep_the_secret_out(
    monkeypatch, settings
):
    sync_tenant(settings)

    app = open_page(monkeypatch, settings)

    table = app.dataframe[0].value
    expected = opsettings.describe_deployment(settings)
    assert list(table.itertuples(index=False, name=None)) == expected
    assert ("Client secret", "set") in expected
    assert settings.client_secret not in table["Value"].tolist()
    assert any(
        "environment variables (TVM_*) or .streamlit/secrets.toml" in c.value
        for c in app.caption
    )


def test_the_connection_test_reports_each_service_in_a_sentence(monkeypatch, settings):
    sync_tenant(settings)
    app = open_page(monkeypatch, settings)

    app.button(key="test_connection").click()
    app = run(app)

    assert not app.exception and not app.error
    assert [s.value for s in app.success] == [
        f"Defender API: Signed in and read the device list at {settings.api_base}."
    ]
    assert [i.value for i in app.info] == [
        "Microsoft Graph (Intune): Not tested: the Intune connection is off."
    ]


def test_a_failing_connection_is_one_error_sentence(monkeypatch, settings, emulator):
    sync_tenant(settings)
    emulator.fail_paths = {r"^/api/machines$": 403}
    app = open_page(monkeypatch, settings)

    app.button(key="test_connection").click()
    app = run(app)

    assert not app.exception
    [error] = [e.value for e in app.error]
    assert error.startswith("Defender API: ")
    assert "lacks the application permission Machine.Read.All" in error


def test_the_sync_history_lists_the_last_runs_newest_first(
    monkeypatch, settings, emulator
):
    sync_tenant(settings)
    emulator.fail_paths = {r"^/api/remediationTasks$": 403}
    with pytest.raises(PermissionMissing):
        sync_tenant(settings)

    app = open_page(monkeypatch, settings)

    history = app.dataframe[1].value
    assert history["run_id"].tolist() == [2, 1]
    assert history["outcome"].tolist() == ["Failed", "Succeeded"]
    assert history["error"].isna().tolist() == [False, True]
    assert "RemediationTasks.Read.All" in history["error"].iloc[0]
    assert history["calls"].iloc[1] > 0 and history["rows"].iloc[1] > 0


def test_twenty_one_runs_show_the_last_twenty(monkeypatch, settings):
    for _ in range(21):
        sync_tenant(settings)

    app = open_page(monkeypatch, settings)

    assert app.dataframe[1].value["run_id"].tolist() == list(range(21, 1, -1))


def test_demo_mode_lets_a_user_play_it_fixing_devices(
    monkeypatch, settings, emulator, tmp_path
):
    synced_demo_database(settings, tmp_path)
    serve_as_demo(emulator)
    monkeypatch.setenv("TVM_DEMO", "true")
    st.cache_data.clear()
    app = run(AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30))
    exposed = emulator.tenant()["recommendationMachines"][CHROME]

    app.selectbox(key="demo_fix_recommendation").set_value(CHROME)
    app.slider(key="demo_fix_share").set_value(100)
    app.button(key="FormSubmitter:demo_fix_devices-Fix devices").click()
    app = run(app)

    assert not app.exception and not app.error
    assert [s.value for s in app.success] == [
        f"IT fixed {len(exposed)} devices: press Sync now in the sidebar to see "
        "the progress."
    ]
    assert emulator.tenant()["recommendationMachines"][CHROME] == []


def test_live_mode_offers_no_demo_controls(monkeypatch, settings):
    sync_tenant(settings)
    app = open_page(monkeypatch, settings)

    assert not app.exception
    assert "Demo: play IT" not in [h.value for h in app.subheader]
