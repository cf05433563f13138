"""Operational settings (stored in the database, changed on the Settings page),
the read-only view of deployment settings, the connection test and sync history.

Deployment settings (tenant, credentials, hosts, database path) come from the
environment and `.streamlit/secrets.toml` and are only shown here, never the
secret. Operational settings survive restarts in the `settings` table; each
change is written to the audit log with its before and after values.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from tvmdata import access, audit, completion, retention, store
from tvmdata.auth import TokenProvider, make_session
from tvmdata.client import ApiClient, connect_defender
from tvmdata.config import SECRETS_FILE
from tvmdata.errors import FieldsRefused, TvmError

log = logging.getLogger(__name__)

INTUNE_KEY = "intune_enabled"
MAX_RETENTION_DAYS = 3650


class SettingRefused(FieldsRefused):
    """A setting value cannot be saved; `errors` maps each field to a sentence."""


@dataclass(frozen=True)
class OperationalSettings:
    """The settings users change from the Settings page."""

    intune_enabled: bool = False
    retention_days: int = retention.DEFAULT_RETENTION_DAYS
    archive_before_purge: bool = False
    operator_email: str | None = None


@dataclass(frozen=True)
class ConnectionCheck:
    """The outcome of testing one service."""

    service: str
    ok: bool
    message: str
    tested: bool = True


def load_operational(settings) -> OperationalSettings:
    """The stored operational settings, defaults where never set."""
    policy = retention.load_policy(settings)
    with store.open_store(settings) as con:
        row = con.execute(store.sql("get_setting"), {"key": INTUNE_KEY}).fetchone()
    return OperationalSettings(
        intune_enabled=bool(json.loads(row[0])) if row and row[0] else False,
        retention_days=policy.days,
        archive_before_purge=policy.archive,
        operator_email=completion.operator_email(settings),
    )


def save_operational(
    settings, changes: dict, changed_by, when: datetime
) -> OperationalSettings:
    """Validate and store changed operational settings, with an audit entry each.

    Args:
        changes: field of `OperationalSettings` → new value; unchanged values
            are skipped.
        changed_by: who changes them: an `access.Actor` (refused without the
            admin role) or an email.
        when: the moment of the change.

    Raises:
        SettingRefused: a value is out of range or malformed (nothing saved).
        AccessRefused: the user is not an admin.
    """
    actor = access.as_actor(changed_by)
    access.require(actor, "settings", "change settings")
    changed_by = actor.label()
    current = load_operational(settings)
    wanted = replace(current, **_cleaned(changes))
    errors = _errors(wanted)
    if errors:
        raise SettingRefused(errors)

    before, after = asdict(current), asdict(wanted)
    changed = [name for name in after if after[name] != before[name]]
    if not changed:
        return current
    policy = retention.load_policy(settings)
    with store.open_store(settings) as con:
        with store.transaction(con):
            for key, value in _stored_values(wanted, policy).items():
                store.run_script(
                    con,
                    "put_setting",
                    {
                        "key": key,
                        "value": json.dumps(value),
                        "changed_by": changed_by,
                        "changed_at": when,
                    },
                )
            for name in changed:
                audit.record(
                    con,
                    actor=changed_by,
                    action="setting changed",
                    object_id=name,
                    when=when,
                    before={name: before[name]},
                    after={name: after[name]},
                )
    log.info("settings %s changed by %s", ", ".join(changed), changed_by)
    return wanted


def describe_deployment(settings) -> list[tuple[str, str]]:
    """The deployment settings as (name, value) rows to show; no secret."""
    credentials = "set" if settings.client_secret else "not set"
    return [
        ("Mode", "Demo tenant" if settings.demo else "Live tenant"),
        ("Tenant", settings.tenant_id or "not set"),
        ("Application (client) id", settings.client_id or "not set"),
        ("Client secret", credentials),
        ("Defender API", settings.api_base),
        ("Microsoft Graph", settings.graph_base),
        ("Sign-in authority", settings.authority_host),
        ("CA bundle", str(settings.ca_bundle) if settings.ca_bundle else "system"),
        ("Database", str(settings.db)),
        ("Sign-in", describe_sign_in(settings)),
    ]


def describe_sign_in(settings, secrets_path: Path | None = None) -> str:
    """How users sign in, in a few words (or what is wrong with its rules)."""
    try:
        policy = access.load_policy(settings, secrets_path or SECRETS_FILE)
    except TvmError as exc:
        return str(exc)
    if not policy.signs_in:
        return "off: everyone acts as the operator"
    return (
        f"Microsoft Entra ID; {len(policy.allowed)} allowed entries, "
        f"{len(policy.roles)} role and {len(policy.scopes)} scope assignments"
    )


def check_connections(settings) -> list[ConnectionCheck]:
    """Acquire a token and call one endpoint of each service.

    Defender: one machine. Microsoft Graph: one Intune task, only when the
    Intune connection is on. Each outcome is one sentence; failures are not
    retried, so the answer comes quickly.
    """
    quick = settings.with_overrides(max_retries=1)
    checks = [_check_defender(quick)]
    if load_operational(settings).intune_enabled:
        checks.append(_check_graph(quick))
    else:
        checks.append(
            ConnectionCheck(
                "Microsoft Graph (Intune)",
                True,
                "Not tested: the Intune connection is off.",
                tested=False,
            )
        )
    for check in checks:
        log.info("connection test %s: %s", check.service, check.message)
    return checks


def load_sync_history(settings, limit: int = 20) -> pd.DataFrame:
    """The last `limit` sync runs, newest first.

    Columns: run_id, started_at, finished_at, source, outcome, calls (total),
    rows (total staged), seconds, error.
    """
    with store.open_store(settings) as con:
        return store.fetch_frame(con, "sync_history", {"limit": limit})


def _cleaned(changes: dict) -> dict:
    known = set(OperationalSettings.__dataclass_fields__)
    unknown = sorted(set(changes) - known)
    if unknown:
        raise SettingRefused({name: f"{name} is not a setting." for name in unknown})
    cleaned = dict(changes)
    if "operator_email" in cleaned:
        cleaned["operator_email"] = (cleaned["operator_email"] or "").strip() or None
    return cleaned


def _errors(wanted: OperationalSettings) -> dict[str, str]:
    errors = {}
    days = wanted.retention_days
    if not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
        errors["retention_days"] = (
            f"The retention period must be 1 to {MAX_RETENTION_DAYS} days, not {days}."
        )
    email = wanted.operator_email
    if email is not None and ("@" not in email or " " in email):
        errors["operator_email"] = (
            f"{email!r} is not an email address: give one like ops@contoso.com."
        )
    return errors


def _stored_values(wanted: OperationalSettings, policy) -> dict:
    return {
        INTUNE_KEY: wanted.intune_enabled,
        completion.OPERATOR_EMAIL_KEY: wanted.operator_email,
        "retention": {
            "days": wanted.retention_days,
            "archive": wanted.archive_before_purge,
            "archive_dir": str(policy.archive_dir),
        },
    }


def _check_defender(settings) -> ConnectionCheck:
    service = "Defender API"
    try:
        client = connect_defender(settings)
        client.get_json("/api/machines", {"$top": 1})
    except TvmError as exc:
        return ConnectionCheck(service, False, str(exc))
    return ConnectionCheck(
        service, True, f"Signed in and read the device list at {settings.api_base}."
    )


def _check_graph(settings) -> ConnectionCheck:
    service = "Microsoft Graph (Intune)"
    try:
        session = make_session(settings)
        tokens = TokenProvider(settings, settings.graph_scope, session)
        client = ApiClient(settings.graph_base, tokens, settings, session)
        client.get_json("/deviceAppManagement/deviceAppManagementTasks", {"$top": 1})
    except TvmError as exc:
        return ConnectionCheck(service, False, str(exc))
    return ConnectionCheck(
        service, True, f"Signed in and read Intune tasks at {settings.graph_base}."
    )
