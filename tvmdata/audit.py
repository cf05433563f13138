"""The audit log: every write a user makes, with who, when, what, before and after.

Writers call `record` on the connection of their own write, inside its
transaction, so an entry exists exactly when the change landed.
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from tvmdata import csvout, store

COLUMNS = {
    "logged_at": "When (UTC)",
    "actor": "Who",
    "action": "What",
    "object_id": "Object",
    "before": "Before",
    "after": "After",
}


def record(
    con,
    *,
    actor: str,
    action: str,
    object_id: str | None,
    when: datetime,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """Add one entry (values are stored as JSON; dates become ISO text)."""
    store.run_script(
        con,
        "audit_insert",
        {
            "logged_at": when,
            "actor": actor,
            "action": action,
            "object_id": object_id,
            "before": _json(before),
            "after": _json(after),
        },
    )


def load_entries(settings, limit: int | None = 500) -> pd.DataFrame:
    """The newest `limit` entries (None: all), newest first."""
    with store.open_store(settings) as con:
        return store.fetch_frame(con, "audit_entries", {"limit": limit})


def entries_csv(frame: pd.DataFrame, as_of: str) -> bytes:
    """The entries of `frame` (from `load_entries`) as a CSV document."""
    named = frame.rename(columns=COLUMNS)
    return csvout.build_csv(named, list(COLUMNS.values()), as_of)


def _json(values: dict | None) -> str | None:
    return None if values is None else json.dumps(values, default=str)
