"""The tenant-scale benchmarks, written to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_all.py [--sizes default,50000x2000,200000x10000]

For each size: the sync against the emulator (first and steady-state run), the
raw `read_json` limit, each page's script run next to its bare queries, and the
CSV exports next to DuckDB's `COPY`; then each target set against the largest
size measured. RESULTS.md is rewritten after every size, so a run stopped part
way keeps what it measured. Every figure in it comes from this run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import bench_sync
import duckdb
import streamlit
from bench_exports import REPEATS, measure_exports
from bench_pages import choose_targets, measure_open, measure_pages
from bench_sync import REPO, SIZES

RESULTS = REPO / "benchmarks" / "RESULTS.md"
ALL_SIZES = ",".join(SIZES)
# Past this, a sync is stopped and reported as too slow for the size.
SYNC_LIMIT_SECONDS = 15 * 60
LIMIT_WORDS = "15 minutes"
TARGET_SIZE = "200000x10000"
MEMORY_TARGET_MB = 2048
# Over the memory target, one more steady-state sync runs with DuckDB capped.
CAP = "1GB"
CAPPED = (*bench_sync.SYNC, "--memory-limit", CAP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=ALL_SIZES, help=f"of {ALL_SIZES}")
    parser.add_argument("--repeats", type=int, default=3, help="runs per page")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = args.sizes.split(",")
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        parser.error(f"unknown size {unknown[0]!r}: choose from {ALL_SIZES}")

    run = {"command": _command(), "started": _now(), "machine": machine(), "sizes": []}
    for name in names:
        print(f"{_now()} {name}: starting ({_load()})", flush=True)
        run["sizes"].append(bench_size(name, args.repeats))
        args.out.write_text(render(run), encoding="utf-8")
        print(f"{_now()} {name}: done; {args.out} written", flush=True)


def machine() -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "memory_gb": memory,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "streamlit": streamlit.__version__,
        "system": platform.platform(),
    }


def bench_size(name: str, repeats: int) -> dict:
    """Every measurement of one size; a step that fails or runs past its
    limit is recorded as such and ends the size."""
    result = {"name": name, "load_before": _load()}
    with tempfile.TemporaryDirectory() as folder:
        try:
            _measure(name, Path(folder), repeats, result)
        except Exception as exc:  # reported in RESULTS.md, not hidden
            result["stopped"] = f"{type(exc).__name__}: {exc}"
            print(f"{name}: stopped: {result['stopped']}", flush=True)
    result["load_after"] = _load()
    return result


def _measure(name: str, folder: Path, repeats: int, result: dict) -> None:
    with bench_sync.serving(name, folder) as (tenant, settings, emulator):
        result["tenant"] = bench_sync.describe(tenant)
        result["served_seconds"] = tenant["served_seconds"]
        _step(name, "first sync")
        first = bench_sync.measure_sync(settings, emulator, SYNC_LIMIT_SECONDS)
        result["first"] = first
        if first.get("timed_out"):
            result["stopped"] = f"the first sync ran past {LIMIT_WORDS} and was stopped"
            return
        first["real_quota"] = bench_sync.quota_duration(first["calls"])
        first["own_pacing"] = bench_sync.quota_duration(
            first["calls"], bench_sync.OWN_PACING
        )
        result["changed"] = bench_sync.change_activities(tenant, emulator)
        result["activities"] = len(tenant["data"]["remediationTasks"])
        _step(name, "steady-state sync")
        result["steady"] = bench_sync.measure_sync(
            settings, emulator, SYNC_LIMIT_SECONDS
        )
        if result["steady"].get("timed_out"):
            result["stopped"] = f"the steady-state sync ran past {LIMIT_WORDS}"
            return
        if max(first["peak_mb"], result["steady"]["peak_mb"]) >= MEMORY_TARGET_MB:
            _step(name, f"steady-state sync, DuckDB memory limit {CAP}")
            bench_sync.change_activities(tenant, emulator)
            result["capped"] = bench_sync.measure_sync(
                settings, emulator, SYNC_LIMIT_SECONDS, CAPPED
            )
        _step(name, "read_json")
        result["raw"] = bench_sync.measure_read_json(settings, folder)
        result["load_pages"] = _load()
        _step(name, "pages")
        result["targets"] = targets = choose_targets(settings, tenant["data"])
        result["pages"] = measure_pages(settings, targets, repeats)
        result["open_seconds"] = measure_open(settings)
        _step(name, "exports")
        result["exports"] = measure_exports(settings, targets, folder)


def _step(name: str, what: str) -> None:
    print(f"{_now()} {name}: {what} ({_load()})", flush=True)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def _command() -> str:
    return " ".join([".venv/bin/python", "benchmarks/run_all.py", *sys.argv[1:]])


# RESULTS.md


def render(run: dict) -> str:
    m = run["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `" + run["command"] + "`; every figure below comes from that "
        "run. Do not edit by hand: run the command again.",
        "",
        f"- Started: {run['started']}",
        f"- Machine: {m['cpus']} CPUs, {m['memory_gb']:.0f} GB memory, {m['system']}",
        f"- Python {m['python']}, DuckDB {m['duckdb']}, Streamlit {m['streamlit']}",
        "- Load: the machine is shared, so each size records the load average "
        "(1, 5, 15 minutes) before and after it; the emulator serves from the "
        "benchmark's own process, on the same two cores as the sync it answers.",
        "",
    ]
    for size in run["sizes"]:
        lines += _size_section(size)
    lines += _targets_section(run["sizes"])
    return "\n".join(lines) + "\n"


def _size_section(size: dict) -> list[str]:
    lines = [f"## {size['name']}", ""]
    if "tenant" in size:
        lines.append(f"Tenant: {size['tenant']}; the emulator took "
                     f"{size['served_seconds']:.1f} s to load it.")  # fmt: skip
    lines += [
        f"Load before: {size['load_before']}; before the pages: "
        f"{size.get('load_pages', 'not reached')}; after: {size['load_after']}.",
        "",
    ]
    if "first" in size:
        lines += _sync_lines(size)
    if "raw" in size:
        lines += _raw_lines(size)
    if "pages" in size:
        lines += _page_lines(size)
    if "exports" in size:
        lines += _export_lines(size)
    if "stopped" in size:
        lines += [f"**Stopped**: {size['stopped']}", ""]
    return lines


def _sync_lines(size: dict) -> list[str]:
    lines = [
        "### Sync against the emulator (pacing off, its own process)",
        "",
        "| run | wall time | calls | calls per endpoint | rows written | rows/s "
        "| peak memory | merge held the database | database file after |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    runs = [("first", "first sync")]
    if "steady" in size:
        changed = f"{size['changed']} of {size['activities']:,} activities changed"
        runs.append(("steady", f"steady state ({changed})"))
    if "capped" in size:
        runs.append(("capped", f"steady state again, DuckDB memory limit {CAP}"))
    graph = {}
    for key, label in runs:
        run = size[key]
        defender = {k: v for k, v in run["calls"].items() if not k.startswith("graph")}
        graph[label] = sum(run["calls"].values()) - sum(defender.values())
        calls = "<br>".join(f"`{k}` {v:,}" for k, v in defender.items())
        if run.get("timed_out"):
            total = sum(run["calls"].values())
            lines.append(
                f"| {label} | stopped at {run['seconds']:.0f} s | {total:,} "
                f"| {calls} | | | | | |"
            )
            continue
        lines.append(
            f"| {label} | {run['seconds']:.1f} s | {sum(defender.values()):,} "
            f"| {calls} | {sum(run['rows'].values()):,} "
            f"| {run['rows_per_second']:,.0f} | {run['peak_mb']:,.0f} MB "
            f"| {run['merge_seconds']:.1f} s | {run['db_mb']:,.0f} MB |"
        )
    lines += [
        "",
        "Microsoft Graph (Intune) calls, counted apart from the Defender calls "
        "above: "
        + ", ".join(f"{k} {v:,}" for k, v in graph.items())
        + " (these generated tenants have no requests filed here, so no Intune "
        "tasks to create or read back).",
    ]
    first = size["first"]
    if "real_quota" in first:
        lines += [
            "",
            f"The first sync's {sum(first['calls'].values()):,} calls at Defender's "
            f"real quota (100 a minute, 1,500 an hour) take {first['real_quota']}; "
            f"at the client's own default pacing (90, 1,350) {first['own_pacing']}.",
        ]
    return lines + [""]


def _raw_lines(size: dict) -> list[str]:
    raw, first = size["raw"], size["first"]
    return [
        "### The raw limit: DuckDB `read_json` of the staged pages",
        "",
        f"A full fetch staged by the sync's own staging step wrote "
        f"{raw['rows']:,} rows ({raw['staged_mb']:,.0f} MB of NDJSON) in "
        f"{raw['fetch_and_stage_seconds']:.1f} s; `read_json` loaded them, typed "
        f"as the merge loads them, in {raw['seconds']:.2f} s: "
        f"**{raw['rows_per_second']:,.0f} rows/s**, against the first sync's "
        f"{first['rows_per_second']:,.0f} rows/s "
        f"({first['rows_per_second'] / raw['rows_per_second']:.1%} of it).",
        "",
    ]


def _page_lines(size: dict) -> list[str]:
    t = size["targets"]
    lines = [
        "### Pages: script run with caches cleared vs the bare calls",
        "",
        f"Median of the runs, each with every Streamlit cache cleared. The detail "
        f"is activity `{t['activity_id']}` ({t['activity_devices']:,} exposed "
        f"devices); the filtered list is the device group "
        f"{t['group_name']} ({t['group_id']}). *Overhead* is the script run "
        f"less the bare queries: Streamlit (the script, dataframes to Arrow, "
        f"charts, widgets) and AppTest. CSV downloads are built when clicked "
        f"(see the exports below), not while a page loads.",
        "",
        "| page | script run | bare queries | overhead | calls; the slowest |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for page in size["pages"]:
        name, seconds = page["slowest_query"]
        calls = f"{page['queries']} calls; " if "queries" in page else ""
        error = f" (**error**: {page['error']})" if page["error"] else ""
        lines.append(
            f"| {page['label']}{error} | {page['page_seconds']:.2f} s "
            f"| {page['query_seconds']:.2f} s "
            f"| {page['page_seconds'] - page['query_seconds']:.2f} s "
            f"| {calls}`{name}` {seconds:.2f} s |"
        )
    if "open_seconds" in size:
        lines += [
            "",
            f"Each call opens the database and closes it again (connect, schema "
            f"check, the read macros): {size['open_seconds'] * 1000:.0f} ms a "
            f"time, measured alone.",
        ]
    return lines + [""]


def _export_lines(size: dict) -> list[str]:
    lines = [
        "### CSV exports (`tvmdata.exports`) vs DuckDB `COPY ... TO`",
        "",
        f"Each the median of {REPEATS} runs, the export and `COPY` alternating.",
        "",
        "| export | rows | export | file | `COPY` of the same query | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in size["exports"]:
        lines.append(
            f"| {e['label']} | {e['rows']:,} | {e['export_seconds']:.2f} s "
            f"| {e['export_mb']:,.1f} MB | {e['copy_seconds']:.2f} s "
            f"({e['copy_rows']:,} rows) | {e['ratio']:.1f}x |"
        )
    return lines + [""]


def _targets_section(sizes: list[dict]) -> list[str]:
    measured = [s for s in sizes if "exports" in s]
    if not measured:
        return ["## Targets", "", "No size was measured to the end.", ""]
    chosen = next((s for s in measured if s["name"] == TARGET_SIZE), measured[-1])
    lines = [
        "## Targets",
        "",
        f"Set against {chosen['name']} on {os.cpu_count()} cores"
        + (
            ""
            if chosen["name"] == TARGET_SIZE
            else f" ({TARGET_SIZE} was not measured to the end)"
        )  # fmt: skip
        + ".",
        "",
    ]
    for check in (_pages_target, _sync_target, _memory_target, _calls_target,
                  _export_target):  # fmt: skip
        verdict, text = check(chosen)
        lines += [f"- **{verdict}** — {text}", ""]
    lines += _targets_by_size(measured)
    return lines


def _short_of(share: float, wanted: float) -> str:
    if share >= wanted:
        return ""
    return f", {(wanted - share) * 100:.1f} points short of {wanted:.0%}"


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def _pages_target(size: dict) -> tuple[str, str]:
    pages = size["pages"]
    slowest = max(pages, key=lambda p: p["page_seconds"])
    over = [p for p in pages if p["page_seconds"] >= 1]
    text = (
        f"every page's script run under 1 s with caches cleared: the slowest is "
        f"{slowest['label']} at {slowest['page_seconds']:.2f} s"
    )
    if not over:
        return "met", text + "."
    parts = [f"{len(over)} of {len(pages)} pages are over; gap "
             f"{slowest['page_seconds'] - 1:.2f} s on the slowest."]  # fmt: skip
    for page in over:
        parts.append(_page_limit(page, size))
    return "not met", text + "; " + " ".join(parts)


def _page_limit(page: dict, size: dict) -> str:
    queries = page["query_seconds"]
    framework = page["page_seconds"] - queries
    name, seconds = page["slowest_query"]
    opening = ""
    if "open_seconds" in size and "queries" in page:
        spent = page["queries"] * size["open_seconds"]
        opening = f", up to {spent:.2f} s of it opening the database for each call"
    shares = {
        f"its {page.get('queries', '')} queries ({queries:.2f} s{opening}; "
        f"`{name}` alone {seconds:.2f} s)": queries,
        f"Streamlit and AppTest around them ({framework:.2f} s)": framework,
    }
    limit = max(shares, key=shares.get)
    return f"{page['label']}: limited by {limit}."


def _sync_target(size: dict) -> tuple[str, str]:
    first, raw = size["first"], size["raw"]
    share = first["rows_per_second"] / raw["rows_per_second"]
    stage = raw["fetch_and_stage_seconds"]
    return _met(share >= 0.5), (
        f"the sync writes at least half of `read_json`'s rows/s: "
        f"{first['rows_per_second']:,.0f} against {raw['rows_per_second']:,.0f} "
        f"rows/s, {share:.1%}{_short_of(share, 0.5)}. What limits it: "
        f"fetching and staging (HTTPS pages from the emulator, JSON parsed, each "
        f"row normalised in Python and written as NDJSON) took {stage:.1f} s of "
        f"the sync's {first['seconds']:.1f} s in-process, the merge held the "
        f"database {first['merge_seconds']:.1f} s, and `read_json` alone needs "
        f"{raw['seconds']:.2f} s; the emulator shares the two cores."
    )


def _memory_target(size: dict) -> tuple[str, str]:
    peaks = {"first sync": size["first"]["peak_mb"]}
    peaks["steady-state sync"] = size["steady"]["peak_mb"]
    worst = max(peaks, key=peaks.get)
    gap = peaks[worst] - MEMORY_TARGET_MB
    text = (
        f"peak memory under 2 GB: {worst} {peaks[worst]:,.0f} MB "
        f"({', '.join(f'{k} {v:,.0f} MB' for k, v in peaks.items())}); "
        f"{'headroom' if gap < 0 else 'over by'} {abs(gap):,.0f} MB. "
    )
    if "capped" in size:
        capped = size["capped"]
        text += (
            f"With DuckDB's memory limit at {CAP} a steady-state sync peaks at "
            f"{capped['peak_mb']:,.0f} MB in {capped['seconds']:.1f} s. "
        )
    return _met(gap < 0), text + (
        f"What limits it: fetching streams page by page to disk (a page is at "
        f"most 10,000 rows), so the peak is the merge, where DuckDB loads "
        f"every staged row ({size['raw']['staged_mb']:,.0f} MB of NDJSON at a "
        f"full fetch) into temporary tables and joins them with the stored "
        f"history, within DuckDB's memory limit (`TVM_MEMORY_LIMIT_MB`, 1 GB "
        f"by default; past it DuckDB spills to a folder beside the database); "
        f"the rest is Python and DuckDB's own allocations outside that limit."
    )


def _calls_target(size: dict) -> tuple[str, str]:
    first = sum(size["first"]["calls"].values())
    steady = sum(size["steady"]["calls"].values())
    ratio = first / steady
    machines = size["steady"]["calls"].get("machines", 0)
    return _met(ratio >= 10), (
        f"steady-state calls at least 10x fewer than the first run: {first:,} "
        f"against {steady:,}, {ratio:.1f}x. What limits it: every run pages "
        f"through all devices ({machines} calls at 10,000 a page) and the "
        f"activity and recommendation lists, then fetches the device list of "
        f"each changed activity ({size['changed']} here)."
    )


def _export_target(size: dict) -> tuple[str, str]:
    worst = max(size["exports"], key=lambda e: e["ratio"])
    ratios = ", ".join(f"{e['label']} {e['ratio']:.1f}x" for e in size["exports"])
    return _met(worst["ratio"] <= 2), (
        f"CSV export within 2x of `COPY`: {ratios} (the largest, "
        f"{worst['label']}, {worst['export_seconds']:.2f} s against "
        f"{worst['copy_seconds']:.2f} s). What limits it: the export is "
        f"itself a `COPY` of the query with every column rendered in SQL (ISO "
        f"times, formula cells made text, lists joined, the As of column); "
        f"the rest is that rendering, the header and byte-order mark written "
        f"in Python, and the temporary file copied into place."
    )


def _targets_by_size(sizes: list[dict]) -> list[str]:
    lines = [
        "Every size against the same targets:",
        "",
        "| size | slowest page | sync / read_json rows/s | peak memory "
        "| first / steady calls | worst export / COPY |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in sizes:
        slowest = max(p["page_seconds"] for p in s["pages"])
        share = s["first"]["rows_per_second"] / s["raw"]["rows_per_second"]
        peak = max(s["first"]["peak_mb"], s["steady"]["peak_mb"])
        calls = sum(s["first"]["calls"].values()) / sum(s["steady"]["calls"].values())
        ratio = max(e["ratio"] for e in s["exports"])
        lines.append(f"| {s['name']} | {slowest:.2f} s | {share:.0%} "
                     f"| {peak:,.0f} MB | {calls:.1f}x | {ratio:.1f}x |")  # fmt: skip
    return lines + [""]


if __name__ == "__main__":
    main()
