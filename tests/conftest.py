"""Fixtures shared by the suite: a real emulator over TLS, settings pointing at it,
DuckDB files on disk, and the field cases and public samples read in place."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager

from tvmdata import demo
from tvmdata.clock import FakeClock
from tvmdata.config import Settings, settings_environment
from tvmdata.emulator import Emulator, process_info, sample_tenant

REPO = Path(__file__).resolve().parent.parent
# Every table the sync owns; a failed or killed run must leave all of them as
# they were.
SYNC_TABLES = [
    "activities",
    "activity_devices",
    "machines",
    "recommendations",
    "recommendation_devices",
    "exposure_intervals",
    "group_snapshots",
    "group_daily_totals",
    "activity_progress",
    "device_groups",
]
# Of those, the history each successful run adds to.
PER_RUN_HISTORY = ["group_snapshots", "activity_progress"]


def _shared_dir() -> Path | None:
    candidates = [
        os.environ.get("TVM_SHARED_DIR"),
        REPO.parent / "shared",
        "/work/shared",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "cases").is_dir():
            return Path(candidate)
    return None


SHARED = _shared_dir()


def shared_file(*parts: str) -> Path:
    """A file of the shared field cases or public samples, read in place.

    Skips the test when the shared folder is absent, except under CI, where the
    folder must be present and its absence fails the test.
    """
    if SHARED is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the shared cases folder is missing; set TVM_SHARED_DIR")
        pytest.skip("the shared cases folder is not on this machine")
    return SHARED.joinpath(*parts)


def load_case(number: str) -> dict:
    """Load the field case whose file name starts with `number` (e.g. "04")."""
    folder = shared_file("cases")
    matches = sorted(folder.glob(f"{number}-*.json"))
    assert matches, f"no case {number} in {folder}"
    return json.loads(matches[0].read_text(encoding="utf-8"))


def process_env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    """The environment for a product process: this one's without any TVM_*
    variable, the repository importable, and `settings` passed as TVM_* values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVM_")}
    env["PYTHONPATH"] = str(REPO)
    if settings is not None:
        env.update(settings_environment(settings))
    env.update(extra)
    return env


def past_retention(tasks: list[dict], days: int = 180) -> set[str]:
    """The ids of `tasks` completed over `days` ago, which a command-line sync
    purges (the sample tenant's completed activity among them)."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    return {
        t["id"]
        for t in tasks
        if t["status"] == "Completed"
        and datetime.fromisoformat(t["statusLastModifiedOn"]) < cutoff
    }


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No TVM_* setting leaks in from the machine; work in a fresh directory."""
    for name in list(os.environ):
        if name.startswith("TVM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def emulator():
    emu = Emulator(sample_tenant()).start()
    yield emu
    emu.stop()


def settings_for(emu: Emulator, db: Path, **overrides) -> Settings:
    """Settings pointing every call at `emu`, pacing off unless overridden."""
    values = dict(
        tenant_id=emu.tenant_id,
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        api_base=emu.api_base,
        authority_host=emu.authority_host,
        graph_base=emu.graph_base,
        ca_bundle=emu.ca_path,
        db=db,
        max_calls_per_minute=0,
        max_calls_per_hour=0,
        max_retries=3,
        lock_wait_seconds=10,
        sign_in="none",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(emulator, tmp_path) -> Settings:
    return settings_for(emulator, tmp_path / "tvm.duckdb")


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


def serve_as_demo(emulator: Emulator) -> None:
    """Make `emulator` the running demo emulator for this test (its info file,
    as `python -m tvmdata demo up` writes it, in the working directory)."""
    demo.INFO_FILE.parent.mkdir(parents=True, exist_ok=True)
    demo.INFO_FILE.write_text(json.dumps(process_info(emulator)), encoding="utf-8")


def capture_downloads(monkeypatch) -> dict[str, bytes]:
    """The bytes of every download button the pages draw, by file name."""
    files: dict[str, bytes] = {}
    original = MediaFileManager.add

    def add(self, path_or_data, mimetype, coordinates, file_name=None, **kwargs):
        if file_name:
            files[file_name] = path_or_data
        return original(self, path_or_data, mimetype, coordinates, file_name, **kwargs)

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        # Built when clicked in a browser; here, at once.
        files[file_name] = data_callable()
        return original_deferred(
            self, data_callable, mimetype, coordinates, file_name, **kw
        )

    original_deferred = MediaFileManager.add_deferred
    monkeypatch.setattr(MediaFileManager, "add", add)
    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return files


def store_built_by(folder: Path, build) -> Settings:
    """Settings of a store in `folder` that `build(emulator, settings)` filled
    from the sample tenant, with no `TVM_*` variable of this process in play."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("TVM_")]:
            patch.delenv(name)
        with Emulator(sample_tenant()) as emulator:
            settings = settings_for(emulator, folder / "tvm.duckdb")
            build(emulator, settings)
    return settings


@pytest.fixture
def own_store(tenant, tmp_path) -> Settings:
    """A copy of the module's `tenant` store that a test may write to."""
    db = tmp_path / "own.duckdb"
    shutil.copy(tenant.db, db)
    return tenant.with_overrides(db=db)
