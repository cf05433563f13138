"""Demo mode: the history built through the real sync, and the standalone emulator."""

from __future__ import annotations

import re
import shutil
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


def cli(*args, cwd, **env):
    return subprocess.run(
        [sys.executable, "-m", "tvmdata", *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_demo_database(small_demo, folder):
    """The demo database alone in `folder`: no emulator state, so none runs."""
    (folder / "data").mkdir()
    shutil.copy(small_demo / demo.DEMO_DB, folder / demo.DEMO_DB)
    return folder


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
    assert "demo emulator serving at https://127.0.0.1:" in started.stdout
    assert synced.returncode == 0, synced.stderr
    assert "succeeded" in synced.stdout
    activities = query(small_demo, "select count(*) from activities")[0][0]
    assert f"wrote {activities} activities" in exported.stdout
    assert stopped.returncode == 0 and "stopped" in stopped.stdout


def test_sync_demo_without_the_emulator_says_how_to_start_it(tmp_path):
    done = cli("sync", "--demo", cwd=tmp_path)

    assert done.returncode == 1
    assert "make run" in done.stderr


def test_export_demo_before_the_demo_is_built_says_how_to_build_it(tmp_path):
    done = cli("export", "activities", "--demo", "--out", "a.csv", cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: The demo tenant is not built (data/demo.duckdb is missing): run "
        "`make run` or `python -m tvmdata demo up`."
    ]


def test_export_needs_only_the_demo_database_not_the_emulator(small_demo, tmp_path):
    folder = copy_of_the_demo_database(small_demo, tmp_path)
    count = query(small_demo, "select count(*) from activities")[0][0]

    flag = cli("export", "activities", "--demo", "--out", "a.csv", cwd=folder)
    environment = cli("export", "activities", "--out", "b.csv", cwd=folder,
                      TVM_DEMO="true")  # fmt: skip

    assert flag.returncode == 0, flag.stderr
    assert environment.returncode == 0, environment.stderr
    assert f"wrote {count} activities to a.csv" in flag.stdout
    assert f"wrote {count} activities to b.csv" in environment.stdout


def test_the_readme_group_example_works_on_the_demo(small_demo, tmp_path):
    folder = copy_of_the_demo_database(small_demo, tmp_path)
    expected = query(
        small_demo,
        "select count(*) from activities "
        "where list_contains(device_groups, 'Workstations - Finance')",
    )[0][0]

    done = cli("export", "activities", "--demo", "--out", "finance.csv",
               "--group", "Workstations - Finance", cwd=folder)  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert expected > 0 and f"wrote {expected} activities" in done.stdout


def test_a_dry_run_lists_what_purge_then_removes_with_the_emulator_stopped(
    small_demo, tmp_path
):
    folder = copy_of_the_demo_database(small_demo, tmp_path)
    before = set(ids_in(folder))

    dry = cli("purge", "--demo", "--days", "30", "--dry-run", cwd=folder)
    after_dry_run = set(ids_in(folder))
    done = cli("purge", "--demo", "--days", "30", cwd=folder)
    after = set(ids_in(folder))

    assert dry.returncode == 0, dry.stderr
    listed = set(re.findall(r"^  ([0-9a-f-]{36})  completed ", dry.stdout, re.M))
    assert listed and "nothing was deleted (dry run)" in dry.stdout
    assert after_dry_run == before
    assert done.returncode == 0, done.stderr
    assert f"purging {len(listed)} completed activities older than 30 days" in (
        done.stdout
    )
    assert after == before - listed


def test_an_archive_folder_that_cannot_be_made_is_one_line_and_purges_nothing(
    small_demo, tmp_path
):
    folder = copy_of_the_demo_database(small_demo, tmp_path)
    before = ids_in(folder)
    (folder / "not-a-folder").write_text("x")

    done = cli("purge", "--demo", "--days", "30", "--archive", "not-a-folder",
               cwd=folder)  # fmt: skip

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: cannot write the archive in not-a-folder: File exists; choose "
        "another --archive (nothing was purged)"
    ]
    assert ids_in(folder) == before


def ids_in(folder) -> list[str]:
    return [
        r[0] for r in query(folder, "select activity_id from activities order by 1")
    ]
