"""Demo mode: the history built through the real sync, and the standalone emulator."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from tests.conftest import REPO
from tvmdata import demo, demo_tenant

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        demo.build_demo(devices=300, activities=30, progress=lambda line: None)
    return folder


def query(folder, sql):
    con = duckdb.connect(str(folder / demo.DEMO_DB), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_demo_history_is_one_successful_sync_per_history_date(small_demo):
    tenant = demo_tenant.generate(devices=300, activities=30)
    dates = tenant.history_dates()

    runs = query(small_demo, "select outcome, started_at from sync_runs order by 1, 2")

    assert [r[0] for r in runs] == ["succeeded"] * len(dates)
    assert [r[1] for r in runs] == dates


def test_the_demo_history_has_fixes_regressions_and_silent_devices(small_demo):
    reasons = dict(
        query(
            small_demo, "select end_reason, count(*) from exposure_intervals group by 1"
        )
    )
    regressed = query(
        small_demo,
        "select count(*) from (select activity_id, machine_id from exposure_intervals "
        "group by all having count(*) > 1)",
    )[0][0]

    assert reasons["fixed"] > 0
    assert reasons.get("no_longer_reported", 0) > 0
    assert regressed > 0


def test_the_build_leaves_only_the_database_and_the_emulator_state(small_demo):
    data = small_demo / "data"

    assert sorted(p.name for p in data.iterdir()) == ["demo.duckdb", "emulator"]
    assert (data / "emulator" / "state.json").is_file()


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "tvmdata", *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_standalone_emulator_serves_the_demo_to_sync_and_export(small_demo):
    started = cli("demo", "up", cwd=small_demo)
    try:
        synced = cli("sync", "--demo", cwd=small_demo)
        exported = cli(
            "export", "activities", "--demo", "--out", "a.csv", cwd=small_demo
        )
    finally:
        stopped = cli("demo", "down", cwd=small_demo)

    assert started.returncode == 0, started.stderr
    assert "demo emulator serving at https://127.0.0.1:" in started.stderr
    assert synced.returncode == 0, synced.stderr
    assert "succeeded" in synced.stdout
    activities = query(small_demo, "select count(*) from activities")[0][0]
    assert f"wrote {activities} activities" in exported.stdout
    assert stopped.returncode == 0 and "stopped" in stopped.stdout


def test_sync_demo_without_the_emulator_says_how_to_start_it(tmp_path):
    done = cli("sync", "--demo", cwd=tmp_path)

    assert done.returncode == 1
    assert "make run" in done.stderr
