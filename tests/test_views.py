"""The dashboard's reads over a small hand-made tenant synced three times.

The tenant is built through the emulator and the real sync at 2 Mar, 6 Mar and
10 Mar 2026 (06:00 UTC), so "a week ago" from 10 Mar falls after the first sync.
Ties are there on purpose: activities share due dates, exposed-device counts,
titles and creation times, so every order is checked down to its last key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from tests.conftest import store_built_by
from tests.test_sync import machine, ref, task, tenant_with
from tvmdata import store, views
from tvmdata.clock import FakeClock
from tvmdata.emulator import Emulator
from tvmdata.sync import sync_tenant

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=4)
T2 = T0 + timedelta(days=8)
TODAY = T2.date()
LOCALLY_COMPLETED_AT = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)
FINANCE, HR, ENGINEERING, ACCOUNTING, UNASSIGNED = 101, 102, 103, 104, 0

# Creation order, newest first; ids break the tie of the seven created at once.
NEWEST_FIRST = [
    "late",
    "attn", "auto", "local", "t-0", "t-1", "t-2", "t-9",
    "ovd",
    "manual",
    "unknown",
]  # fmt: skip
ACTIVE = ["late", "attn", "t-0", "t-1", "t-2", "t-9", "ovd"]


def machines_at(stage: int) -> list[dict]:
    """Machines of the tenant at sync 1, 2 or 3. h2 moves from HR to Finance
    after the first sync; u1 falls silent before the third."""
    h2_group = (HR, "HR") if stage == 1 else (FINANCE, "Finance")
    u1_seen = T0 if stage < 3 else T0 - timedelta(days=40)
    return [
        machine("f1", FINANCE, "Finance"),
        machine("f2", FINANCE, "Finance"),
        machine("f3", FINANCE, "Finance"),
        machine("h1", HR, "HR"),
        machine("h2", *h2_group),
        machine("u1", UNASSIGNED, None, last_seen=u1_seen),
        machine("e1", ENGINEERING, "Engineering"),
        machine("a1", ACCOUNTING, "accounting"),
    ]


def activity(task_id, title, fixed, target, groups, due, priority, **extra):
    fields = {
        "title": title,
        "rbacGroupNames": groups,
        "dueOn": f"{due}T00:00:00Z" if due else None,
        "priority": priority,
        "requesterEmail": "secops@contoso.test",
    }
    return task(task_id, fixed, target, **{**fields, **extra})


def completed(when: str, **extra) -> dict:
    return {"status": "Completed", "statusLastModifiedOn": when, **extra}


def activities_at(stage: int) -> list[dict]:
    """The remediation activities Defender returns at sync 1, 2 or 3."""
    ovd_fixed = {1: 0, 2: 1, 3: 2}[stage]
    auto_done = completed("2026-03-08T12:00:00Z", completionMethod="Automatic")
    auto_state = auto_done if stage == 3 else {}
    tasks = [
        activity(
            "ovd", "Update Contoso Reader", ovd_fixed, 5,
            ["Finance", "HR", "UnassignedGroup"], "2026-03-05", "High",
            relatedComponent="contoso_reader", productId="contoso-_-reader",
            vendorId="contoso", nameId="reader", createdOn="2026-02-01T09:00:00Z",
        ),
        activity(
            "t-9", "Update Zulu", 1, 6, ["Finance"], "2026-03-20", "Medium",
            relatedComponent="Zulu 100% Edition",
        ),
        activity(
            "t-2", "Update Alpha", 0, 2, ["UnassignedGroup"], "2026-03-20", "High",
            type="ConfigurationChange", category="SecurityConfiguration",
            scid="scid-2011", relatedComponent="Alpha",
        ),
        activity(
            "t-0", "Update Beta", 1, 3, ["HR"], "2026-03-20", "Low",
            relatedComponent="O'Brien Beta", requesterEmail="Owner@Contoso.test",
        ),
        activity(
            "t-1", "Update Beta", 3, 5, ["Finance", "HR"], "2026-03-20", "Medium",
            relatedComponent="C:\\Tools\\beta",
        ),
        activity(
            "attn", "Attention required: Contoso Legacy", 1, 4, ["HR"], None, "Low",
            type="AttentionRequired", relatedComponent="Contoso Legacy",
        ),
        activity(
            "auto", "Update Fabrikam Agent", 4 if stage == 3 else 2, 4,
            ["Finance"], "2026-03-01", "Medium", **auto_state,
        ),
        activity(
            "local", "Update Contoso Reader", 0, 2, ["HR"], "2026-03-01", "High",
            relatedComponent="Contoso Reader",
        ),
        activity(
            "manual", "Turn on the firewall", 3, 3, ["Finance"], "2026-02-15",
            "High", type="ConfigurationChange", scid="scid-2000",
            createdOn="2026-01-10T08:00:00Z",
            **completed(
                "2026-02-20T15:00:00Z",
                completionMethod="Manual",
                completerEmail="lead@contoso.test",
            ),
        ),
        activity(
            "unknown", "Update Old Viewer", 2, 2, None, "2025-11-01", "Low",
            createdOn="2025-10-01T08:00:00Z", **completed("2025-12-01T10:00:00Z"),
        ),
    ]  # fmt: skip
    if stage >= 2:
        tasks.append(
            activity(
                "late", "Upgrade Zulu 1000 Server", 0, 50, ["Engineering"],
                "2026-05-01", "Low", type="Upgrade", relatedComponent="Zulu 1000",
                productId="fabrikam-_-zulu", requesterEmail="owner@contoso.test",
                createdOn="2026-03-05T12:00:00Z",
            )
        )  # fmt: skip
    return tasks


def exposed_for_ovd(stage: int, machines: list[dict]) -> list[dict]:
    """f2 is fixed at sync 2 and exposed again at 3; f1 is fixed at sync 3;
    u1 leaves the list at sync 3 while silent, so it is no longer reported."""
    names = {1: "f1 f2 h1 h2 u1", 2: "f1 h1 h2 u1", 3: "f2 h1 h2"}[stage].split()
    return [ref(m) for m in machines if m["id"] in names]


RECOMMENDATIONS = [
    {"id": "sca-_-scid-2011", "recommendationName": "Turn on Alpha protection"},
    {"id": "sca-_-scid-20110", "recommendationName": "A longer scid, not a match"},
    {"id": "scid-2000", "recommendationName": "Turn on the firewall"},
    {"id": "va-_-contoso-_-reader", "recommendationName": "Update Contoso Reader"},
]


def build_tenant(emulator: Emulator, settings) -> None:
    clock = FakeClock(T0)
    recommendations = [{**r, "exposedMachinesCount": 0} for r in RECOMMENDATIONS]
    for stage, moment in ((1, T0), (2, T1), (3, T2)):
        clock.set(moment)
        machines, tasks = machines_at(stage), activities_at(stage)
        lists = {t["id"]: [] for t in tasks}
        lists["ovd"] = exposed_for_ovd(stage, machines)
        tenant_with(emulator, machines, tasks, lists, recommendations)
        sync_tenant(settings, clock=clock)
    store.mark_completed(
        settings, "local", "analyst@contoso.test", LOCALLY_COMPLETED_AT
    )


def build_store(folder):
    """Settings of a store in `folder` holding this module's tenant."""
    return store_built_by(folder, build_tenant)


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """Settings of a store holding the tenant. Built once: the tests only read."""
    return build_store(tmp_path_factory.mktemp("views"))


def ids(frame) -> list[str]:
    return frame["activity_id"].tolist()


def listed(settings, **filters) -> list[str]:
    return ids(views.filter_activities(settings, today=TODAY, **filters))


def test_device_groups_are_listed_by_name_with_unassigned_last(synced):
    groups = views.list_device_groups(synced)

    assert groups.to_dict("list") == {
        "group_id": [ACCOUNTING, ENGINEERING, FINANCE, HR, UNASSIGNED],
        "group_name": ["accounting", "Engineering", "Finance", "HR", "Unassigned"],
        "devices": [1, 1, 4, 1, 1],
    }


def test_top_activities_put_overdue_first_then_due_date_exposure_title_and_id(
    synced,
):
    top = views.load_top_activities(synced, today=TODAY)

    # t-9, t-2, t-0 and t-1 share a due date; t-9 has 5 devices still exposed,
    # the others 2; t-0 and t-1 share a title too, so their ids decide.
    assert ids(top) == ["ovd", "t-9", "t-2", "t-0", "t-1", "late"]
    assert top["overdue"].tolist() == [True] + [False] * 5
    assert top["exposed_devices"].tolist() == [3, 5, 2, 2, 2, 50]
    assert top["progress"].round(3).tolist() == [0.4, 0.167, 0.0, 0.333, 0.6, 0.0]
    assert list(top.columns) == [
        "activity_id", "title", "priority", "due_on", "overdue", "fixed_devices",
        "target_devices", "exposed_devices", "progress", "device_groups",
        "group_fixed_devices", "group_target_devices", "group_exposed_devices",
        "group_progress",
    ]  # fmt: skip


def test_top_activities_honour_the_limit_and_the_device_groups(synced):
    first_three = views.load_top_activities(synced, today=TODAY, limit=3)
    hr = views.load_top_activities(synced, groups=[HR], today=TODAY)
    unassigned = views.load_top_activities(synced, groups=[UNASSIGNED], today=TODAY)

    assert ids(first_three) == ["ovd", "t-9", "t-2"]
    assert ids(hr) == ["ovd", "t-0", "t-1"]
    assert ids(unassigned) == ["ovd", "t-2"]


def test_an_activity_due_today_is_not_yet_overdue(synced):
    on_the_day = views.load_top_activities(synced, today=date(2026, 3, 5))
    next_day = views.load_top_activities(synced, today=date(2026, 3, 6))

    assert ids(on_the_day)[0] == "ovd" and not on_the_day["overdue"].any()
    assert ids(next_day)[0] == "ovd" and next_day["overdue"].tolist()[0]


def devices_at_first_sync(group_name: str | None = None) -> tuple[int, int]:
    """Fixed and target devices of the activities active at sync 1 (the last
    before a week ago), as the tenant served them, optionally of one group."""
    now = {t["id"]: t for t in activities_at(3)}
    active = [
        t
        for t in activities_at(1)
        if t["status"] == "Active"
        and t.get("type") != "AttentionRequired"
        and t["id"] in now
        and (group_name is None or group_name in now[t["id"]]["rbacGroupNames"])
    ]
    return sum(t["fixedDevices"] for t in active), sum(
        t["targetDevices"] for t in active
    )


def test_kpis_now_and_a_week_ago(synced):
    kpis = views.load_kpis(synced, today=TODAY)
    fixed_then, targeted_then = devices_at_first_sync()

    # A week ago (end of 3 Mar): "late" did not exist yet; "auto" (completed
    # 8 Mar) and "local" (marked complete here 9 Mar) were active and overdue;
    # "manual" had completed on 20 Feb.
    assert kpis == {
        "active_activities": {"value": 7, "week_ago": 8},
        "overdue_activities": {"value": 1, "week_ago": 2},
        "devices_fixed": {"value": 7, "week_ago": fixed_then},
        "devices_targeted": {"value": 71, "week_ago": targeted_then},
        "completed_last_30_days": {"value": 3, "week_ago": 1},
    }


def test_kpis_of_one_device_group(synced):
    kpis = views.load_kpis(synced, groups=[FINANCE], today=TODAY)
    fixed_then, targeted_then = devices_at_first_sync("Finance")

    assert kpis == {
        "active_activities": {"value": 3, "week_ago": 4},
        "overdue_activities": {"value": 1, "week_ago": 1},
        "devices_fixed": {"value": 6, "week_ago": fixed_then},
        "devices_targeted": {"value": 16, "week_ago": targeted_then},
        "completed_last_30_days": {"value": 2, "week_ago": 1},
    }


def test_kpis_have_no_week_ago_values_before_the_first_sync_reached_back(synced):
    # A week before 8 Mar ends at midnight on 2 Mar, before the first sync.
    short = views.load_kpis(synced, today=date(2026, 3, 8))
    enough = views.load_kpis(synced, today=date(2026, 3, 9))

    assert {k["week_ago"] for k in short.values()} == {None}
    assert enough["active_activities"]["week_ago"] == 8


def test_kpis_of_no_device_group_are_zero(synced):
    kpis = views.load_kpis(synced, groups=[], today=TODAY)

    assert {name: k["value"] for name, k in kpis.items()} == dict.fromkeys(
        views.KPI_NAMES, 0
    )


def test_remediated_over_time_gives_each_day_and_group(synced):
    totals = views.load_remediated_over_time(synced)
    finance = views.load_remediated_over_time(synced, groups=[FINANCE])

    rows = [
        (str(r.day)[:10], r.group_name, r.fixed_devices, r.exposed_devices)
        for r in totals.itertuples()
    ]
    assert rows == [
        ("2026-03-02", "Finance", 0, 2), ("2026-03-02", "HR", 0, 2),
        ("2026-03-02", "Unassigned", 0, 1),
        ("2026-03-06", "Finance", 1, 2), ("2026-03-06", "HR", 0, 1),
        ("2026-03-06", "Unassigned", 0, 1),
        ("2026-03-10", "Finance", 1, 2), ("2026-03-10", "HR", 0, 1),
        ("2026-03-10", "Unassigned", 0, 0),
    ]  # fmt: skip
    assert finance["group_id"].tolist() == [FINANCE] * 3
    assert finance["fixed_devices"].tolist() == [0, 1, 1]


def test_activity_counts_per_status_and_priority(synced):
    counts = views.load_activity_counts(synced)
    hr = views.load_activity_counts(synced, groups=[HR])

    assert list(counts.itertuples(index=False, name=None)) == [
        ("Active", "High", 2), ("Active", "Medium", 2), ("Active", "Low", 3),
        ("Completed", "High", 2), ("Completed", "Medium", 1),
        ("Completed", "Low", 1),
    ]  # fmt: skip
    assert list(hr.itertuples(index=False, name=None)) == [
        ("Active", "High", 1), ("Active", "Medium", 1), ("Active", "Low", 2),
        ("Completed", "High", 1),
    ]  # fmt: skip


def test_overdue_activities_per_device_group(synced):
    every = views.load_overdue_by_group(synced, today=TODAY)
    chosen = views.load_overdue_by_group(synced, groups=[HR, ENGINEERING], today=TODAY)
    week_ago = views.load_overdue_by_group(synced, today=date(2026, 3, 3))

    assert list(every.itertuples(index=False, name=None)) == [
        ("Finance", FINANCE, 1), ("HR", HR, 1), ("Unassigned", UNASSIGNED, 1),
        ("accounting", ACCOUNTING, 0), ("Engineering", ENGINEERING, 0),
    ]  # fmt: skip
    assert list(chosen.itertuples(index=False, name=None)) == [
        ("HR", HR, 1),
        ("Engineering", ENGINEERING, 0),
    ]
    # Statuses are today's; only the date moves: auto and local stay completed.
    assert week_ago["overdue_activities"].sum() == 0


def test_activities_are_listed_newest_first_with_ids_breaking_ties(synced):
    assert listed(synced, status=None) == NEWEST_FIRST
    assert listed(synced) == ACTIVE
    assert listed(synced, status="Completed") == ["auto", "local", "manual", "unknown"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"priorities": ["Medium"]}, ["auto", "t-1", "t-9"]),
        ({"priorities": ["Low", "High"]}, [
            "late", "attn", "local", "t-0", "t-2", "ovd", "manual", "unknown",
        ]),
        ({"priorities": []}, []),
        ({"types": ["ConfigurationChange"]}, ["t-2", "manual"]),
        ({"types": ["AttentionRequired", "Upgrade"]}, ["late", "attn"]),
        ({"groups": [FINANCE]}, ["auto", "t-1", "t-9", "ovd", "manual"]),
        ({"groups": [UNASSIGNED]}, ["t-2", "ovd"]),
        ({"groups": [HR, ENGINEERING]}, [
            "late", "attn", "local", "t-0", "t-1", "ovd",
        ]),
        ({"groups": [ACCOUNTING]}, []),
        ({"groups": [999]}, []),
        ({"groups": []}, []),
        ({"created_by": "owner@contoso.test"}, ["late", "t-0"]),
        ({"created_by": ["OWNER@contoso.test", "nobody@contoso.test"]}, [
            "late", "t-0",
        ]),
        ({"due_from": date(2026, 3, 20)}, ["late", "t-0", "t-1", "t-2", "t-9"]),
        ({"due_to": date(2026, 3, 5)}, ["auto", "local", "ovd", "manual", "unknown"]),
        ({"due_from": date(2026, 3, 1), "due_to": date(2026, 3, 1)}, [
            "auto", "local",
        ]),
        ({"overdue_only": True}, ["ovd"]),
    ],
)  # fmt: skip
def test_each_filter_alone_over_every_status(synced, filters, expected):
    assert listed(synced, status=None, **filters) == expected


def test_filters_combine(synced):
    chosen = listed(
        synced,
        status="Active",
        priorities=["High", "Medium"],
        types=["Update"],
        groups=[FINANCE, HR],
        search="update",
        due_to=date(2026, 3, 31),
    )

    assert chosen == ["t-1", "t-9", "ovd"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("CONTOSO READER", ["local", "ovd"]),
        ("contoso_reader", ["ovd"]),
        ("100%", ["t-9"]),
        ("%", ["t-9"]),
        ("_", ["ovd"]),
        ("o'brien", ["t-0"]),
        ("\\tools\\", ["t-1"]),
        ("'; drop table activities; --", []),
        ("", NEWEST_FIRST),
        ("   ", NEWEST_FIRST),
    ],
)
def test_search_takes_wildcards_quotes_and_backslashes_literally(
    synced, search, expected
):
    assert listed(synced, status=None, search=search) == expected


def test_completed_by_has_its_three_forms_and_completions_made_here(synced):
    every = views.filter_activities(synced, status=None, today=TODAY)
    completed_by = dict(zip(every["activity_id"], every["completed_by"], strict=True))
    here = dict(zip(every["activity_id"], every["completed_here"], strict=True))

    assert {k: completed_by[k] for k in ("auto", "manual", "unknown", "local")} == {
        "auto": "System confirmation",
        "manual": "lead@contoso.test",
        "unknown": "N/A",
        "local": "analyst@contoso.test",
    }
    assert every.loc[every["status"] == "Active", "completed_by"].isna().all()
    assert [k for k, v in here.items() if v] == ["local"]


def test_attention_required_has_no_progress_and_types_are_worded(synced):
    every = views.filter_activities(synced, status=None, today=TODAY)
    row = every.set_index("activity_id")

    assert row["has_progress"][lambda s: ~s].index.tolist() == ["attn"]
    assert row.loc["attn", "progress"] != row.loc["attn", "progress"]  # NaN
    assert row.loc["late", "remediation_type_label"] == "Software upgrade"
    assert row.loc["t-2", "remediation_type_label"] == "Configuration change"


@pytest.mark.parametrize(
    ("activity_id", "recommendation"),
    [
        ("t-2", ("sca-_-scid-2011", "Turn on Alpha protection")),
        ("manual", ("scid-2000", "Turn on the firewall")),
        ("ovd", ("va-_-contoso-_-reader", "Update Contoso Reader")),
        ("late", (None, None)),
        ("unknown", (None, None)),
    ],
)
def test_detail_names_the_related_recommendation(synced, activity_id, recommendation):
    detail = views.load_activity_detail(synced, activity_id, today=TODAY)

    related = (
        detail["related_recommendation_id"],
        detail["related_recommendation_name"],
    )
    assert related == recommendation


def test_detail_keeps_a_completion_made_here_apart_from_defenders_record(synced):
    local = views.load_activity_detail(synced, "local", today=TODAY)
    manual = views.load_activity_detail(synced, "manual", today=TODAY)

    assert (local["status"], local["defender_status"]) == ("Completed", "Active")
    assert local["completed_by"] == local["local_completed_by"]
    assert local["local_completed_by"] == "analyst@contoso.test"
    assert local["local_completed_at"] == LOCALLY_COMPLETED_AT
    assert local["completed_on"] == LOCALLY_COMPLETED_AT
    assert not local["overdue"], "completed here, so no longer overdue"
    assert manual["completed_by"] == "lead@contoso.test"
    assert manual["local_completed_by"] is None
    assert manual["completed_on"] == datetime(2026, 2, 20, 15, tzinfo=UTC)
    assert {"scid", "product_id", "devices_synced_at", "description"} <= set(local)


def test_detail_of_an_unknown_activity_is_none(synced):
    assert views.load_activity_detail(synced, "no-such-activity") is None


def test_device_history_after_a_fix_a_regression_and_a_silent_device(synced):
    history = views.load_activity_device_history(synced, "ovd")

    rows = [
        (r.machine_id, r.group_name, r.status, r.regressed)
        for r in history.itertuples()
    ]
    assert rows == [
        ("f1", "Finance", "Fixed", False),
        ("f2", "Finance", "Exposed", True),
        ("h1", "HR", "Exposed", False),
        ("h2", "Finance", "Exposed", False),  # moved from HR, still exposed
        ("u1", "Unassigned", "No longer reported", False),
    ]
    assert history["first_exposed"].tolist() == [T0] * 5
    fixed_on = history.set_index("machine_id")["fixed_on"]
    assert fixed_on["f1"] == T2
    assert fixed_on.drop("f1").isna().all()
    assert history["computer_dns_name"].tolist()[0] == "f1.contoso.test"


def test_group_progress_comes_from_the_latest_snapshot(synced):
    progress = views.load_activity_group_progress(synced, "ovd")

    assert list(
        progress[["group_name", "exposed_devices", "fixed_devices"]].itertuples(
            index=False, name=None
        )
    ) == [("Finance", 2, 1), ("HR", 1, 0), ("Unassigned", 0, 0)]
    assert set(progress["tracked_since"]) == {T0}
    assert set(progress["as_of"]) == {T2}


def test_progress_over_time_sums_the_groups_of_each_snapshot(synced):
    over_time = views.load_activity_progress_over_time(synced, "ovd")

    assert list(over_time.itertuples(index=False, name=None)) == [
        (T0, 5, 0),
        (T1, 4, 1),
        (T2, 3, 1),
    ]


def test_an_activity_never_tracked_has_no_group_progress_or_history(synced):
    assert views.load_activity_group_progress(synced, "t-9").empty
    assert views.load_activity_progress_over_time(synced, "t-9").empty
    assert views.load_activity_device_history(synced, "t-9").empty


def group_figures(frame) -> list[tuple]:
    """(activity id, fixed, targeted) in the chosen groups; None where unknown."""
    return [
        (
            row.activity_id,
            None if pd.isna(row.group_fixed_devices) else int(row.group_fixed_devices),
            None
            if pd.isna(row.group_target_devices)
            else int(row.group_target_devices),
        )
        for row in frame.itertuples()
    ]


def test_top_activities_give_the_chosen_groups_figures_from_tracking(synced):
    every = views.load_top_activities(synced, today=TODAY)
    finance = views.load_top_activities(synced, groups=[FINANCE], today=TODAY)
    both = views.load_top_activities(synced, groups=[FINANCE, HR], today=TODAY)
    unassigned = views.load_top_activities(synced, groups=[UNASSIGNED], today=TODAY)

    # Only "ovd" is tracked (the others list no device): its latest snapshot
    # has Finance 2 exposed + 1 fixed, HR 1 exposed, Unassigned none left.
    assert set(every["group_target_devices"].isna()) == {True}
    assert group_figures(finance) == [
        ("ovd", 1, 3), ("t-9", None, None), ("t-1", None, None),
    ]  # fmt: skip
    assert group_figures(both)[0] == ("ovd", 1, 4)
    assert group_figures(unassigned) == [("ovd", 0, 0), ("t-2", None, None)]
    assert finance["group_progress"].round(3).tolist()[0] == 0.333
    assert unassigned["group_progress"].isna().all()
    # Defender's whole-activity figures stay as they were.
    assert finance["fixed_devices"].tolist() == [2, 1, 3]


def test_the_filtered_list_gives_the_chosen_groups_figures_too(synced):
    finance = views.filter_activities(
        synced, status=None, groups=[FINANCE], today=TODAY
    )
    every = views.filter_activities(synced, status=None, today=TODAY)

    assert group_figures(finance) == [
        ("auto", None, None), ("t-1", None, None), ("t-9", None, None),
        ("ovd", 1, 3), ("manual", None, None),
    ]  # fmt: skip
    assert every["group_progress"].isna().all()


def test_requesters_are_listed_once_in_lower_case(synced):
    # "Owner@Contoso.test" (t-0) and "owner@contoso.test" (late) are one person.
    assert views.list_requesters(synced) == [
        "owner@contoso.test",
        "secops@contoso.test",
    ]


def test_the_top_card_for_chosen_groups_leaves_out_work_done_there(settings, emulator):
    clock = FakeClock(T0)
    f1, f2, h1 = (
        machine("f1", 101, "Finance"),
        machine("f2", 101, "Finance"),
        (machine("h1", 102, "HR")),
    )
    machines = [f1, f2, h1]
    tasks = [task("done-in-finance", 0, 2), task("open-in-finance", 0, 1)]
    tenant_with(
        emulator,
        machines,
        tasks,
        {"done-in-finance": [ref(f1), ref(h1)], "open-in-finance": [ref(f2)]},
    )
    sync_tenant(settings, clock=clock)
    clock.advance(3600)
    tasks[0]["fixedDevices"] = 1
    tenant_with(
        emulator,
        machines,
        tasks,
        {"done-in-finance": [ref(h1)], "open-in-finance": [ref(f2)]},
    )
    sync_tenant(settings, clock=clock)

    in_finance = views.load_top_activities(settings, groups=[101], today=T0.date())
    everywhere = views.load_top_activities(settings, today=T0.date())

    assert in_finance["activity_id"].tolist() == ["open-in-finance"]
    assert sorted(everywhere["activity_id"]) == ["done-in-finance", "open-in-finance"]
