"""Backups: what users wrote survives a restore into a fresh database file."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.test_cli import cli, cli_env, one_line
from tests.test_requests import ALICE, T0, TODAY, form, synced  # noqa: F401
from tvmdata import backup, completion, opsettings, remediation, store, views
from tvmdata.backup import BackupError
from tvmdata.clock import FakeClock
from tvmdata.sync import sync_tenant


def user_rows(db) -> dict:
    with store.connect(db) as con:
        return {
            table: sorted(con.execute(f"select * from {table}").fetchall(), key=repr)
            for table in backup.USER_TABLES
        }


@pytest.fixture
def written(settings, synced):  # noqa: F811
    """A store where users filed, edited and completed requests and saved a
    setting: rows that exist nowhere but here."""
    kept = remediation.file_request(settings, form(group_ids=(1,)), ALICE, T0)
    done = remediation.file_request(settings, form(group_ids=(2,)), ALICE, T0)
    remediation.edit_request(
        settings, kept.activity_id, ALICE, T0, due_on=TODAY, priority="Low"
    )
    completion.complete_activity(settings, done.activity_id, ALICE, T0)
    opsettings.save_operational(settings, {"retention_days": 90}, ALICE, T0)
    return kept, done


def test_a_restore_into_a_fresh_file_brings_back_what_users_wrote(
    settings, written, tmp_path
):
    kept, done = written
    folder = backup.backup(settings, tmp_path / "backups", FakeClock(T0))
    fresh = tmp_path / "restored" / "tvm.duckdb"

    manifest = backup.restore(folder, fresh)

    assert folder.name == "tvm-20260504-080000"
    assert manifest["tenant_id"] == settings.tenant_id
    assert manifest["rows"]["requests"] == 2
    assert user_rows(fresh) == user_rows(settings.db)
    restored = settings.with_overrides(db=fresh)
    detail = views.load_activity_detail(restored, kept.activity_id, today=TODAY)
    assert (detail["priority"], detail["source"]) == ("Low", "dashboard")
    detail = views.load_activity_detail(restored, done.activity_id, today=TODAY)
    assert detail["completed_by"] == ALICE
    assert opsettings.load_operational(restored).retention_days == 90


def test_a_restored_store_keeps_numbering_and_syncing(settings, written, tmp_path):
    folder = backup.backup(settings, tmp_path / "backups", FakeClock(T0))
    fresh = tmp_path / "restored.duckdb"
    backup.restore(folder, fresh)
    restored = settings.with_overrides(db=fresh)

    opsettings.save_operational(restored, {"retention_days": 60}, ALICE, T0)

    with store.connect(fresh) as con:
        ids = [r[0] for r in con.execute("select entry_id from audit_log").fetchall()]
    assert len(ids) == len(set(ids))
    result = sync_tenant(restored, clock=FakeClock(T0 + timedelta(days=1)))
    assert result.outcome == "succeeded"


def test_restore_never_overwrites_a_database(settings, written, tmp_path):
    folder = backup.backup(settings, tmp_path / "backups", FakeClock(T0))
    before = settings.db.read_bytes()

    with pytest.raises(BackupError, match="already exists: restore into a new file"):
        backup.restore(folder, settings.db)

    assert settings.db.read_bytes() == before


def test_a_folder_that_is_no_backup_is_named(tmp_path):
    with pytest.raises(BackupError, match="is not a dashboard backup"):
        backup.restore(tmp_path, tmp_path / "new.duckdb")
    assert not (tmp_path / "new.duckdb").exists()


def test_a_backup_that_cannot_be_written_leaves_nothing_half_written(
    settings, written, tmp_path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")

    with pytest.raises(BackupError, match="choose another --out"):
        backup.backup(settings, blocker / "inner", FakeClock(T0))

    assert blocker.read_text() == "a file where the folder should be"


def test_without_a_database_the_error_says_to_sync_first(settings):
    with pytest.raises(BackupError, match="run a sync first"):
        backup.backup(settings, settings.db.parent / "b", FakeClock(T0))


def test_a_damaged_backup_fails_the_restore_cleanly(settings, written, tmp_path):
    folder = backup.backup(settings, tmp_path / "backups", FakeClock(T0))
    (folder / "requests.parquet").write_bytes(b"not parquet")
    fresh = tmp_path / "restored.duckdb"

    with pytest.raises(BackupError, match="damaged"):
        backup.restore(folder, fresh)

    assert not fresh.exists()
    assert not fresh.with_name("restored.duckdb.restoring").exists()


def test_the_command_line_backs_up_and_restores(settings, written, tmp_path):
    env = cli_env(settings)

    saved = cli("backup", "--out", str(tmp_path / "b"), env=env, cwd=tmp_path)
    [folder] = (tmp_path / "b").iterdir()
    again = cli(
        "restore", "--from", str(folder), "--db", str(tmp_path / "r.duckdb"),
        env=env, cwd=tmp_path,
    )  # fmt: skip
    refused = cli(
        "restore", "--from", str(folder), "--db", str(settings.db),
        env=env, cwd=tmp_path,
    )  # fmt: skip

    assert saved.returncode == 0, saved.stderr
    assert "2 requests" in saved.stdout and "1 completion," in saved.stdout
    assert again.returncode == 0, again.stderr
    assert "point TVM_DB at it" in again.stdout
    assert user_rows(tmp_path / "r.duckdb") == user_rows(settings.db)
    assert "already exists" in one_line(refused)
