"""Benchmark: fetch and sync of generated tenants against the local emulator.

    .venv/bin/python benchmarks/bench_sync.py [--sizes default,50000x2000]

For each size it prints: a bare fetch of every collection and device list (calls,
seconds), then a first sync and a steady-state sync (2% of active activities
changed) run as separate processes: wall time, calls per endpoint as counted by the
emulator, rows written per second and the process's peak memory. It also prints
how long the first sync's calls would take at Defender's real quota. Figures only;
nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tvmdata import demo_tenant  # noqa: E402
from tvmdata.client import Pacer, connect_defender  # noqa: E402
from tvmdata.clock import FakeClock  # noqa: E402
from tvmdata.config import settings_environment  # noqa: E402
from tvmdata.demo import emulator_settings  # noqa: E402
from tvmdata.emulator import Emulator  # noqa: E402

NOT_API = {"token", "openid-configuration"}
SIZES = {"default": (1500, None), "50000x2000": (50_000, 2_000)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="default,50000x2000")
    args = parser.parse_args()
    print(f"# sync benchmark, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    for name in args.sizes.split(","):
        devices, activities = SIZES[name]
        bench_size(name, devices, activities)


def bench_size(name: str, devices: int, activities: int | None) -> None:
    started = time.monotonic()
    tenant = demo_tenant.generate(devices=devices, activities=activities)
    data = tenant.at(tenant.now)
    print(f"\n## {name}: {len(data['machines'])} devices, "
          f"{len(data['remediationTasks'])} activities, "
          f"{len(data['recommendations'])} recommendations "
          f"(generated in {time.monotonic() - started:.1f} s)")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder, Emulator(data) as emulator:
        info = {
            "tenant_id": tenant.tenant_id,
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "base_url": emulator.base_url,
            "ca_path": str(emulator.ca_path),
        }
        settings = emulator_settings(info, Path(folder) / "bench.duckdb")
        bench_fetch(settings, emulator)
        first = run_sync(settings, emulator, "first sync")
        print_quota_time(first)
        change_two_percent(emulator)
        run_sync(settings, emulator, "steady-state sync (2% changed)")


def bench_fetch(settings, emulator) -> None:
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
    seconds = time.monotonic() - started
    calls = sum(v for k, v in emulator.calls.items() if k not in NOT_API)
    print(f"full fetch (client only): {calls} calls, {rows + len(tasks) + len(recs)} "
          f"rows, {seconds:.1f} s")  # fmt: skip


def run_sync(settings, emulator, label: str) -> dict:
    emulator.reset_counts()
    env = dict(os.environ, PYTHONPATH=str(REPO), **settings_environment(settings))
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "tvmdata", "sync"],
            env=env, stdout=out, stderr=err, text=True, cwd=REPO,
        )  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode:
        raise SystemExit(f"{label} failed: {stderr}")
    calls = {k: v for k, v in emulator.calls.items() if k not in NOT_API}
    rows = parse_rows(stdout)
    merge = stdout.strip().splitlines()[-1].split("held the database ")[1].split(")")[0]
    total = sum(rows.values())
    print(f"{label}: {seconds:.1f} s, {sum(calls.values())} calls {calls}, "
          f"{total} rows ({total / seconds:,.0f} rows/s), "
          f"peak memory {usage.ru_maxrss / 1024:.0f} MB, "
          f"merge held the database {merge}")  # fmt: skip
    return calls


def parse_rows(stdout: str) -> dict:
    # "sync N succeeded in S s: C calls, machines 1500, activities 74, ..."
    tail = stdout.strip().splitlines()[-1].split("calls, ", 1)[1].split(";")[0]
    pairs = (part.rsplit(" ", 1) for part in tail.split(", "))
    return {name: int(count) for name, count in pairs}


def print_quota_time(calls: dict) -> None:
    clock = FakeClock()
    pacer = Pacer(100, 1500, clock)
    for _ in range(sum(calls.values())):
        pacer.wait_turn()
    duration = timedelta(seconds=round(clock.monotonic()))
    print(f"the same first sync at the real quota (100/min, 1500/h): {duration}")


def change_two_percent(emulator) -> None:
    data = emulator.tenant()
    active = [t for t in data["remediationTasks"] if t["status"] == "Active"]
    for item in active[: max(1, len(active) // 50)]:
        devices = data["taskMachines"].get(item["id"], [])
        if devices:
            devices.pop()
        item["fixedDevices"] = (item.get("fixedDevices") or 0) + 1
    emulator.set_tenant(data)


if __name__ == "__main__":
    main()
