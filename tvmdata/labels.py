"""Words people read: remediation types and data freshness as the pages say them.

Kept out of the pages so CSV exports and the command line can use the same words.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

REMEDIATION_TYPES = {
    "AttentionRequired": "Attention required",
    "ConfigurationChange": "Configuration change",
    "Update": "Software update",
    "Upgrade": "Software upgrade",
    "Uninstall": "Software uninstall",
}

# Where an activity comes from (`activities.source`) as the pages say it.
SOURCES = {
    "defender": "Defender",
    "dashboard": "This dashboard",
}

# The same day format in charts (d3's time format, as Plotly reads it).
PLOT_DAY = "%-d %b %Y"


def remediation_type(value: str | None) -> str | None:
    """The remediation type as the portal words it ("Update" → "Software update").

    Types Defender adds later are shown as they arrive.
    """
    if value is None:
        return None
    return REMEDIATION_TYPES.get(value, value)


def source(value: str | None) -> str:
    """Where an activity comes from, e.g. "dashboard" → "This dashboard".

    Activities stored before sources were kept came from Defender.
    """
    if value is None or value != value:  # None or NaN
        return SOURCES["defender"]
    return SOURCES.get(value, value)


def data_as_of(status: dict) -> str:
    """When the shown data was synced, e.g. "Data as of 3 Dec 2026 06:00 UTC
    (last sync)".

    Args:
        status: `store.load_sync_status` of the database.
    """
    if status.get("succeeded_id") is None:
        return "No sync has finished yet"
    return f"Data as of {_moment(status['succeeded_at'])} (last sync)"


def synced_ago(status: dict, now: datetime) -> str:
    """How long ago the last successful sync finished, e.g. "Synced 12 min ago"."""
    if status.get("succeeded_id") is None:
        return "No sync yet: run `python -m tvmdata sync`"
    minutes = max(0, int((now - status["succeeded_at"]).total_seconds() // 60))
    if minutes < 1:
        return "Synced just now"
    if minutes < 60:
        return f"Synced {minutes} min ago"
    if minutes < 48 * 60:
        return f"Synced {minutes // 60} h ago"
    return f"Synced {minutes // (24 * 60)} days ago ({_moment(status['succeeded_at'])})"


def day(value: date | datetime | None) -> str:
    """A calendar day as every page words it, e.g. "11 Sep 2026"; "" for none.

    Times are taken in UTC, as the store keeps them.
    """
    if value is None or value != value:  # None, NaN or NaT
        return ""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y}"


def moment(value: datetime) -> str:
    """A time of day where it matters, e.g. "3 Dec 2026 06:00 UTC"."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{day(value)} {value:%H:%M} UTC"


def days_overdue(due_on: date, today: date) -> str:
    """How late an activity is, e.g. "5 days overdue" ("1 day overdue")."""
    late = (today - _as_date(due_on)).days
    return f"{late} day{'s' if late != 1 else ''} overdue"


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _moment(value: datetime) -> str:
    return moment(value)


TICKET_STATUSES = {
    "pending": "Pending",
    "active": "Accepted",
    "completed": "Completed",
    "rejected": "Rejected",
    "deleted": "Deleted in Intune",
}
TICKET_NOT_SENT = "Not sent yet (will retry)"
TICKET_SENDING = "Being sent to Intune"
TICKET_CANCELLED = "Closed in Intune (request cancelled)"


def ticket_status(
    task_id: str | None,
    status: str | None,
    create_error: str | None = None,
    cancelled: bool = False,
) -> str:
    """An Intune security task's status as the pages say it: Pending, Accepted,
    Completed, Rejected; "Not sent yet (will retry)" while a failed create is
    queued; "Closed in Intune (request cancelled)" once a cancelled request's
    task is closed."""
    if task_id is None:
        return TICKET_NOT_SENT if create_error else TICKET_SENDING
    if cancelled and status == "rejected":
        return TICKET_CANCELLED
    status = status or "pending"
    return TICKET_STATUSES.get(status, status.capitalize())


_ENDPOINTS = {
    "machines": "Devices",
    "activities": "Activities",
    "recommendations": "Recommendations",
    "activity_devices": "Activities' exposed devices",
    "recommendation_devices": "Recommendations' exposed devices",
}


def sync_progress(progress: dict[str, str]) -> list[str]:
    """A running sync's progress, a line per endpoint in fetch order."""
    order = list(_ENDPOINTS)
    kinds = sorted(progress, key=lambda k: order.index(k) if k in order else 99)
    return [f"{_ENDPOINTS.get(kind, kind)}: {progress[kind]}" for kind in kinds]
