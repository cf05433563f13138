"""The command line: `python -m tvmdata <command>`.

    sync [--demo] [--full]        fetch Defender data into the database
    emulator [...]                serve a tenant over the Defender API locally
    demo up|build|down            the demo tenant and its emulator
    purge [--demo]                remove completed activities past retention
    export activities --out FILE  write the activity list as CSV
    export devices --activity ID --out FILE

Failures exit non-zero with one line saying what went wrong and what to do.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tvmdata import demo, exports, retention
from tvmdata.config import load_settings
from tvmdata.errors import ConfigError, TvmError

log = logging.getLogger("tvmdata")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["emulator"]:
        from tvmdata.emulator import main as emulator_main

        return emulator_main(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args) or 0
    except TvmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tvmdata")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each call")
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser("sync", help="fetch Defender data into the database")
    _add_demo_flag(sync)
    sync.add_argument("--full", action="store_true", help="refetch every device list")
    sync.add_argument("--source", default="cli", help=argparse.SUPPRESS)
    sync.set_defaults(run=_run_sync)

    commands.add_parser("emulator", help="serve a tenant locally (see its --help)")

    demo_cmd = commands.add_parser("demo", help="the demo tenant and its emulator")
    demo_cmd.add_argument("action", choices=["up", "build", "down"])
    demo_cmd.add_argument("--seed", type=int, default=7)
    demo_cmd.add_argument("--devices", type=int, default=1500)
    demo_cmd.add_argument("--activities", type=int, default=None)
    demo_cmd.set_defaults(run=_run_demo)

    purge = commands.add_parser("purge", help="remove completed activities")
    _add_demo_flag(purge)
    purge.add_argument("--days", type=int, help="retention period in days")
    purge.add_argument("--archive", type=Path, help="write CSV archives here first")
    purge.set_defaults(run=_run_purge)

    export = commands.add_parser("export", help="write CSV files")
    what = export.add_subparsers(dest="what", required=True)
    activities = what.add_parser("activities", help="the activity list")
    activities.add_argument("--out", type=Path, required=True)
    activities.add_argument("--status", choices=["Active", "Completed"])
    activities.add_argument("--group", help="only activities covering this group")
    activities.add_argument("--priority", choices=["High", "Medium", "Low"])
    _add_demo_flag(activities)
    activities.set_defaults(run=_run_export_activities)
    devices = what.add_parser("devices", help="one activity's exposed devices")
    devices.add_argument("--activity", required=True)
    devices.add_argument("--out", type=Path, required=True)
    _add_demo_flag(devices)
    devices.set_defaults(run=_run_export_devices)
    return parser


def _add_demo_flag(parser) -> None:
    parser.add_argument(
        "--demo", action="store_true", help="use the demo tenant (data/demo.duckdb)"
    )


def _settings(args):
    settings = load_settings()
    if args.demo:
        return demo.demo_settings(settings)
    return settings


def _run_sync(args) -> int:
    from tvmdata.sync import sync_tenant

    settings = _settings(args)
    if not args.demo and not (settings.client_secret and settings.tenant_id):
        raise ConfigError(
            "No credentials are configured (TVM_TENANT_ID, TVM_CLIENT_ID, "
            "TVM_CLIENT_SECRET): set them, or sync the demo tenant with --demo."
        )
    result = sync_tenant(
        settings, source=args.source, full=args.full, progress=_print_progress
    )
    calls = sum(result.calls.values())
    print(
        f"sync {result.run_id} succeeded in {result.seconds:.1f} s: {calls} calls, "
        + ", ".join(f"{k} {v}" for k, v in result.rows.items())
        + (f"; {result.skipped} invalid records skipped" if result.skipped else "")
    )
    return 0


def _run_demo(args) -> int:
    if args.action == "down":
        stopped = demo.stop_emulator()
        print("demo emulator stopped" if stopped else "demo emulator was not running")
    elif args.action == "build":
        demo.build_demo(
            seed=args.seed,
            devices=args.devices,
            activities=args.activities,
            progress=_print_progress,
        )
    else:
        demo.demo_up(progress=_print_progress)
    return 0


def _run_purge(args) -> int:
    settings = _settings(args)
    policy = retention.load_policy(settings)
    if args.days is not None:
        policy = retention.RetentionPolicy(
            args.days, policy.archive, policy.archive_dir
        )
    if args.archive is not None:
        policy = retention.RetentionPolicy(policy.days, True, args.archive)
    purged = retention.purge_completed(settings, policy)
    print(f"purged {len(purged)} completed activities older than {policy.days} days")
    return 0


def _run_export_activities(args) -> int:
    settings = _settings(args)
    count = exports.export_activities(
        settings, args.out, args.status, args.group, args.priority
    )
    print(f"wrote {count} activities to {args.out}")
    return 0


def _run_export_devices(args) -> int:
    settings = _settings(args)
    count = exports.export_devices(settings, args.activity, args.out)
    print(f"wrote {count} devices to {args.out}")
    return 0


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
