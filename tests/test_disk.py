"""The world failing under a run: a disk that fills while the sync stages,
merges or a backup is written, and Defender or Graph unreachable. Each time one
clear sentence, the previous data intact, nothing half-written left behind."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from tests.conftest import process_env, settings_for
from tests.test_intune_pages import READER
from tests.test_kills import snapshot_of, synced_content, without_purged
from tests.test_processes import outcomes, tenant_a_day_later
from tvmdata import intune, opsettings, remediation, store
from tvmdata.clock import FakeClock
from tvmdata.emulator import Emulator, sample_tenant
from tvmdata.errors import ApiError, AuthError
from tvmdata.staging import StagingArea
from tvmdata.sync import PAUSE_ENV, sync_tenant

# The command run with writes past the file-size limit failing with EFBIG, as
# on a full disk, instead of the signal that would kill the process.
LIMITED = (
    "import signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "from tvmdata.__main__ import main; sys.exit(main(sys.argv[1:]))"
)
FULL = "the disk is full"


def disk_full_line(settings) -> str:
    return (
        f"error: The sync stopped because the disk holding {settings.db} is full; "
        "the previous data is unchanged: free some space there, then sync again."
    )


def start_limited(settings, folder, *args, **extra_env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", LIMITED, *args],
        cwd=folder,
        env=process_env(settings, **extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def fill_the_disk(process: subprocess.Popen, size: int = 0) -> None:
    """From now on no file of `process` may grow past `size` bytes."""
    resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (size, size))


def wait_for(condition, what: str, process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the process exited before {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


def error_line(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def day_later(emulator, tmp_path):
    """A synced database and a tenant that has moved on since."""
    emulator.set_tenant(without_purged(sample_tenant()))
    settings = settings_for(emulator, tmp_path / "tvm.duckdb", lock_wait_seconds=30)
    sync_tenant(settings)
    emulator.set_tenant(without_purged(tenant_a_day_later(sample_tenant())))
    fresh = settings.with_overrides(db=tmp_path / "fresh.duckdb")
    sync_tenant(fresh)
    return settings, synced_content(fresh)


def test_a_disk_that_fills_while_staging_fails_the_run_in_one_sentence(
    emulator, tmp_path, day_later
):
    settings, new = day_later
    previous = snapshot_of(settings)
    emulator.delay = 0.2
    emulator.reset_counts()

    process = start_limited(settings, tmp_path, "sync")
    wait_for(lambda: emulator.calls["machines"] >= 1, "the first fetch", process)
    fill_the_disk(process)
    emulator.delay = 0.0
    line = error_line(process)

    assert line == disk_full_line(settings)
    assert snapshot_of(settings) == previous
    recovered = sync_tenant(settings)
    assert recovered.outcome == "succeeded"
    assert synced_content(settings) == new
    assert not StagingArea(settings.db).root.exists()


def test_a_disk_that_fills_while_merging_keeps_the_previous_data(
    emulator, tmp_path, day_later
):
    settings, new = day_later
    previous = snapshot_of(settings)
    marker = tmp_path / "merging"

    process = start_limited(
        settings,
        tmp_path,
        "sync",
        **{PAUSE_ENV: str(marker), PAUSE_ENV + "_SECONDS": "1"},
    )
    wait_for(marker.exists, "the merge", process)
    fill_the_disk(process)
    line = error_line(process)

    assert line == disk_full_line(settings)
    assert snapshot_of(settings) == previous
    recovered = sync_tenant(settings)
    assert recovered.outcome == "succeeded"
    assert synced_content(settings) == new


def test_a_disk_that_fills_while_backing_up_leaves_no_partial_backup(
    settings, tmp_path
):
    sync_tenant(settings)
    out = tmp_path / "backups"

    process = start_limited(settings, tmp_path, "backup", "--out", str(out))
    fill_the_disk(process, 4096)
    line = error_line(process)

    assert line.startswith("error: The backup could not be written"), line
    assert FULL in line, line
    assert list(out.iterdir()) == []


# Defender or Graph unreachable


def test_every_defender_call_failing_503_fails_the_run_and_keeps_the_data(
    emulator, settings
):
    sync_tenant(settings)
    previous = snapshot_of(settings)
    emulator.fail_paths[r"^/api/"] = 503

    with pytest.raises(ApiError) as raised:
        sync_tenant(settings, clock=FakeClock(datetime.now(UTC)))

    message = str(raised.value)
    assert message == (
        "GET /api/machines answered HTTP 503 after 4 tries: the service is "
        "failing; try again later."
    )
    assert_failed_and_kept(settings, previous, message)


def test_defender_refusing_connections_fails_the_run_in_one_sentence(
    emulator, settings
):
    sync_tenant(settings)
    previous = snapshot_of(settings)
    # Sign-in still answers; nothing listens where the Defender API should be.
    refused = settings.with_overrides(api_base=f"https://127.0.0.1:{closed_port()}")

    with pytest.raises(ApiError) as raised:
        sync_tenant(refused, clock=FakeClock(datetime.now(UTC)))

    message = str(raised.value)
    assert message == (
        "GET /api/machines could not be reached after 4 tries: check the network "
        "and TVM_API_BASE / TVM_GRAPH_BASE."
    )
    assert_failed_and_kept(settings, previous, message)


def test_a_stopped_service_fails_the_run_in_one_sentence(tmp_path):
    emulator = Emulator(sample_tenant(), cert_dir=tmp_path / "ca").start()
    settings = settings_for(emulator, tmp_path / "tvm.duckdb")
    sync_tenant(settings)
    previous = snapshot_of(settings)
    sign_in = f"{emulator.authority_host}/{emulator.tenant_id}"
    emulator.stop()

    with pytest.raises(AuthError) as raised:
        sync_tenant(settings)

    message = str(raised.value)
    assert message == (
        f"Cannot reach the sign-in service at {sign_in} (ConnectionError): check "
        "TVM_AUTHORITY_HOST and TVM_TENANT_ID."
    )
    assert_failed_and_kept(settings, previous, message)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_failed_and_kept(settings, previous: dict, message: str) -> None:
    assert snapshot_of(settings) == previous
    assert outcomes(settings) == ["succeeded", "failed"]
    recorded = store_rows(settings, "select error from sync_runs where run_id = 2")
    assert recorded == [(message,)]


def test_graph_unreachable_saves_the_request_and_queues_the_task(emulator, settings):
    sync_tenant(settings)
    opsettings.save_operational(
        settings, {"intune_enabled": True}, "lead@contoso.test", datetime.now(UTC)
    )
    # Graph at an address where nothing listens: connection refused.
    unreachable = settings.with_overrides(graph_base="https://127.0.0.1:9/beta")
    form = remediation.RequestForm(
        form_token="graph-down",
        recommendation_id=READER,
        remediation_type="Update",
        group_ids=(101,),
        priority="High",
        due_on=datetime.now(UTC).date(),
    )

    filed = remediation.file_request(
        unreachable, form, "lead@contoso.test", datetime.now(UTC), intune_task=True
    )

    task = intune.load_task(unreachable, filed.activity_id)
    assert filed.created
    assert task["task_id"] is None and task["queued"] == ["create"]
    assert task["last_error"] == (
        "Microsoft Graph could not be reached for creating the Intune task: it "
        "stays queued and is sent again at the next sync or on Retry; check the "
        "network and TVM_GRAPH_BASE."
    )
    assert task["label"] == "Not sent yet (will retry)"
    sent = intune.retry(settings, filed.activity_id)
    assert sent.sent == 1 and len(emulator.tenant()["intuneTasks"]) == 1


def store_rows(settings, query: str) -> list[tuple]:
    with store.connect(settings.db) as con:
        return con.execute(query).fetchall()
