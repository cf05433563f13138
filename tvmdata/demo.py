"""Demo mode: the demo tenant served by the local emulator, and its history.

The demo database is built by replaying real syncs at past dates against an
in-process emulator (weekly, then daily for the last two weeks), so its history
comes through exactly the code path a real tenant's does. Afterwards a separate
emulator process serves the tenant as of today, for the dashboard's "Sync now".
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tvmdata import demo_tenant
from tvmdata.clock import FakeClock
from tvmdata.config import Settings
from tvmdata.emulator import CONTROL_HEADER, Emulator
from tvmdata.errors import ConfigError
from tvmdata.sync import sync_tenant

log = logging.getLogger(__name__)

DATA_DIR = Path("data")
DEMO_DB = DATA_DIR / "demo.duckdb"
EMULATOR_DIR = DATA_DIR / "emulator"
STATE_FILE = EMULATOR_DIR / "state.json"
INFO_FILE = EMULATOR_DIR / "info.json"


def build_demo(
    db_path: Path = DEMO_DB,
    *,
    seed: int = 7,
    devices: int = 1500,
    activities: int | None = None,
    progress=print,
) -> Path:
    """Build the demo database by replaying syncs over the tenant's history.

    The file is built beside its final path and moved in place at the end, so an
    interrupted build never leaves a half-built demo behind.
    """
    tenant = demo_tenant.generate(seed=seed, devices=devices, activities=activities)
    building = db_path.with_name(db_path.name + ".building")
    _remove_database(building)
    dates = tenant.history_dates()
    clock = FakeClock(dates[0])
    with Emulator(tenant.at(dates[0]), cert_dir=None) as emulator:
        settings = emulator_settings(_emulator_info(emulator, tenant), building)
        for number, moment in enumerate(dates, start=1):
            clock.set(moment)
            emulator.set_tenant(tenant.at(moment))
            result = sync_tenant(settings, clock=clock, source="demo", progress=_quiet)
            progress(
                f"demo history {number}/{len(dates)}: {moment:%Y-%m-%d}, "
                f"{sum(result.calls.values())} calls"
            )
    save_state(tenant.at(tenant.now))
    _remove_database(db_path)
    building.rename(db_path)
    _remove_database(building)
    return db_path


def save_state(tenant_data: dict) -> None:
    """Write the tenant the standalone emulator serves."""
    EMULATOR_DIR.mkdir(parents=True, exist_ok=True)
    temporary = STATE_FILE.with_suffix(".tmp")
    temporary.write_text(json.dumps(tenant_data), encoding="utf-8")
    os.replace(temporary, STATE_FILE)


def emulator_settings(info: dict, db_path: Path = DEMO_DB, base=None) -> Settings:
    """Settings that point every call at an emulator described by `info`."""
    base = base or Settings()
    return base.with_overrides(
        tenant_id=info["tenant_id"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        api_base=info["base_url"],
        authority_host=info["base_url"],
        graph_base=info["base_url"] + "/graph/beta",
        ca_bundle=Path(info["ca_path"]),
        db=Path(db_path),
        max_calls_per_minute=0,
        max_calls_per_hour=0,
        demo=True,
    )


def running_emulator() -> dict | None:
    """The info of the standalone demo emulator, if it is running."""
    try:
        info = json.loads(INFO_FILE.read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return info


def start_emulator(wait_seconds: float = 20) -> dict:
    """Start the standalone demo emulator in the background (once)."""
    info = running_emulator()
    if info:
        return info
    if not STATE_FILE.exists():
        raise ConfigError(
            "The demo tenant is not built: run `python -m tvmdata demo up`."
        )
    INFO_FILE.unlink(missing_ok=True)
    log_file = (EMULATOR_DIR / "emulator.log").open("ab")
    command = [sys.executable, "-m", "tvmdata", "emulator", "--state", str(STATE_FILE)]
    command += ["--info", str(INFO_FILE), "--cert-dir", str(EMULATOR_DIR)]
    subprocess.Popen(command, stdout=log_file, stderr=log_file, start_new_session=True)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        info = running_emulator()
        if info:
            return info
        time.sleep(0.1)
    raise ConfigError(
        f"The demo emulator did not start within {wait_seconds:.0f} s: see "
        f"{EMULATOR_DIR / 'emulator.log'}."
    )


def stop_emulator() -> bool:
    """Stop the standalone demo emulator; return False when none was running."""
    info = running_emulator()
    if not info:
        return False
    os.kill(int(info["pid"]), signal.SIGTERM)
    return True


def demo_up(progress=print, **build_options) -> dict:
    """Build the demo database when missing, and start the emulator.

    Args:
        progress: called with one line per step.
        build_options: `seed`, `devices`, `activities` of `build_demo`, used
            only when the demo is built.
    """
    if not DEMO_DB.exists() or not STATE_FILE.exists():
        started = time.monotonic()
        build_demo(progress=progress, **build_options)
        progress(f"demo tenant built in {time.monotonic() - started:.1f} s")
    info = start_emulator()
    progress(f"demo emulator serving at {info['base_url']}")
    return info


def fix_devices(recommendation_id: str, share: float = 0.5, info=None) -> list[str]:
    """Play IT in demo mode: the running demo emulator stops reporting a share
    of a recommendation's exposed devices, so the next sync counts them fixed.

    Args:
        recommendation_id: the security recommendation, e.g. "va-_-google-_-chrome".
        share: the share of its exposed devices to fix (at least one device).
        info: the emulator to call (default: the running demo emulator).

    Returns:
        The ids of the devices fixed.

    Raises:
        ConfigError: the demo emulator is not running, or it refused the order
            (unknown recommendation, share out of range).
    """
    order = {"recommendationId": recommendation_id, "share": share}
    fixed = _control("fix-devices", order, info)["fixed"]
    log.info("demo: %d devices of %s fixed", len(fixed), recommendation_id)
    return fixed


def set_task_status(
    task_id: str, status: str, assigned_to: str | None = None, info=None
) -> dict:
    """Play IT in demo mode: accept, reject or complete an Intune task in the
    running demo emulator, so the next sync reads IT's answer back.

    Args:
        task_id: the Intune task's id (shown on the activity's detail).
        status: accept, reject or complete.
        assigned_to: who in IT takes the task, when given.
        info: the emulator to call (default: the running demo emulator).

    Returns:
        The task as the emulator now holds it.

    Raises:
        ConfigError: the demo emulator is not running, or it refused the order
            (unknown task, unknown status).
    """
    order = {"taskId": task_id, "status": status, "assignedTo": assigned_to}
    body = _control("task-status", order, info)
    log.info("demo: Intune task %s set to %s", task_id, body["task"]["status"])
    return body["task"]


def _control(action: str, order: dict, info=None) -> dict:
    info = info or running_emulator()
    if not info:
        raise ConfigError(
            "The demo emulator is not running: start it with "
            "`python -m tvmdata demo up`."
        )
    try:
        response = requests.post(
            f"{info['base_url']}/_emulator/{action}",
            json=order,
            headers={CONTROL_HEADER: info["client_secret"]},
            verify=info["ca_path"],
            timeout=10,
        )
    except requests.RequestException as exc:
        raise ConfigError(f"The demo emulator did not answer ({exc}).") from None
    body = response.json() if response.content else {}
    if response.status_code != 200:
        message = body.get("error", {}).get("message", response.reason)
        raise ConfigError(f"The demo emulator refused: {message}")
    return body


def demo_settings(base: Settings | None = None) -> Settings:
    """Settings for syncing the demo tenant from the running demo emulator.

    Raises:
        ConfigError: the emulator is not running.
    """
    info = running_emulator()
    if info is None:
        raise ConfigError(
            "The demo emulator is not running: start it with `make run` or "
            "`python -m tvmdata demo up`."
        )
    return emulator_settings(info, DEMO_DB, base)


def local_demo_settings(base: Settings | None = None) -> Settings:
    """Settings for work on the demo database alone (pages, exports, purge).

    The emulator need not run; the credentials are cleared so nothing can reach
    a tenant with them.

    Raises:
        ConfigError: the demo tenant has not been built.
    """
    if not DEMO_DB.exists():
        raise ConfigError(
            f"The demo tenant is not built ({DEMO_DB} is missing): run `make run` "
            "or `python -m tvmdata demo up`."
        )
    return (base or Settings()).with_overrides(
        tenant_id=None, client_id=None, client_secret=None, db=DEMO_DB, demo=True
    )


def _emulator_info(emulator: Emulator, tenant) -> dict:
    return {
        "tenant_id": tenant.tenant_id,
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "base_url": emulator.base_url,
        "ca_path": str(emulator.ca_path),
    }


def _remove_database(path: Path) -> None:
    for suffix in ("", ".wal", ".sync.lock"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _quiet(_line: str) -> None:
    pass


def settings_for_dashboard(
    base: Settings, demo_setting: bool | None = None
) -> Settings:
    """The dashboard's settings: the live tenant's, or the demo tenant's.

    Demo mode is on when TVM_DEMO is true, or when none of the three credential
    settings is set and TVM_DEMO is not set to false. Some credentials without
    the others is a mistake to report, never a reason to show the demo. The demo
    pages need only the demo database; the emulator is used when it runs.

    Args:
        base: the deployment settings.
        demo_setting: TVM_DEMO as set in the environment; None when unset.

    Raises:
        ConfigError: a credential setting is missing (the message names it), or
            demo mode is on and the demo tenant is not built.
    """
    credentials = (base.tenant_id, base.client_id, base.client_secret)
    if base.demo or (not any(credentials) and demo_setting is not False):
        info = running_emulator()
        if info is None:
            return local_demo_settings(base)
        return emulator_settings(info, DEMO_DB, base)
    base.require_credentials()
    return base
