"""`python -m tvmdata sync` that reports its own peak memory when it ends.

    python benchmarks/sync_process.py [--memory-limit 1GB] [sync options]

The peak is the process's high-water resident set (`VmHWM`), printed to
stderr as `peak memory: N kB`. A parent's rusage would not do: Linux carries
the forking process's resident set into the child's `ru_maxrss`, and the
benchmark holds the whole generated tenant. `--memory-limit` sets DuckDB's
memory limit on every connection (the product leaves DuckDB's default, 80% of
the machine's memory), to show what a cap does to the sync.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tvmdata import store  # noqa: E402
from tvmdata.__main__ import main  # noqa: E402


def capped(limit: str):
    plain = store._open

    def open_capped(db_path, wait_seconds):
        con = plain(db_path, wait_seconds)
        con.execute("set memory_limit = ?", [limit])
        return con

    return open_capped


def peak_kb() -> int:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    line = next(li for li in status.splitlines() if li.startswith("VmHWM:"))
    return int(line.split()[1])


if __name__ == "__main__":
    options = sys.argv[1:]
    if options[:1] == ["--memory-limit"]:
        store._open = capped(options[1])
        options = options[2:]
    try:
        code = main(["sync", *options])
    finally:
        print(f"peak memory: {peak_kb()} kB", file=sys.stderr)
    sys.exit(code)
