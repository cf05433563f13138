"""Operational settings in the database, the deployment summary, the connection
test against the emulator and the sync history."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tvmdata import audit, opsettings, retention
from tvmdata.clock import FakeClock
from tvmdata.errors import PermissionMissing
from tvmdata.opsettings import OperationalSettings, SettingRefused
from tvmdata.sync import sync_tenant

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ADMIN = "admin@contoso.test"


def test_defaults_until_something_is_saved(settings):
    assert opsettings.load_operational(settings) == OperationalSettings()
    demo = opsettings.load_operational(settings.with_overrides(demo=True))
    assert demo.operator_email == "operator@demo.example"


def test_saved_settings_survive_and_feed_retention(settings):
    changes = {
        "intune_enabled": True,
        "retention_days": 90,
        "archive_before_purge": True,
        "operator_email": " ops@contoso.test ",
    }

    saved = opsettings.save_operational(settings, changes, ADMIN, NOW)

    expected = OperationalSettings(True, 90, True, "ops@contoso.test")
    assert saved == expected
    assert opsettings.load_operational(settings) == expected
    policy = retention.load_policy(settings)
    assert (policy.days, policy.archive) == (90, True)


def test_each_change_is_audited_with_before_and_after(settings):
    opsettings.save_operational(settings, {"retention_days": 30}, ADMIN, NOW)
    opsettings.save_operational(
        settings, {"retention_days": 30, "intune_enabled": True}, ADMIN, NOW
    )

    log = audit.load_entries(settings)
    assert list(log["object_id"]) == ["intune_enabled", "retention_days"]
    retention_entry = log[log["object_id"] == "retention_days"].iloc[0]
    assert retention_entry["before"] == '{"retention_days": 180}'
    assert retention_entry["after"] == '{"retention_days": 30}'


def test_bad_values_are_refused_and_nothing_is_saved(settings):
    with pytest.raises(SettingRefused) as refused:
        opsettings.save_operational(
            settings,
            {"retention_days": 0, "operator_email": "not an email"},
            ADMIN,
            NOW,
        )

    assert set(refused.value.errors) == {"retention_days", "operator_email"}
    assert "1 to 3650 days, not 0" in refused.value.errors["retention_days"]
    assert opsettings.load_operational(settings) == OperationalSettings()
    assert audit.load_entries(settings).empty


def test_the_deployment_summary_never_shows_the_secret(settings):
    rows = dict(opsettings.describe_deployment(settings))

    assert rows["Client secret"] == "set"
    assert rows["Tenant"] == settings.tenant_id
    assert rows["Database"] == str(settings.db)
    assert settings.client_secret not in repr(rows)


def test_connection_test_reports_each_service_in_a_sentence(settings):
    checks = opsettings.check_connections(settings)

    assert [(c.service, c.ok) for c in checks] == [
        ("Defender API", True),
        ("Microsoft Graph (Intune)", True),
    ]
    assert checks[1].message == "Not tested: the Intune connection is off."


def test_a_refused_secret_fails_the_test_with_the_setting_to_fix(settings):
    wrong = settings.with_overrides(client_secret="wrong-secret")

    defender = opsettings.check_connections(wrong)[0]

    assert not defender.ok
    assert "TVM_CLIENT_SECRET" in defender.message
    assert "wrong-secret" not in defender.message


def test_sync_history_lists_the_newest_runs_with_totals(emulator, settings):
    sync_tenant(settings, clock=FakeClock(NOW))
    emulator.fail_paths["/api/machines"] = 403
    with pytest.raises(PermissionMissing):
        sync_tenant(settings, clock=FakeClock(NOW + timedelta(hours=1)))

    history = opsettings.load_sync_history(settings, limit=20)

    assert list(history["run_id"]) == [2, 1]
    assert list(history["outcome"]) == ["failed", "succeeded"]
    assert history["calls"].iloc[1] > 0 and history["rows"].iloc[1] > 0
    assert "Machine.Read.All" in history["error"].iloc[0]
    assert opsettings.load_sync_history(settings, limit=1)["run_id"].tolist() == [2]


def test_sessions_saving_at_once_in_one_process_all_land(settings):
    # The dashboard serves every session from one process: their writes take
    # turns instead of failing each other.
    def save(days: int):
        return opsettings.save_operational(
            settings, {"retention_days": days}, f"user{days}@contoso.test", NOW
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        saved = list(pool.map(save, range(30, 54)))

    assert [s.retention_days for s in saved] == list(range(30, 54))
    log = audit.load_entries(settings)
    assert len(log) == 24
    final = opsettings.load_operational(settings).retention_days
    assert final in range(30, 54)
