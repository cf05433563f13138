"""What every page shares: the deployment's settings, the data freshness, and
reads that survive a locked database."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import streamlit as st

from tvmdata import demo, labels, store
from tvmdata.config import load_settings
from tvmdata.errors import DatabaseLocked, TvmError
from tvmdata.sync import sync_in_progress

T = TypeVar("T")
_KEPT = "tvm_kept_results"
_LOCKED_THIS_RUN = "tvm_database_locked_this_run"


@dataclass(frozen=True)
class _Kept:
    value: object
    loaded_at: datetime


def current_settings():
    """The dashboard's settings, read on every run so a started or stopped demo
    emulator shows at once."""
    base = load_settings()
    demo_setting = base.demo if os.environ.get("TVM_DEMO", "").strip() else None
    return demo.settings_for_dashboard(base, demo_setting)


def settings_or_stop():
    """The settings, or one plain error line and an empty page."""
    try:
        return current_settings()
    except TvmError as exc:
        st.error(str(exc))
        st.stop()


def start_run() -> None:
    """Forget this session's last lock: each run tries the database again."""
    st.session_state[_LOCKED_THIS_RUN] = None


def load_or_last(key: str, load: Callable[[], T]) -> T:
    """Load a page's data, or show the last data loaded when the database stays
    locked (a sync merging).

    The last successful result per `key` is kept in the session. When the
    database is locked, that result is returned under a warning naming when it
    was loaded; with nothing kept, one error line ends the page. Other errors
    are one error line too.
    """
    try:
        return _load_kept(key, load)
    except DatabaseLocked as exc:
        kept = st.session_state.get(_KEPT, {}).get(key)
        if kept is None:
            st.error(str(exc))
            st.stop()
        st.warning(
            "A sync is merging new data; showing the data loaded at "
            f"{kept.loaded_at:%H:%M} UTC."
        )
        return kept.value
    except TvmError as exc:
        st.error(str(exc))
        st.stop()


def render_freshness(settings) -> None:
    """The sidebar's data freshness: last sync, a sync running, a failed run."""
    if settings.demo:
        st.sidebar.caption(_demo_caption(settings))
    try:
        status = _load_kept("sync_status", lambda: store.load_sync_status(settings))
    except DatabaseLocked:
        status = st.session_state.get(_KEPT, {}).get("sync_status")
        status = status.value if status else None
    except TvmError:
        status = None  # the page reports what is wrong with the database
    if status is not None:
        st.sidebar.caption(labels.synced_ago(status, datetime.now(UTC)))
    if sync_in_progress(settings.db):
        st.sidebar.caption("Sync in progress · pages show the last finished sync.")
    last = (status or {}).get("last_run")
    if last and last["outcome"] == "failed":
        st.sidebar.warning(f"The last sync failed: {last['error']}")


def _load_kept(key: str, load: Callable[[], T]) -> T:
    # After one lock in this run, the other reads skip the wait and use what
    # is kept, so a locked database costs the user one wait, not one per read.
    locked = st.session_state.get(_LOCKED_THIS_RUN)
    if locked:
        raise DatabaseLocked(locked)
    try:
        value = load()
    except DatabaseLocked as exc:
        st.session_state[_LOCKED_THIS_RUN] = str(exc)
        raise
    kept = st.session_state.setdefault(_KEPT, {})
    kept[key] = _Kept(value, datetime.now(UTC))
    return value


def _demo_caption(settings) -> str:
    if demo.running_emulator() is None:
        return (
            "Demo mode · emulator stopped: the pages show the demo data as last "
            "synced; new syncs need `python -m tvmdata demo up`."
        )
    return (
        "Demo mode: a generated tenant served by the local emulator at "
        f"{settings.api_base}."
    )
