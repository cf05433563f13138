"""Benchmark: fetch and sync of generated tenants against the local emulator.

    .venv/bin/python benchmarks/bench_sync.py [--sizes default,50000x2000]

For each size it prints: a bare fetch of every collection and device list (calls,
seconds), then a first sync and a steady-state sync (2% of the activities
changed) run as separate processes: wall time, calls per endpoint as counted by the
emulator, rows written per second and the process's peak memory. It also prints
how long the first sync's calls would take at Defender's real quota. Figures only;
nothing here asserts a time.

`benchmarks/run_all.py` builds on the functions here and writes RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tvmdata import demo_tenant, store, sync  # noqa: E402
from tvmdata.client import Pacer, connect_defender  # noqa: E402
from tvmdata.clock import FakeClock  # noqa: E402
from tvmdata.config import settings_environment  # noqa: E402
from tvmdata.demo import emulator_settings  # noqa: E402
from tvmdata.emulator import Emulator  # noqa: E402
from tvmdata.staging import StagingArea  # noqa: E402

NOT_API = {"token", "openid-configuration"}
# Name -> (devices, activities); None lets the generator choose (40 to 80).
SIZES = {
    "default": (1500, None),
    "50000x2000": (50_000, 2_000),
    "200000x10000": (200_000, 10_000),
}
# What the sync's summary line counts that is not a row written.
NOT_ROWS = {"values_set_to_null"}
REAL_QUOTA = (100, 1500)  # Defender's calls a minute and an hour
OWN_PACING = (90, 1350)  # the client's default, a tenth below them
SYNC = (str(REPO / "benchmarks" / "sync_process.py"),)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="default,50000x2000")
    args = parser.parse_args()
    print(f"# sync benchmark, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    for name in args.sizes.split(","):
        with serving(name) as (tenant, settings, emulator):
            print(f"\n## {name}: {describe(tenant)}")
            print_fetch(measure_fetch(settings, emulator))
            first = measure_sync(settings, emulator)
            print_sync("first sync", first)
            print("the same first sync at the real quota (100/min, 1500/h): "
                  f"{quota_duration(first['calls'])}")  # fmt: skip
            changed = change_activities(tenant, emulator)
            print_sync(f"steady-state sync ({changed} activities changed)",
                       measure_sync(settings, emulator))  # fmt: skip


@contextmanager
def serving(name: str, folder: Path | None = None):
    """Generate the tenant of size `name` and serve it from an emulator.

    Yields (tenant facts and data, settings for a database in `folder`, the
    emulator). The tenant dict keeps the served data under "data", so a later
    change (`change_activities`) edits it without copying five million rows.
    """
    devices, activities = SIZES[name]
    started = time.monotonic()
    generated = demo_tenant.generate(devices=devices, activities=activities)
    tenant = {
        "id": generated.tenant_id,
        "client_id": generated.client_id,
        "client_secret": generated.client_secret,
        "data": generated.at(generated.now),
        "generated_seconds": time.monotonic() - started,
    }
    del generated  # the generator's own state is as large as the data
    with tempfile.TemporaryDirectory() as scratch:
        started = time.monotonic()
        with Emulator(tenant["data"]) as emulator:
            tenant["served_seconds"] = time.monotonic() - started
            db = Path(folder or scratch) / f"bench-{name}.duckdb"
            yield tenant, tenant_settings(tenant, emulator, db), emulator


def tenant_settings(tenant: dict, emulator, db: Path):
    """Live-mode settings (not demo) pointing at `emulator`, pacing off."""
    info = {
        "tenant_id": tenant["id"],
        "client_id": tenant["client_id"],
        "client_secret": tenant["client_secret"],
        "base_url": emulator.base_url,
        "ca_path": str(emulator.ca_path),
    }
    return emulator_settings(info, db).with_overrides(demo=False, sign_in="none")


def describe(tenant: dict) -> str:
    data = tenant["data"]
    exposed = sum(len(v) for v in data["taskMachines"].values())
    return (
        f"{len(data['machines']):,} devices, {len(data['remediationTasks']):,} "
        f"activities ({exposed:,} exposed-device rows), "
        f"{len(data['recommendations']):,} recommendations "
        f"(generated in {tenant['generated_seconds']:.1f} s)"
    )


def measure_fetch(settings, emulator) -> dict:
    """Every collection and device list through the client alone, no writes."""
    emulator.reset_counts()
    client = connect_defender(settings)
    started = time.monotonic()
    rows = sum(len(p) for p in client.fetch_machines())
    tasks = [t for p in client.fetch_remediation_tasks() for t in p]
    recs = [r for p in client.fetch_recommendations() for r in p]
    for item in tasks:
        rows += len(client.fetch_task_devices(item["id"]) or [])
    for item in recs:
        rows += len(client.fetch_recommendation_devices(item["id"]) or [])
    return {
        "seconds": time.monotonic() - started,
        "calls": api_calls(emulator),
        "rows": rows + len(tasks) + len(recs),
    }


def print_fetch(fetch: dict) -> None:
    print(f"full fetch (client only): {sum(fetch['calls'].values())} calls, "
          f"{fetch['rows']} rows, {fetch['seconds']:.1f} s")  # fmt: skip


def measure_sync(
    settings, emulator, limit_seconds: float | None = None, command=SYNC
) -> dict:
    """One `python -m tvmdata sync` in its own process, as cron runs it, through
    `sync_process.py` (`command` adds its options).

    Returns wall seconds, the emulator's calls per endpoint, rows written per
    table, rows per second, the process's peak memory (MB) and how long the
    merge held the database. A run past `limit_seconds` is stopped and
    returned with `timed_out` and the calls it had made.
    """
    emulator.reset_counts()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVM_")}
    env.update(PYTHONPATH=str(REPO), **settings_environment(settings))
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, *command],
            env=env, stdout=out, stderr=err, text=True, cwd=REPO,
        )  # fmt: skip
        status, timed_out = _wait(process, started, limit_seconds)
        seconds = time.monotonic() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if timed_out:
        return {"timed_out": True, "seconds": seconds, "calls": api_calls(emulator)}
    if status:
        raise SystemExit(f"the sync failed: {stderr}")
    summary = next(line for line in stdout.splitlines() if " succeeded in " in line)
    rows = parse_rows(summary)
    return {
        "seconds": seconds,
        "calls": api_calls(emulator),
        "rows": rows,
        "rows_per_second": sum(rows.values()) / seconds,
        "peak_mb": _peak_kb(stderr) / 1024,
        "merge_seconds": float(summary.split("held the database ")[1].split(" s")[0]),
        "db_mb": Path(settings.db).stat().st_size / 2**20,
    }


def _wait(process, started: float, limit_seconds: float | None):
    timeout = (
        None if limit_seconds is None else limit_seconds - (time.monotonic() - started)
    )
    try:
        return process.wait(timeout), False
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(), True


def _peak_kb(stderr: str) -> int:
    line = next(li for li in stderr.splitlines() if li.startswith("peak memory: "))
    return int(line.split()[2])


def print_sync(label: str, run: dict) -> None:
    total = sum(run["rows"].values())
    print(f"{label}: {run['seconds']:.1f} s, {sum(run['calls'].values())} calls "
          f"{run['calls']}, {total} rows ({run['rows_per_second']:,.0f} rows/s), "
          f"peak memory {run['peak_mb']:.0f} MB, "
          f"merge held the database {run['merge_seconds']:.1f} s")  # fmt: skip


def api_calls(emulator) -> dict:
    return {k: v for k, v in sorted(emulator.calls.items()) if k not in NOT_API}


def parse_rows(summary: str) -> dict:
    # "sync N succeeded in S s (...): C calls, machines 1500, activities 74, ..."
    tail = summary.split("calls, ", 1)[1].split(";")[0]
    pairs = (part.rsplit(" ", 1) for part in tail.split(", "))
    return {name: int(n) for name, n in pairs if name not in NOT_ROWS}


def quota_duration(calls: dict, quota: tuple[int, int] = REAL_QUOTA) -> timedelta:
    """How long `calls` take when paced at `quota` (calls a minute, an hour);
    Defender's real limits by default."""
    clock = FakeClock()
    pacer = Pacer(*quota, clock)
    for _ in range(sum(calls.values())):
        pacer.wait_turn()
    return timedelta(seconds=round(clock.monotonic()))


def change_activities(tenant: dict, emulator, share: float = 0.02) -> int:
    """Change `share` of all activities (active ones, one device fixed each) in
    the served data; return how many changed."""
    data = tenant["data"]
    wanted = max(1, round(share * len(data["remediationTasks"])))
    active = [t for t in data["remediationTasks"] if t["status"] == "Active"]
    changed = [t for t in active if data["taskMachines"].get(t["id"])][:wanted]
    for item in changed:
        data["taskMachines"][item["id"]].pop()
        item["fixedDevices"] = (item.get("fixedDevices") or 0) + 1
    emulator.set_tenant(data)
    return len(changed)


def measure_read_json(settings, folder: Path) -> dict:
    """The raw limit: DuckDB's `read_json` of the pages a full sync stages.

    The pages are fetched and staged in this process by the sync's own staging
    step into a scratch area under `folder`, then loaded as the merge loads them
    (`read_json` into temporary tables typed like the store's), on a connection
    to the synced database.
    """
    staging = StagingArea(folder / "raw.duckdb")
    staging.open(settings.tenant_id, datetime.now(UTC), True, 1, 0)
    client = connect_defender(settings)
    nothing_before = {"activities": {}, "recommendations": {}}
    started = time.monotonic()
    rows = sync._stage(client, staging, nothing_before, True, lambda line: None)
    staged_seconds = time.monotonic() - started
    with store.open_store(settings) as con:
        started = time.monotonic()
        sync._load_staged(con, staging)
        seconds = time.monotonic() - started
    staged_mb = sum(f.stat().st_size for f in staging.root.glob("*.ndjson")) / 2**20
    staging.discard()
    total = sum(rows.values())
    return {
        "rows": total,
        "seconds": seconds,
        "rows_per_second": total / seconds,
        "staged_mb": staged_mb,
        "fetch_and_stage_seconds": staged_seconds,
    }


if __name__ == "__main__":
    main()
