"""What every page shares: the deployment's settings, who is signed in, the data
freshness, and reads that survive a locked database."""

from __future__ import annotations

import os
import re
import runpy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import streamlit as st

from tvmdata import access, background, demo, labels, remediation, store, views
from tvmdata.config import load_settings
from tvmdata.errors import AccessRefused, DatabaseLocked, SignInRequired, TvmError
from tvmdata.staging import read_progress
from tvmdata.sync import sync_in_progress

T = TypeVar("T")
FRAME_SCRIPT = Path(__file__).resolve().parent.parent / "dashboard.py"
_FRAME = threading.local()
_KEPT = "tvm_kept_results"
_LOCKED_THIS_RUN = "tvm_database_locked_this_run"
_WARNED_THIS_RUN = "tvm_lock_warned_this_run"
GROUPS_KEY = "device_groups"
_ALL_GROUPS = "tvm_all_device_groups"
# The chosen groups in the address (`?groups=101&groups=102`), so a shared link
# keeps them; every group is no parameter.
GROUPS_PARAM = "groups"
_GROUPS_READ = "tvm_device_groups_read_from_address"
_SYNC_NOTICE = "tvm_sync_now_notice"
_WATCHED_SYNC = "tvm_watched_sync"
_ACTOR = "tvm_actor"
NO_GROUPS_LINE = (
    "No device group is assigned to you, so the pages are empty: ask an "
    "administrator to add you under [access.scopes]."
)
NO_SIGN_IN_LINE = (
    "No sign-in: everyone who opens this address acts as the operator, with "
    "every right."
)
NOTES_HELP = (
    f"Optional, up to {remediation.MAX_NOTES:,} characters, shown as plain text."
)
POLL_SECONDS = 3
FAILURES_FOR_BANNER = 3
START_GRACE_SECONDS = 30


@dataclass(frozen=True)
class _Kept:
    value: object
    loaded_at: datetime


@contextmanager
def inside_frame() -> Iterator[None]:
    """Mark the page the frame (dashboard.py) runs as running inside it."""
    _FRAME.active = True
    try:
        yield
    finally:
        _FRAME.active = False


def require_frame() -> None:
    """Run the frame when Streamlit ran a page file on its own.

    A new server takes the files in pages/ for pages of their own until the
    frame has called `st.navigation` once, so the very first visitor who opens
    a page's address directly would get that page without the sidebar. Then
    the frame runs here instead: it chooses this same page from the address
    and runs it inside itself.
    """
    if getattr(_FRAME, "active", False):
        return
    runpy.run_path(str(FRAME_SCRIPT), run_name="__main__")
    st.stop()


# Characters Streamlit's Markdown acts on: emphasis, links, HTML, code, math,
# tables, strike-through and headings.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>$~|#])")


def plain(text) -> str:
    """`text` (from Defender, a requester or the address) escaped so that a
    Markdown element shows it as typed."""
    return _MARKDOWN.sub(r"\\\1", str(text))


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
        st.error(plain(exc))
        st.stop()


def identify_user():
    """The signed-in user as an `access.Actor`, or None after showing why the
    pages are closed (settings to fix, sign-in needed, or a refusal).

    Nothing here stops the run: the frame builds its navigation first.
    """
    try:
        settings = current_settings()
        policy = access.load_policy(settings)
        actor = access.identify(policy, _claims(), _group_names(settings))
    except SignInRequired as exc:
        _render_sign_in(policy, str(exc))
        return None
    except AccessRefused as exc:
        st.title("Access refused")
        st.error(plain(exc))
        st.button("Sign out", on_click=st.logout, key="sign_out_refused")
        return None
    except TvmError as exc:
        st.error(plain(exc))
        return None
    st.session_state[_ACTOR] = actor
    return actor


def current_actor() -> access.Actor:
    """Who this run acts for (set by the frame on every run)."""
    return st.session_state.get(_ACTOR, access.OPERATOR)


def may(right: str) -> bool:
    """Whether the current user's role holds `right` (see `access.RIGHTS`)."""
    return current_actor().may(right)


def _claims() -> dict:
    return dict(st.user.to_dict())


def _group_names(settings) -> dict[int, str]:
    """Every device group, id → name, for resolving scopes; empty without data."""
    try:
        groups = _load_kept(
            "device_groups", lambda: _device_groups(*data_version(settings), settings)
        )
    except TvmError:
        kept = st.session_state.get(_KEPT, {}).get("device_groups")
        if kept is None:
            return {}
        groups = kept.value
    return {
        int(i): n for i, n in zip(groups["group_id"], groups["group_name"], strict=True)
    }


def _render_sign_in(policy: access.AccessPolicy, message: str) -> None:
    st.title("Remediation dashboard")
    st.write(message)
    st.button(
        "Sign in with Microsoft",
        type="primary",
        icon=":material/login:",
        key="sign_in",
        on_click=st.login,
        args=(policy.provider,) if policy.provider else (),
    )


def render_identity(actor: access.Actor) -> None:
    """The sidebar's line on who is signed in, or that nobody needs to be."""
    if not actor.signed_in:
        st.sidebar.caption(NO_SIGN_IN_LINE)
        return
    scope = (
        "every device group"
        if actor.groups is None
        else (
            f"{len(actor.groups)} device group{'s' if len(actor.groups) != 1 else ''}"
        )
    )
    st.sidebar.caption(f"Signed in as {plain(actor.email)} · {actor.role} · {scope}")
    if actor.groups == frozenset():
        st.sidebar.warning(NO_GROUPS_LINE)
    st.sidebar.button("Sign out", on_click=st.logout, key="sign_out")


def start_run() -> None:
    """Forget this session's last lock: each run tries the database again."""
    st.session_state[_LOCKED_THIS_RUN] = None
    st.session_state[_WARNED_THIS_RUN] = False


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
            st.error(plain(exc))
            st.stop()
        # One notice per page run, however many of its reads fall back.
        if not st.session_state.get(_WARNED_THIS_RUN):
            st.session_state[_WARNED_THIS_RUN] = True
            st.warning(
                "A sync is merging new data; showing the data loaded at "
                f"{kept.loaded_at:%H:%M} UTC."
            )
        return kept.value
    except TvmError as exc:
        st.error(plain(exc))
        st.stop()


def render_freshness(settings) -> None:
    """The sidebar's data freshness: last sync, a sync running, a failed run.

    While a sync runs (or one was just started here) the block polls every
    `POLL_SECONDS`; when that sync ends, the data caches are cleared and the
    whole app reruns, so every page shows the new data. Nothing polls while
    no sync runs.
    """
    if settings.demo:
        st.sidebar.caption(_demo_caption(settings))
    watched = sync_in_progress(settings.db) or _WATCHED_SYNC in st.session_state
    with st.sidebar:
        st.fragment(_freshness, run_every=POLL_SECONDS if watched else None)(settings)


def _freshness(settings) -> None:
    running = sync_in_progress(settings.db)
    status = _sync_status(settings)
    if _sync_ended(running, status):
        st.cache_data.clear()
        st.rerun(scope="app")
    if status is not None:
        st.caption(labels.synced_ago(status, datetime.now(UTC)))
    # A sync started here counts from the click: its process takes a moment
    # to start and take the lock.
    if running or _WATCHED_SYNC in st.session_state:
        st.caption("Sync in progress · pages show the last finished sync.")
        for line in labels.sync_progress(read_progress(settings.db)):
            st.caption(line)
    last = (status or {}).get("last_run")
    if last and last["outcome"] == "failed":
        st.warning(f"The last sync failed: {plain(last['error'])}")


def render_failure_banner(settings) -> None:
    """A banner above every page once `FAILURES_FOR_BANNER` syncs in a row
    have failed (a scheduled sync may fail unseen); it goes when one succeeds."""
    status = _sync_status(settings) or {}
    failed = status.get("failed_in_a_row") or 0
    if failed < FAILURES_FOR_BANNER:
        return
    last = status.get("last_run") or {}
    st.error(
        f"The last {failed} syncs failed. {labels.data_as_of(status)}. Latest "
        f"reason: {last.get('error') or 'not recorded.'} Fix it, then press Sync "
        "now; this notice stays until a sync succeeds.",
        icon=":material/sync_problem:",
    )


def _sync_status(settings) -> dict | None:
    try:
        return _load_kept("sync_status", lambda: store.load_sync_status(settings))
    except DatabaseLocked:
        kept = st.session_state.get(_KEPT, {}).get("sync_status")
        return kept.value if kept else None
    except TvmError:
        return None  # the page reports what is wrong with the database


def _sync_ended(running: bool, status: dict | None) -> bool:
    """Whether the sync this session watched has just ended; keeps watching a
    running one. A sync started here counts as ended once it was seen running,
    once a newer run is recorded, or after `START_GRACE_SECONDS` (it may have
    failed to start, or finished between two polls)."""
    watched = st.session_state.get(_WATCHED_SYNC)
    if running:
        st.session_state[_WATCHED_SYNC] = {"seen": True}
        return False
    if watched is None:
        return False
    last_id = (status or {}).get("last_id")
    started = watched.get("started")
    if (
        watched.get("seen")
        or last_id != watched.get("last_id")
        or started is None
        or (datetime.now(UTC) - started).total_seconds() > START_GRACE_SECONDS
    ):
        del st.session_state[_WATCHED_SYNC]
        return True
    return False


def render_sync_now(settings) -> None:
    """The sidebar's "Sync now" button, disabled while a sync runs or one
    started here has not yet been seen to end (a double click starts only one).

    The sync starts in the button's callback, which runs once per click, so a
    rerun of the page never starts a second one. Left out for users whose
    role may not start syncs.
    """
    if not may("sync"):
        return
    st.sidebar.button(
        "Sync now",
        key="sync_now",
        icon=":material/sync:",
        disabled=sync_in_progress(settings.db) or _WATCHED_SYNC in st.session_state,
        on_click=_start_sync,
        args=(settings,),
        help="Fetch Defender's data now, in the background; the pages keep "
        "showing the last finished sync until it is merged.",
    )
    notice = st.session_state.pop(_SYNC_NOTICE, None)
    if notice is None:
        return
    failed, text = notice
    if failed:
        st.sidebar.error(plain(text))
    else:
        st.toast(text, icon=":material/sync:")


def _start_sync(settings) -> None:
    try:
        background.start_sync(settings, source="dashboard", started_by=current_actor())
    except TvmError as exc:
        st.session_state[_SYNC_NOTICE] = (True, str(exc))
    except OSError as exc:
        st.session_state[_SYNC_NOTICE] = (
            True,
            f"The sync could not start: {exc.strerror or exc}.",
        )
    else:
        st.session_state[_SYNC_NOTICE] = (False, "Sync started")
        kept = st.session_state.get(_KEPT, {}).get("sync_status")
        st.session_state[_WATCHED_SYNC] = {
            "started": datetime.now(UTC),
            "last_id": kept.value.get("last_id") if kept else None,
        }


def data_version(settings) -> tuple[str, int | None]:
    """What cached reads are keyed by: the database and its latest sync run, so
    a new sync (or another database) reads afresh."""
    kept = st.session_state.get(_KEPT, {}).get("sync_status")
    run_id = kept.value.get("last_id") if kept is not None else None
    return str(settings.db), run_id


def selected_groups() -> list[int] | None:
    """The device groups chosen in the sidebar: None for every group (none
    chosen, all chosen, or the filter not drawn), else their ids; for a user
    limited to some groups, always a list within them."""
    chosen = st.session_state.get(GROUPS_KEY)
    every = st.session_state.get(_ALL_GROUPS)
    if not chosen or every is None or set(every) <= set(chosen):
        chosen = None
    # A user limited to some device groups never gets "every group".
    return current_actor().scoped(chosen)


def groups_label(chosen: int, total: int) -> str:
    """The filter's label: "Device groups: all 11" or "Device groups: 5 of 11"."""
    if chosen == 0 or chosen >= total:
        return f"Device groups: all {total}"
    return f"Device groups: {chosen} of {total}"


def clear_group_filter() -> None:
    """Back to every device group (for a callback, before the sidebar draws)."""
    st.session_state[GROUPS_KEY] = []


def render_group_filter(settings) -> None:
    """The sidebar's device-group filter; choosing none means every group.

    Without the list of groups (no database yet, or a locked one with nothing
    loaded before) the filter is left out and pages show every group.
    """
    try:
        groups = _load_kept(
            "device_groups",
            lambda: _device_groups(*data_version(settings), settings),
        )
    except TvmError:
        kept = st.session_state.get(_KEPT, {}).get("device_groups")
        if kept is None:
            st.session_state.pop(_ALL_GROUPS, None)
            return
        groups = kept.value
    scope = current_actor().groups
    if scope is not None:
        groups = groups[groups["group_id"].isin(list(scope))]
    names = dict(zip(groups["group_id"], groups["group_name"], strict=True))
    ids = [int(i) for i in groups["group_id"]]
    previous = st.session_state.get(_ALL_GROUPS)
    chosen = _chosen_groups()
    # Groups the last sync brought join a choice that held every group.
    everything = chosen and previous is not None and set(previous) <= set(chosen)
    chosen = ids if everything else [i for i in chosen if i in names]
    st.session_state[GROUPS_KEY] = chosen
    st.session_state[_ALL_GROUPS] = ids
    st.sidebar.multiselect(
        groups_label(len(chosen), len(ids)),
        options=ids,
        format_func=lambda group_id: names.get(group_id, str(group_id)),
        key=GROUPS_KEY,
        placeholder="All device groups",
        help="Every page shows the chosen device groups only; choose none to "
        "see every group.",
    )
    write_groups_to_address(st.session_state[GROUPS_KEY], ids)


def _chosen_groups() -> list[int]:
    """The sidebar's choice; on a session's first run, the address's."""
    if st.session_state.get(_GROUPS_READ):
        return st.session_state.get(GROUPS_KEY) or []
    st.session_state[_GROUPS_READ] = True
    return st.session_state.get(GROUPS_KEY) or groups_in_address()


def groups_in_address() -> list[int]:
    """The device-group ids the address names (`?groups=101&groups=102`, or
    `?groups=101,102`); anything that is not an id is left out."""
    ids = []
    for value in st.query_params.get_all(GROUPS_PARAM):
        ids += [int(p) for p in value.split(",") if p.strip().isdigit()]
    return list(dict.fromkeys(ids))


def write_groups_to_address(chosen: list[int], every: list[int]) -> None:
    """Put a choice that narrows the pages in the address; every group (none
    chosen, or all) is no parameter. The frame calls this on every run, so the
    parameter comes back after a page switch drops it."""
    narrows = chosen and not set(every) <= set(chosen)
    wanted = [str(i) for i in sorted(chosen)] if narrows else []
    if st.query_params.get_all(GROUPS_PARAM) == wanted:
        return
    if wanted:
        st.query_params[GROUPS_PARAM] = wanted
    else:
        del st.query_params[GROUPS_PARAM]


@st.cache_data(show_spinner=False, ttl=3600)
def _device_groups(db: str, run_id: int | None, _settings):
    return views.list_device_groups(_settings)


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


# Tables whose chosen row is kept in the address, and filters kept there too.
NO_SELECTION = {"selection": {"rows": [], "columns": [], "cells": []}}


def follow_table_selection(table_key: str, param: str, shown_key: str) -> None:
    """A row chosen in the table `table_key` becomes `?<param>=<its id>` before
    the page draws, so a chosen item can lead and its address be shared.

    The ids of the rows the table showed on the last run are kept under
    `shown_key`; a selection that has not changed since then leaves the address
    alone (the address may have been set by a link instead).
    """
    event = st.session_state.get(table_key)
    rows = list(event["selection"]["rows"]) if event else []
    last_key = f"{table_key}_last_rows"
    if rows == st.session_state.get(last_key, []):
        return
    st.session_state[last_key] = rows
    shown = st.session_state.get(shown_key, [])
    if rows and rows[0] < len(shown):
        st.query_params[param] = str(shown[rows[0]])
    elif param in st.query_params:
        del st.query_params[param]


def selectable_table(
    frame, table_key: str, shown_key: str, ids, height: int | None = None, **options
) -> None:
    """A full-width table of `frame` whose chosen row `follow_table_selection`
    turns into an address: `ids` are its rows' ids, kept under `shown_key` for
    the next run; `options` are `st.dataframe`'s (columns, their order)."""
    st.session_state[shown_key] = list(ids)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        height=height or "auto",
        placeholder="",
        key=table_key,
        on_select="rerun",
        selection_mode="single-row",
        **options,
    )


def forget_table_selection(table_key: str, param: str) -> None:
    """Clear the chosen row of `table_key` and `?<param>=` (for callbacks)."""
    if param in st.query_params:
        del st.query_params[param]
    st.session_state[table_key] = NO_SELECTION
    st.session_state[f"{table_key}_last_rows"] = []


def write_filters_to_address(
    filters: dict, address_text: Callable[[str, object], object]
) -> None:
    """Each filter in the address, so a view can be shared: `filters` maps a
    widget key to (address name, default); a filter at its default or empty is
    left out. `address_text(name, value)` gives the text (or texts, for a
    list) a value takes there."""
    for key, (name, default) in filters.items():
        value = st.session_state.get(key, default)
        if value == default or value in (None, "", []):
            if name in st.query_params:
                del st.query_params[name]
            continue
        wanted = address_text(name, value)
        current = st.query_params.get_all(name)
        if (current if len(current) != 1 else current[0]) != wanted:
            st.query_params[name] = wanted


ROW_PIXELS = 35


def table_height(rows: int, visible: int = 20) -> int:
    """Pixels for a table showing up to `visible` of its `rows` at once (at
    least one), its header row and its 3 px of border."""
    return (min(max(rows, 1), visible) + 1) * ROW_PIXELS + 3
