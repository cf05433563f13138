"""The sync's staging area: what one run has fetched, on disk, before the merge.

Pages are normalised and appended to newline-delimited JSON files as they arrive,
so memory stays flat however large the tenant is, and an interrupted run can pick
up where it stopped. The layout, beside the database file `X.duckdb`:

    X.duckdb.staging/manifest.json     run facts and the collections finished
    X.duckdb.staging/<table>.ndjson    normalised rows, one object per line
    X.duckdb.staging/children.ndjson   journal: one line per child list fetched
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from tvmdata.records import NULLED, InvalidRecord

log = logging.getLogger(__name__)

# A staging area older than this is stale: its data is discarded, not resumed.
RESUME_WITHIN = timedelta(hours=6)
CHILDREN_JOURNAL = "children"
PROGRESS_FILE = "progress.json"


class StagingArea:
    """One run's fetched data on disk.

    Args:
        db_path: the database the run will merge into; the area sits beside it.
    """

    def __init__(self, db_path: Path):
        self.root = Path(str(db_path) + ".staging")
        self.progress: dict[str, str] = {}
        self.manifest: dict = {}

    def open(
        self, tenant_id: str, now: datetime, full: bool, run_id: int, last_merged: int
    ) -> bool:
        """Resume a recent area of the same tenant, or start a clean one.

        Args:
            run_id: the run now using the area.
            last_merged: the latest run that merged successfully; an area written
                by it or an earlier run was already merged (the process stopped
                before removing it) and is discarded.

        Returns True when an interrupted run's data is being resumed.
        """
        previous = self._read_manifest()
        if previous and _resumable(previous, tenant_id, now, last_merged):
            self.manifest = previous
            self.manifest["full"] = previous.get("full") or full
            self.manifest["run_id"] = run_id
            self._write_manifest()
            self._truncate_unjournaled_children()
            return True
        self.discard()
        self.root.mkdir(parents=True)
        self.manifest = {
            "tenant_id": tenant_id,
            "started_at": now.isoformat(),
            "full": full,
            "run_id": run_id,
            "done": [],
            "skipped": {},
        }
        self._write_manifest()
        return False

    def is_done(self, collection: str) -> bool:
        return collection in self.manifest["done"]

    def write_collection(self, name: str, pages, normalize, progress=None) -> int:
        """Normalise and append every page of a collection; return rows written.

        `progress`, when given, is told the page count and rows after each page.
        """
        path = self.file(name)
        written = 0
        with path.open("w", encoding="utf-8") as handle:
            for number, page in enumerate(pages, start=1):
                written += self._write_rows(handle, name, page, normalize)
                if progress:
                    pages = f"{number:,} page{'' if number == 1 else 's'}"
                    progress(f"{name}: {pages}, {written:,} rows")
        self.manifest["done"].append(name)
        self._write_manifest()
        return written

    def write_children(self, kind: str, parent_id: str, rows, normalize) -> int:
        """Append one parent's exposed devices and journal that they are complete.

        `rows` is None when the parent is gone (404): nothing is written for it.
        """
        written = 0
        if rows is not None:
            with self.file(kind).open("a", encoding="utf-8") as handle:
                written = self._write_rows(
                    handle, kind, rows, lambda r: normalize(r, parent_id)
                )
        status = "gone" if rows is None else "ok"
        entry = {"kind": kind, "id": parent_id, "status": status}
        entry["offset"] = self._size(kind)
        with self.file(CHILDREN_JOURNAL).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return written

    def fetched_children(self, kind: str) -> set[str]:
        return {e["id"] for e in self._journal() if e["kind"] == kind}

    def file(self, name: str) -> Path:
        return self.root / f"{name}.ndjson"

    def skipped(self) -> int:
        return sum(self.manifest.get("skipped", {}).values())

    def discard(self) -> None:
        # The manifest goes first: a removal cut short (the process killed right
        # after a merge) must not leave an area that looks resumable but has lost
        # some of its files, whose merge would then empty those tables.
        (self.root / "manifest.json").unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _write_rows(self, handle, name: str, rows, normalize) -> int:
        written = 0
        for raw in rows:
            try:
                row = normalize(raw)
            except InvalidRecord as exc:
                self._count_skipped(name, exc)
                continue
            for field in row.pop(NULLED, ()):
                self._count_nulled(name, field)
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
        return written

    def nulled(self) -> int:
        return sum(self.manifest.get("nulled", {}).values())

    def _count_skipped(self, name: str, exc: Exception) -> None:
        skipped = self.manifest.setdefault("skipped", {})
        if name not in skipped:
            log.warning("skipping invalid %s: %s", name, exc)
        skipped[name] = skipped.get(name, 0) + 1

    def _count_nulled(self, name: str, field: str) -> None:
        nulled = self.manifest.setdefault("nulled", {})
        key = f"{name}.{field}"
        if key not in nulled:
            log.warning("unusable %s values in %s are stored as empty", field, name)
        nulled[key] = nulled.get(key, 0) + 1

    def _journal(self) -> list[dict]:
        path = self.file(CHILDREN_JOURNAL)
        if not path.exists():
            return []
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                break  # a line cut short by a crash ends the journal
        return entries

    def _truncate_unjournaled_children(self) -> None:
        # Rows appended after the last journal line belong to a child list that
        # was not finished; cut them off so it is fetched again whole.
        last_offset: dict[str, int] = {}
        for entry in self._journal():
            last_offset[entry["kind"]] = entry["offset"]
        for kind in ("activity_devices", "recommendation_devices"):
            path = self.file(kind)
            if path.exists():
                with path.open("r+b") as handle:
                    handle.truncate(last_offset.get(kind, 0))

    def _size(self, name: str) -> int:
        path = self.file(name)
        return path.stat().st_size if path.exists() else 0

    def _read_manifest(self) -> dict | None:
        try:
            return json.loads((self.root / "manifest.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def note_progress(self, line: str) -> None:
        """Keep the latest progress line of each endpoint ("machines: 3 pages,
        …") where the dashboard reads it while the run fetches."""
        kind, _, text = line.partition(": ")
        self.progress[kind] = text
        temporary = self.root / "progress.json.tmp"
        temporary.write_text(json.dumps(self.progress), encoding="utf-8")
        os.replace(temporary, self.root / PROGRESS_FILE)

    def _write_manifest(self) -> None:
        temporary = self.root / "manifest.json.tmp"
        temporary.write_text(json.dumps(self.manifest), encoding="utf-8")
        os.replace(temporary, self.root / "manifest.json")


def read_progress(db_path: Path) -> dict[str, str]:
    """The running sync's latest progress line per endpoint (empty when no run
    is fetching, or it has not written one yet)."""
    path = Path(str(db_path) + ".staging") / PROGRESS_FILE
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _resumable(manifest: dict, tenant_id: str, now: datetime, last_merged) -> bool:
    if manifest.get("tenant_id") != tenant_id:
        return False
    if manifest.get("run_id", 0) <= (last_merged or 0):
        return False
    started = datetime.fromisoformat(manifest["started_at"])
    return timedelta(0) <= now - started <= RESUME_WITHIN
