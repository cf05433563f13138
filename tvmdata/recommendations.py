"""What the Security recommendations page reads.

A security recommendation is Defender's advice to fix weak software or a weak
setting; its exposed devices are the devices that still need the fix. Each
function opens the store for one read and closes it (see `store`). Device
groups are chosen by id: `groups=None` means every group, an empty list means
none. A recommendation is *covered* when an active remediation activity (status
Active and not marked complete here) names it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pandas as pd

from tvmdata import labels, store

SORTS = ("exposed_devices", "severity_score")
STATUSES = ("Active", "Exception")


def list_recommendations(
    settings,
    *,
    groups: Sequence[int] | None = None,
    search: str | None = None,
    categories: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    public_exploit: bool | None = None,
    active_alert: bool | None = None,
    covered: bool | None = None,
    sort: str = "exposed_devices",
) -> pd.DataFrame:
    """Security recommendations, filtered and sorted, most exposed first.

    Every filter left at None lets everything through; an empty list lets
    nothing through.

    Args:
        settings: deployment settings (database path and lock wait).
        groups: device-group ids. With groups chosen, exposed devices are
            counted within them and a recommendation with none there is left
            out; with None, Defender's own count is shown and every
            recommendation is listed.
        search: text found in the name, product or vendor, case-insensitive
            and literal.
        categories: Defender's categories ("Application", "Network", ...).
        types: remediation types ("Update", "ConfigurationChange", ...).
        statuses: "Active" or "Exception".
        public_exploit: only those with (True) or without (False) one.
        active_alert: only those with (True) or without (False) one.
        covered: only those an active activity covers (True) or not (False).
        sort: "exposed_devices" (then severity) or "severity_score" (then
            exposed devices), both descending; ties by name, then id.

    Returns:
        Columns recommendation_id, name, product_name, vendor, category,
        remediation_type, remediation_type_label, exposed_devices,
        severity_score, public_exploit, active_alert, status, covered,
        covering_activities.

    Raises:
        ValueError: `sort` is not one of `SORTS`.
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    params = {
        "groups": _ids(groups),
        "search": search.strip() if search and search.strip() else None,
        "categories": _texts(categories),
        "types": _texts(types),
        "statuses": _texts(statuses),
        "public_exploit": public_exploit,
        "active_alert": active_alert,
        "covered": covered,
        "sort": sort,
    }
    with _reading(settings) as con:
        frame = store.fetch_frame(con, "recommendation_list", params)
    label = frame["remediation_type"].map(labels.remediation_type, na_action="ignore")
    return frame.assign(remediation_type_label=label)


def list_categories(settings) -> list[str]:
    """The categories of the stored recommendations, by name."""
    with _reading(settings) as con:
        rows = store.fetch_dicts(con, "recommendation_categories")
    return [row["category"] for row in rows]


def load_recommendation(settings, recommendation_id: str) -> dict | None:
    """One recommendation with every stored column; None if unknown.

    Returns:
        The columns of `recommendations` (among them recommended_version,
        weaknesses, severity_score, exposed_devices as Defender counts them and
        no_user_impact_devices, the count of exposed devices a configuration
        change would not disturb), plus covering_activities, covered and
        remediation_type_label.
    """
    params = {"recommendation_id": recommendation_id}
    with _reading(settings) as con:
        found = store.fetch_dicts(con, "recommendation_detail", params)
    if not found:
        return None

    row = found[0]
    row["covered"] = row["covering_activities"] > 0
    row["remediation_type_label"] = labels.remediation_type(row["remediation_type"])
    return row


def load_exposure_by_group(
    settings, recommendation_id: str, groups: Sequence[int] | None = None
) -> pd.DataFrame:
    """A recommendation's exposed devices per device group, from its stored
    exposed-device list, within `groups`.

    Returns:
        Columns group_id, group_name, exposed_devices; most exposed first,
        then by name, Unassigned last. Groups with none are left out.
    """
    params = {"recommendation_id": recommendation_id, "groups": _ids(groups)}
    with _reading(settings) as con:
        return store.fetch_frame(con, "recommendation_group_exposure", params)


def load_exposed_devices(
    settings, recommendation_id: str, groups: Sequence[int] | None = None
) -> pd.DataFrame:
    """The devices a recommendation lists as exposed, within `groups`.

    Returns:
        Columns machine_id, computer_dns_name, os_platform, group_id,
        group_name; by device name.
    """
    params = {"recommendation_id": recommendation_id, "groups": _ids(groups)}
    with _reading(settings) as con:
        return store.fetch_frame(con, "recommendation_exposed_devices", params)


@contextmanager
def _reading(settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with store.open_store(settings) as con:
        store.run_script(con, "read_macros")
        yield con


def _ids(groups: Sequence[int] | None) -> list[int] | None:
    return None if groups is None else [int(g) for g in groups]


def _texts(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else [str(v) for v in values]
