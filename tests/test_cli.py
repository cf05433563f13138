"""The command line as a user meets it: every failure one line on stderr with a
non-zero exit, forgiving choices, device groups by name, and purge's guard rails."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from tests.conftest import process_env
from tvmdata.sync import sync_tenant


def cli_env(settings=None, **extra) -> dict:
    return process_env(settings, **extra)


def cli(*args, env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tvmdata", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line(done: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed command."""
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def activity_ids(path) -> set[str]:
    text = path.read_bytes().decode("utf-8-sig")
    return {row["Activity id"] for row in csv.DictReader(io.StringIO(text))}


@pytest.fixture
def synced(settings, tmp_path):
    sync_tenant(settings)
    return settings


# Writing the CSV file


def test_an_out_file_in_a_missing_folder_is_one_line_naming_the_path(synced, tmp_path):
    out = tmp_path / "nowhere" / "a.csv"

    done = cli("export", "activities", "--out", str(out),
               env=cli_env(synced), cwd=tmp_path)  # fmt: skip

    assert one_line(done) == (
        f"error: cannot write {out}: the folder {out.parent} does not exist; "
        "choose another --out"
    )


def test_an_out_path_that_is_a_directory_is_one_line_naming_the_path(synced, tmp_path):
    done = cli("export", "devices", "--activity", "x", "--out", str(tmp_path),
               env=cli_env(synced), cwd=tmp_path)  # fmt: skip
    activity = cli("export", "activities", "--out", str(tmp_path),
                   env=cli_env(synced), cwd=tmp_path)  # fmt: skip

    assert "No remediation activity has the id 'x'" in one_line(done)
    assert one_line(activity) == (
        f"error: cannot write {tmp_path}: it is a directory; choose another --out"
    )


# Usage mistakes and choices


def test_a_mistyped_status_is_one_line_naming_the_choices(tmp_path):
    done = cli("export", "activities", "--out", "a.csv", "--status", "Actve",
               env=cli_env(), cwd=tmp_path)  # fmt: skip

    line = one_line(done)
    assert done.returncode == 2
    assert "invalid choice: 'Actve'" in line and "Active" in line
    assert line.endswith("(run with --help for usage)")


def test_a_missing_command_is_one_line_too(tmp_path):
    done = cli(env=cli_env(), cwd=tmp_path)

    assert one_line(done).endswith("(run with --help for usage)")


def test_status_and_priority_ignore_case(synced, emulator, tmp_path):
    lower, exact = tmp_path / "lower.csv", tmp_path / "exact.csv"

    first = cli("export", "activities", "--out", str(lower), "--status", "active",
                "--priority", "HIGH", env=cli_env(synced), cwd=tmp_path)  # fmt: skip
    second = cli("export", "activities", "--out", str(exact), "--status", "Active",
                 "--priority", "High", env=cli_env(synced), cwd=tmp_path)  # fmt: skip

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    expected = {
        t["id"]
        for t in emulator.tenant()["remediationTasks"]
        if t["status"] == "Active" and t["priority"] == "High"
    }
    assert activity_ids(lower) == activity_ids(exact) == expected


def test_help_explains_every_option_and_the_purge_default(tmp_path):
    sync_help = cli("sync", "--help", env=cli_env(), cwd=tmp_path).stdout
    purge_help = cli("purge", "--help", env=cli_env(), cwd=tmp_path).stdout
    demo_help = cli("demo", "--help", env=cli_env(), cwd=tmp_path).stdout
    devices_help = cli("export", "devices", "--help", env=cli_env(),
                       cwd=tmp_path).stdout  # fmt: skip
    flat = " ".join((sync_help + purge_help + demo_help + devices_help).split())

    assert "{cli,cron,dashboard}" in flat
    assert "180 days" in flat and "counted from completion" in flat
    assert "--dry-run" in flat
    for option in ("--seed", "--devices", "--activities"):
        assert f"{option} " in flat
    assert "--activity ID the activity's id" in flat
    assert "--out FILE the CSV file to write" in flat


# Device groups


def test_a_device_group_matches_whatever_its_case(synced, tmp_path):
    lower, exact = tmp_path / "lower.csv", tmp_path / "exact.csv"

    first = cli("export", "activities", "--out", str(lower), "--group", "fINANCE",
                env=cli_env(synced), cwd=tmp_path)  # fmt: skip
    second = cli("export", "activities", "--out", str(exact), "--group", "Finance",
                 env=cli_env(synced), cwd=tmp_path)  # fmt: skip

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert activity_ids(lower) == activity_ids(exact) != set()


def test_an_unknown_device_group_names_the_known_ones_closest_first(synced, tmp_path):
    out = tmp_path / "a.csv"

    done = cli("export", "activities", "--out", str(out), "--group", "Finanse",
               env=cli_env(synced), cwd=tmp_path)  # fmt: skip

    assert done.returncode == 1
    assert one_line(done) == (
        "error: No device group is named 'Finanse': known groups are Finance, "
        "Unassigned, Engineering."
    )
    assert not out.exists()


# Before the first sync


@pytest.mark.parametrize(
    "command",
    [
        ["export", "activities", "--out", "a.csv"],
        ["export", "devices", "--activity", "x", "--out", "a.csv"],
        ["purge"],
    ],
)
def test_reading_commands_before_any_sync_say_to_sync_first(tmp_path, command):
    db = tmp_path / "data" / "tvm.duckdb"

    done = cli(*command, env=cli_env(TVM_DB=str(db)), cwd=tmp_path)

    assert one_line(done) == (
        f"error: No sync has run yet for {db}: run `python -m tvmdata sync` first."
    )
    assert not (tmp_path / "a.csv").exists() and not db.exists()


# Sync failures


def test_a_failed_sync_prints_only_the_error_line_unless_verbose(
    settings, emulator, tmp_path
):
    emulator.fail_paths = {r"^/api/remediationTasks$": 403}

    quiet = cli("sync", env=cli_env(settings), cwd=tmp_path)
    verbose = cli("-v", "sync", env=cli_env(settings), cwd=tmp_path)

    line = one_line(quiet)
    assert quiet.returncode == 1
    assert "lacks the application permission RemediationTasks.Read.All" in line
    assert verbose.returncode == 1
    assert "WARNING" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == line.replace("run 1", "run 2")


def test_partial_credentials_name_the_missing_setting(tmp_path):
    env = cli_env(TVM_TENANT_ID="contoso", TVM_CLIENT_SECRET="s3cret")

    done = cli("sync", env=env, cwd=tmp_path)

    assert one_line(done).startswith("error: TVM_CLIENT_ID is not set")


def test_tvm_demo_true_means_demo_mode_for_the_command_line(tmp_path):
    done = cli("sync", env=cli_env(TVM_DEMO="true"), cwd=tmp_path)

    line = one_line(done)
    assert "demo emulator is not running" in line
    assert "No credentials" not in line


# Unexpected faults

CRASHING = (
    "import sys, tvmdata.__main__ as cli; "
    "cli.load_settings = lambda: 1 / 0; "
    "sys.exit(cli.main(sys.argv[1:]))"
)


def test_an_unexpected_fault_is_one_line_with_the_traceback_only_under_v(tmp_path):
    run = [sys.executable, "-c", CRASHING]
    kwargs = dict(cwd=tmp_path, env=cli_env(), capture_output=True, text=True)

    quiet = subprocess.run([*run, "export", "activities", "--out", "a.csv"], **kwargs)
    verbose = subprocess.run(
        [*run, "export", "activities", "--out", "a.csv", "-v"], **kwargs
    )

    assert quiet.returncode == 1
    assert one_line(quiet) == (
        "error: unexpected ZeroDivisionError: division by zero (details with -v)"
    )
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == (
        "error: unexpected ZeroDivisionError: division by zero"
    )


# Purge


@pytest.mark.parametrize("days", ["-1", "0"])
def test_purge_requires_at_least_one_day(tmp_path, days):
    done = cli("purge", "--days", days, env=cli_env(), cwd=tmp_path)

    assert one_line(done) == f"error: --days must be at least 1, not {days}."
