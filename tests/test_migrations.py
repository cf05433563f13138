"""Opening older, corrupt and foreign database files."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime

import duckdb
import pytest

from tests.conftest import REPO
from tvmdata import completion, remediation, store, views
from tvmdata.clock import FakeClock
from tvmdata.errors import StoreError
from tvmdata.sync import sync_tenant

FIXTURE = REPO / "tests" / "fixtures" / "store-v1.duckdb.gz"
LATER = datetime(2026, 1, 11, 6, 0, tzinfo=UTC)


@pytest.fixture
def v1_store(tmp_path):
    path = tmp_path / "old.duckdb"
    with gzip.open(FIXTURE, "rb") as packed, path.open("wb") as out:
        shutil.copyfileobj(packed, out)
    return path


def schema_versions(path) -> list[int]:
    con = duckdb.connect(str(path))
    try:
        rows = con.execute("select version from schema_version order by 1").fetchall()
        return [r[0] for r in rows]
    finally:
        con.close()


def test_a_version_1_file_migrates_forward_with_its_data(v1_store, settings):
    assert schema_versions(v1_store) == [1]
    old = settings.with_overrides(db=v1_store)

    activities = views.filter_activities(old, status=None)

    assert schema_versions(v1_store) == list(range(1, store.SCHEMA_VERSION + 1))
    assert sorted(activities["activity_id"]) == [
        f"a1c3e5f7-0000-4000-8000-00000000000{n}" for n in range(1, 5)
    ]
    with store.connect(v1_store) as con:
        sources = con.execute("select distinct source from activities").fetchall()
    assert sources == [("defender",)]
    assert completion.operator_email(old) == "ops@contoso.test"


def test_a_migrated_file_syncs_and_takes_requests(v1_store, settings):
    old = settings.with_overrides(db=v1_store)

    result = sync_tenant(old, clock=FakeClock(LATER))
    filed = remediation.file_request(
        old,
        remediation.RequestForm(
            form_token="t1",
            recommendation_id="va-_-google-_-chrome",
            remediation_type="Update",
            group_ids=(101,),
            priority="High",
            due_on=LATER.date(),
        ),
        None,
        LATER,
    )

    assert result.outcome == "succeeded"
    assert filed.created and filed.target_devices > 0


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "tvm.duckdb"
    path.write_bytes(b"\x00garbage" * 1000)

    with pytest.raises(StoreError, match="cannot be opened as a dashboard database"):
        with store.connect(path):
            pass

    assert path.read_bytes() == b"\x00garbage" * 1000


def test_a_foreign_duckdb_file_is_refused_untouched(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table invoices (id integer)")
    con.close()

    with pytest.raises(StoreError, match="another application"):
        with store.connect(path):
            pass

    con = duckdb.connect(str(path))
    tables = con.execute("select table_name from information_schema.tables").fetchall()
    con.close()
    assert tables == [("invoices",)]


def test_a_file_from_a_newer_version_is_refused(v1_store):
    con = duckdb.connect(str(v1_store))
    con.execute("insert into schema_version values (99, now())")
    con.close()

    with pytest.raises(StoreError, match="upgrade the dashboard"):
        with store.connect(v1_store):
            pass


def test_migration_links_each_older_interval_to_its_neighbours(v1_store):
    fixed, again = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)
    raw = duckdb.connect(str(v1_store))
    raw.executemany(
        "insert into exposure_intervals values (?, ?, ?, ?, ?, ?)",
        [
            ("x", "m1", 101, LATER.replace(day=1), fixed, "fixed"),
            ("x", "m1", 101, again, None, None),
            ("x", "m2", 101, LATER.replace(day=1), None, None),
        ],
    )
    raw.close()

    with store.connect(v1_store) as con:
        links = con.execute(
            "select machine_id, exposed_from, regressed, fixed_before, superseded_at "
            "from exposure_intervals where activity_id = 'x' "
            "order by machine_id, exposed_from"
        ).fetchall()

    assert links == [
        ("m1", LATER.replace(day=1), False, None, again),
        ("m1", again, True, fixed, None),
        ("m2", LATER.replace(day=1), False, None, None),
    ]
