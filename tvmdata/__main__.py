"""The command line: `python -m tvmdata <command>`.

    sync [--demo] [--full]        fetch Defender data into the database, then
                                  purge completed activities past retention
    emulator [...]                serve a tenant over the Defender API locally
    demo up|build|down            the demo tenant and its emulator
    purge [--demo] [--dry-run]    remove completed activities past retention
    export activities --out FILE  write the activity list as CSV
    export devices --activity ID --out FILE
    backup --out DIR              copy the whole database into a new folder
    restore --from DIR --db FILE  import a backup into a new database file

Every failure exits non-zero with one line on stderr saying what went wrong and
what to do; `-v` adds the log and, for unexpected faults, the traceback. Progress
and results go to stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from datetime import timedelta
from pathlib import Path

import pandas as pd

from tvmdata import backup, demo, exports, retention, store
from tvmdata.clock import SYSTEM_CLOCK
from tvmdata.config import load_settings
from tvmdata.errors import ConfigError, TvmError

log = logging.getLogger("tvmdata")

STATUSES = ("Active", "Completed")
PRIORITIES = ("High", "Medium", "Low")
SOURCES = ("cli", "cron", "dashboard")
IT_ANSWERS = ("accept", "reject", "complete")
# A century: more is no retention period, and the cutoff date would overflow.
MAX_PURGE_DAYS = 36500


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["emulator"]:
        from tvmdata.emulator import main as emulator_main

        return emulator_main(argv[1:])
    args = _parser().parse_args(argv)
    # Without -v only the one error line reaches stderr; the log says the same.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args) or 0
    except exports.OutputNotWritable as exc:
        return _fail(f"{exc}; choose another --out")
    except TvmError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", code=130)
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        hint = "" if args.verbose else " (details with -v)"
        return _fail(f"unexpected {type(exc).__name__}: {exc}{hint}")


def _fail(message: str, code: int = 1) -> int:
    print("error: " + " ".join(message.split()), file=sys.stderr)
    return code


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end in one line, like every other failure."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (run with --help for usage)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tvmdata")
    _add_verbose(parser, default=False)
    # -v also works after the command; unset there, it keeps the value from before.
    verbose = _Parser(add_help=False)
    _add_verbose(verbose, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_sync(commands, verbose)
    commands.add_parser("emulator", help="serve a tenant locally (see its --help)")
    _add_demo(commands, verbose)
    _add_purge(commands, verbose)
    _add_backup(commands, verbose)
    _add_export(commands, verbose)
    return parser


def _add_verbose(parser, default) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="log each step and call; show tracebacks of unexpected faults",
    )


def _add_sync(commands, verbose) -> None:
    sync = commands.add_parser(
        "sync",
        parents=[verbose],
        help="fetch Defender data into the database, then purge completed "
        "activities past the retention period",
    )
    _add_demo_flag(sync, "sync the demo tenant from its running emulator")
    sync.add_argument("--full", action="store_true", help="refetch every device list")
    sync.add_argument(
        "--source",
        type=_one_of(SOURCES),
        choices=SOURCES,
        default="cli",
        help="who started the run, recorded with it (default: cli)",
    )
    sync.set_defaults(run=_run_sync)


def _add_demo(commands, verbose) -> None:
    demo_cmd = commands.add_parser(
        "demo", parents=[verbose], help="the demo tenant and its emulator"
    )
    demo_cmd.add_argument(
        "action",
        choices=["up", "build", "down", "fix", "it"],
        help="up: build the demo when missing, then start its emulator; "
        "build: (re)build data/demo.duckdb; down: stop the emulator; "
        "fix RECOMMENDATION: play IT, fixing --share of its exposed devices "
        "(the next sync sees them fixed); "
        "it TASK_ID accept|reject|complete: play IT answering an Intune task. "
        "--seed, --devices and --activities apply when the demo is built",
    )
    demo_cmd.add_argument(
        "recommendation",
        nargs="?",
        metavar="ID",
        help="for fix: the recommendation id, e.g. va-_-google-_-chrome; "
        "for it: the Intune task id",
    )
    demo_cmd.add_argument(
        "answer", nargs="?", help="for it: accept, reject or complete"
    )
    demo_cmd.add_argument(
        "--assigned-to", help="for it: who in IT takes the task (an email)"
    )
    demo_cmd.add_argument(
        "--share",
        type=float,
        default=0.5,
        help="for fix: the share of exposed devices to fix (default 0.5)",
    )
    demo_cmd.add_argument(
        "--seed",
        type=int,
        default=7,
        help="seed of the generated tenant (default 7); the same seed gives the "
        "same tenant",
    )
    demo_cmd.add_argument(
        "--devices",
        type=int,
        default=1500,
        help="devices in the generated tenant (default 1500)",
    )
    demo_cmd.add_argument(
        "--activities",
        type=int,
        default=None,
        help="remediation activities in the generated tenant (default: 40 to 80, "
        "chosen by the seed)",
    )
    demo_cmd.set_defaults(run=_run_demo)


def _add_purge(commands, verbose) -> None:
    purge = commands.add_parser(
        "purge",
        parents=[verbose],
        help="remove completed activities past the retention period",
    )
    _add_demo_flag(purge, "purge data/demo.duckdb (the emulator need not run)")
    purge.add_argument(
        "--days",
        type=int,
        help="retention period in days, counted from completion (default: the "
        "stored setting, 180 days unless changed)",
    )
    purge.add_argument(
        "--archive",
        type=Path,
        metavar="DIR",
        help="write the purged activities and their devices to CSV files in DIR "
        "before deleting",
    )
    purge.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be purged; delete nothing",
    )
    purge.set_defaults(run=_run_purge)


def _add_backup(commands, verbose) -> None:
    save = commands.add_parser(
        "backup",
        parents=[verbose],
        help="copy the whole database (with the requests, completions, settings "
        "and audit log that exist nowhere else) into a new folder",
    )
    _add_demo_flag(save, "back up data/demo.duckdb")
    save.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder to create the backup in (as DIR/tvm-YYYYMMDD-HHMMSS)",
    )
    save.set_defaults(run=_run_backup)

    load = commands.add_parser(
        "restore",
        parents=[verbose],
        help="import a backup into a new database file (never over one)",
    )
    load.add_argument(
        "--from",
        dest="source",
        type=Path,
        required=True,
        metavar="DIR",
        help="the folder `backup` wrote",
    )
    load.add_argument(
        "--db",
        type=Path,
        required=True,
        metavar="FILE",
        help="the new database file; point TVM_DB at it afterwards",
    )
    load.set_defaults(run=_run_restore)


def _add_export(commands, verbose) -> None:
    export = commands.add_parser("export", help="write CSV files")
    what = export.add_subparsers(dest="what", required=True)
    activities = what.add_parser(
        "activities", parents=[verbose], help="the activity list"
    )
    _add_out(activities)
    activities.add_argument(
        "--status",
        type=_one_of(STATUSES),
        choices=STATUSES,
        help="only activities with this status (any case)",
    )
    activities.add_argument(
        "--group",
        help="only activities covering this device group (its full name, any case)",
    )
    activities.add_argument(
        "--priority",
        type=_one_of(PRIORITIES),
        choices=PRIORITIES,
        help="only activities with this priority (any case)",
    )
    _add_demo_flag(activities, "export from data/demo.duckdb")
    activities.set_defaults(run=_run_export_activities)

    devices = what.add_parser(
        "devices", parents=[verbose], help="one activity's exposed devices"
    )
    devices.add_argument(
        "--activity",
        required=True,
        metavar="ID",
        help="the activity's id (the Activity id column of `export activities` "
        "and of the Remediation page)",
    )
    _add_out(devices)
    _add_demo_flag(devices, "export from data/demo.duckdb")
    devices.set_defaults(run=_run_export_devices)


def _add_out(parser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="the CSV file to write (replaced if it exists; its folder must exist)",
    )


def _add_demo_flag(parser, text: str) -> None:
    parser.add_argument("--demo", action="store_true", help=text)


def _one_of(names: tuple[str, ...]):
    by_folded = {name.casefold(): name for name in names}

    def canonical(text: str) -> str:
        # Unknown text passes through so argparse names the valid choices.
        return by_folded.get(text.strip().casefold(), text)

    return canonical


def _settings(args, *, local: bool):
    """The settings; in demo mode (--demo or TVM_DEMO=true) the demo tenant's.

    `local` commands only read and write the database, so they need no emulator.
    """
    settings = load_settings()
    if not (args.demo or settings.demo):
        return settings
    return demo.local_demo_settings(settings) if local else demo.demo_settings(settings)


def _require_a_sync(settings) -> None:
    command = "demo up" if settings.demo else "sync"
    db = Path(settings.db)
    if not db.exists() or store.load_sync_status(settings)["succeeded_id"] is None:
        raise ConfigError(
            f"No sync has run yet for {db}: run `python -m tvmdata {command}` first."
        )


def _run_sync(args) -> int:
    from tvmdata.sync import sync_tenant

    settings = _settings(args, local=False)
    if not any((settings.tenant_id, settings.client_id, settings.client_secret)):
        raise ConfigError(
            "No credentials are configured (TVM_TENANT_ID, TVM_CLIENT_ID, "
            "TVM_CLIENT_SECRET): set them, or sync the demo tenant with --demo."
        )
    settings.require_credentials()
    result = sync_tenant(
        settings, source=args.source, full=args.full, progress=_print_progress
    )
    calls = sum(result.calls.values())
    print(
        f"sync {result.run_id} succeeded in {result.seconds:.1f} s "
        f"(merge held the database {result.merge_seconds:.1f} s): {calls} calls, "
        + ", ".join(f"{k} {v}" for k, v in result.rows.items())
        + (f"; {result.skipped} invalid records skipped" if result.skipped else "")
    )
    if result.graph_outcome == "failed":
        print(
            f"warning: Intune tasks were not updated: {result.graph_error}",
            file=sys.stderr,
        )
    elif result.graph_outcome:
        graph_calls = sum(result.graph_calls.values())
        print(f"Intune tasks updated ({graph_calls} Graph calls)")
    _purge_after_sync(settings)
    return 0


def _purge_after_sync(settings) -> None:
    """Purge with the stored policy, so completed activities past retention
    never show; a failure here is a warning, the sync itself succeeded."""
    try:
        policy = retention.load_policy(settings)
        purged = retention.purge_completed(settings, policy)
    except Exception as exc:  # any fault: the synced data is already merged
        log.warning("the retention purge after the sync failed", exc_info=True)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(
            f"warning: the retention purge failed: {reason}; the sync succeeded "
            "(retry with `python -m tvmdata purge`)",
            file=sys.stderr,
        )
        return
    if purged:
        print(
            f"purged {len(purged)} completed activities older than {_days(policy.days)}"
        )


def _run_demo(args) -> int:
    if args.action == "down":
        stopped = demo.stop_emulator()
        print("demo emulator stopped" if stopped else "demo emulator was not running")
        return 0
    if args.action == "fix":
        if not args.recommendation:
            raise ConfigError(
                "Name the recommendation to fix: python -m tvmdata demo fix "
                "va-_-google-_-chrome (ids are on the Security recommendations page)."
            )
        fixed = demo.fix_devices(args.recommendation, args.share)
        print(
            f"{len(fixed)} devices fixed for {args.recommendation}: run a sync "
            "(or Sync now) to see the progress"
        )
        return 0
    if args.action == "it":
        return _run_demo_it(args)
    options = dict(seed=args.seed, devices=args.devices, activities=args.activities)
    if args.action == "build":
        demo.build_demo(progress=_print_progress, **options)
    elif args.action == "up":
        demo.demo_up(progress=_print_progress, **options)
    return 0


def _run_demo_it(args) -> int:
    if not args.recommendation or args.answer not in IT_ANSWERS:
        raise ConfigError(
            "Name the Intune task and IT's answer: python -m tvmdata demo it "
            "TASK_ID accept|reject|complete (the task id is on the activity's "
            "detail)."
        )
    task = demo.set_task_status(args.recommendation, args.answer, args.assigned_to)
    print(
        f"Intune task {task['id']} is now {task['status']}: run a sync "
        "(or Sync now) to see IT's answer"
    )
    return 0


def _run_backup(args) -> int:
    settings = _settings(args, local=True)
    folder = backup.backup(settings, args.out)
    rows = backup.read_manifest(folder)["rows"]
    print(f"backup of {settings.db} written to {folder} ({_described(rows)})")
    return 0


def _run_restore(args) -> int:
    manifest = backup.restore(args.source, args.db)
    print(
        f"restored tenant {manifest['tenant_id']} into {args.db} "
        f"({_described(manifest['rows'])}): point TVM_DB at it to use it"
    )
    return 0


def _described(rows: dict) -> str:
    return ", ".join(
        f"{count} {_ROW_NAMES.get(table, (table, table))[count != 1]}"
        for table, count in rows.items()
    )


# Each table of a backup's manifest, named for one row and for many.
_ROW_NAMES = {
    "requests": ("request", "requests"),
    "request_targets": ("request target device", "request target devices"),
    "completions": ("completion", "completions"),
    "settings": ("setting", "settings"),
    "audit_log": ("audit log entry", "audit log entries"),
}


def _run_purge(args) -> int:
    if args.days is not None and args.days < 1:
        raise ConfigError(f"--days must be at least 1, not {args.days}.")
    if args.days is not None and args.days > MAX_PURGE_DAYS:
        raise ConfigError(
            f"--days must be between 1 and {MAX_PURGE_DAYS}, not {args.days}."
        )
    settings = _settings(args, local=True)
    _require_a_sync(settings)
    policy = _purge_policy(settings, args)
    due = _purge_candidates(settings, policy.days)
    if args.dry_run:
        _print_candidates(due, policy.days)
        return 0
    if due.empty:
        print(
            f"nothing to purge: no activity was completed over {_days(policy.days)} ago"
        )
        return 0
    archive = f", archiving to {policy.archive_dir} first" if policy.archive else ""
    print(
        f"purging {len(due)} completed activities older than {_days(policy.days)}"
        + archive
    )
    try:
        purged = retention.purge_completed(settings, policy)
    except OSError as exc:
        raise TvmError(
            f"cannot write the archive in {policy.archive_dir}: "
            f"{exc.strerror or exc}; choose another --archive (nothing was purged)"
        ) from None
    print(f"purged {len(purged)} completed activities older than {_days(policy.days)}")
    return 0


def _purge_policy(settings, args) -> retention.RetentionPolicy:
    policy = retention.load_policy(settings)
    if args.days is not None:
        policy = retention.RetentionPolicy(
            args.days, policy.archive, policy.archive_dir
        )
    if args.archive is not None:
        policy = retention.RetentionPolicy(policy.days, True, args.archive)
    return policy


def _purge_candidates(settings, days: int):
    """The completed activities a purge with `days` would remove, as a frame."""
    cutoff = SYSTEM_CLOCK.now() - timedelta(days=days)
    with store.open_store(settings) as con:
        rows = con.execute(store.sql("purge_candidates"), {"cutoff": cutoff})
        ids = {row[0] for row in rows.fetchall()}
    frame = store.load_activities(settings)
    return frame[frame["activity_id"].isin(ids)].sort_values("completed_on")


def _print_candidates(due, days: int) -> None:
    if due.empty:
        print(f"would purge nothing: no activity was completed over {_days(days)} ago")
        return
    print(f"would purge {len(due)} completed activities older than {_days(days)}:")
    for row in due.itertuples():
        known = pd.notna(row.completed_on)
        completed = f"{row.completed_on:%Y-%m-%d}" if known else "unknown"
        print(f"  {row.activity_id}  completed {completed}  {row.activity}")
    print("nothing was deleted (dry run)")


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def _run_export_activities(args) -> int:
    settings = _settings(args, local=True)
    _require_a_sync(settings)
    count = exports.export_activities(
        settings, args.out, args.status, args.group, args.priority
    )
    print(f"wrote {count} activities to {args.out}")
    return 0


def _run_export_devices(args) -> int:
    settings = _settings(args, local=True)
    _require_a_sync(settings)
    count = exports.export_devices(settings, args.activity, args.out)
    print(f"wrote {count} devices to {args.out}")
    return 0


def _print_progress(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
