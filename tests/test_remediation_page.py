"""The Remediation page (list, filters, detail, mark as complete) through
AppTest, and the CSV and completion functions behind it.

The store is the hand-made tenant of `tests/test_views.py`, tenant three times
in March 2026; the page judges "overdue" against today, long after every due
date of that tenant, so every active activity with a due date is overdue.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pandas as pd
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from pages.activity_detail import detail_facts, split_devices
from tests.conftest import REPO, load_case
from tests.test_pages import live_environment
from tests.test_views import (
    ACTIVE,
    FINANCE,
    NEWEST_FIRST,
    TODAY,
    build_store,
)
from tvmdata import completion, csvout, exports, labels, store, views
from tvmdata.completion import CompletionRefused

COMPLETED = ["auto", "local", "manual", "unknown"]
SIGNED_IN = {"is_logged_in": True, "email": "lead@contoso.test"}
NOBODY = {"is_logged_in": False}
WHEN = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    """Settings of a store holding the tenant of `tests/test_views.py`."""
    return build_store(tmp_path_factory.mktemp("remediation"))


def open_page(monkeypatch, settings, params=None, user=None) -> AppTest:
    """The dashboard on the Remediation page, frame and sidebar included on this
    run and every later `run()` of the test (see `tests.test_pages.run_on_page`)."""
    live_environment(monkeypatch, settings)
    original = PagesManager.__init__

    def navigation_only(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", navigation_only)
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app.query_params.update(params or {})
    app.user = user or NOBODY
    app.switch_page("pages/remediation.py")
    return app.run()


def in_order(node) -> list:
    """Every element under `node`, in the order the page draws them."""
    children = getattr(node, "children", None)
    if children is None:
        return [node]
    return [e for key in sorted(children) for e in in_order(children[key])]


def activity_table(app: AppTest):
    """The list of activities (the detail draws tables of its own)."""
    assert not app.exception, app.exception
    return next(d for d in app.dataframe if "activity_id" in d.value.columns)


def listed(app: AppTest) -> list[str]:
    return activity_table(app).value["activity_id"].tolist()


def page_words(app: AppTest) -> list[str]:
    return [
        e.value
        for kind in ("title", "caption", "markdown", "text", "info", "subheader")
        for e in app.get(kind)
    ]


def texts(app: AppTest) -> list[str]:
    return [t.value for t in app.text]


def csv_rows(document: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(document.decode("utf-8-sig"))))


# The list and its filters, read from the address


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ACTIVE),
        ({"status": "Completed"}, COMPLETED),
        ({"status": "All"}, NEWEST_FIRST),
        ({"status": "All", "priority": "Medium"}, ["auto", "t-1", "t-9"]),
        ({"status": "All", "priority": ["Low", "Medium"]}, [
            "late", "attn", "auto", "t-0", "t-1", "t-9", "unknown",
        ]),
        ({"status": "All", "type": "ConfigurationChange"}, ["t-2", "manual"]),
        ({"status": "All", "created_by": "owner@contoso.test"}, ["late", "t-0"]),
        ({"status": "All", "due_from": "2026-03-01", "due_to": "2026-03-01"}, [
            "auto", "local",
        ]),
        ({"status": "All", "due_from": "2026-03-20"}, [
            "late", "t-0", "t-1", "t-2", "t-9",
        ]),
        ({"status": "All", "overdue": "1"}, [
            "late", "t-0", "t-1", "t-2", "t-9", "ovd",
        ]),
        ({"q": "contoso reader"}, ["ovd"]),
        ({"status": "All", "q": "CONTOSO READER"}, ["local", "ovd"]),
    ],
)  # fmt: skip
def test_each_filter_in_the_address_lists_exactly_its_activities(
    monkeypatch,
    tenant,
    params,
    expected,
):
    app = open_page(monkeypatch, tenant, params)

    assert listed(app) == expected
    assert app.query_params == params, "the shared view stays in the address"


@pytest.mark.parametrize(
    ("params", "chosen"),
    [
        ({"priority": "high"}, ["High"]),
        ({"priority": ["HIGH", "Urgent"]}, ["High"]),
        ({"type": "configurationchange"}, ["ConfigurationChange"]),
        ({"type": "Bogus"}, []),
    ],
)
def test_a_shared_filter_matches_without_case_and_drops_unknown_values(
    monkeypatch, tenant, params, chosen
):
    app = open_page(monkeypatch, tenant, params)
    key = "filter_priority" if "priority" in params else "filter_type"
    expected = open_page(
        monkeypatch, tenant, {next(iter(params)): chosen} if chosen else {}
    )

    assert app.multiselect(key=key).value == chosen
    assert listed(app) == listed(expected)
    assert listed(app), "an unknown value never empties the list"


def test_a_changed_filter_is_written_to_the_address(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant)

    app.multiselect(key="filter_priority").set_value(["High"]).run()

    assert listed(app) == ["t-2", "ovd"]
    assert app.query_params == {"priority": "High"}


def test_no_match_says_so_and_clearing_the_filters_lists_the_active_ones(
    monkeypatch,
    tenant,
):
    app = open_page(monkeypatch, tenant, {"status": "All", "type": "Uninstall"})
    app.sidebar.multiselect(key="device_groups").set_value([FINANCE]).run()

    assert listed(app) == []
    assert [i.value for i in app.info] == ["No activities match these filters."]
    assert [b.label for b in app.button if b.label == "Clear filters"] == [
        "Clear filters"
    ]
    app.button(key="clear_filters").click().run()

    assert listed(app) == ACTIVE
    assert app.query_params == {}
    groups = app.sidebar.multiselect(key="device_groups")
    assert (groups.value, groups.label) == ([], "Device groups: all 5")
    assert app.button(key="clear_filters").disabled, "nothing left to clear"


def test_the_created_by_filter_offers_the_requesters_in_the_data(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"status": "All"})
    chooser = app.multiselect(key="filter_created_by")

    assert chooser.options == ["owner@contoso.test", "secops@contoso.test"]
    chooser.set_value(["owner@contoso.test"]).run()

    assert listed(app) == ["late", "t-0"]
    assert app.query_params == {"status": "All", "created_by": "owner@contoso.test"}


def test_a_requester_in_the_address_matches_without_regard_to_case(monkeypatch, tenant):
    app = open_page(
        monkeypatch, tenant, {"status": "All", "created_by": "OWNER@contoso.test"}
    )

    assert listed(app) == ["late", "t-0"]
    assert app.multiselect(key="filter_created_by").value == ["owner@contoso.test"]


def test_choosing_no_device_group_shows_every_group(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant)
    chooser = app.sidebar.multiselect(key="device_groups")
    assert (chooser.value, chooser.label) == ([], "Device groups: all 5")

    chooser.set_value([FINANCE]).run()
    assert listed(app) == ["t-1", "t-9", "ovd"]
    assert app.sidebar.multiselect(key="device_groups").label == (
        "Device groups: 1 of 5"
    )
    app.sidebar.multiselect(key="device_groups").set_value([]).run()

    assert listed(app) == ACTIVE
    assert app.sidebar.multiselect(key="device_groups").label == (
        "Device groups: all 5"
    )


def test_with_device_groups_chosen_progress_is_the_groups_own(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant)
    app.sidebar.multiselect(key="device_groups").set_value([FINANCE]).run()

    table = activity_table(app)
    progress = table.value.set_index("activity_id")["progress"]
    # ovd has 1 of 3 tracked Finance devices fixed (2 of 5 in Defender); t-1 and
    # t-9 list no device, so they keep Defender's whole-activity figures.
    assert progress.round(3).to_dict() == {"t-1": 0.6, "t-9": 0.167, "ovd": 0.333}
    assert table.proto.columns  # the column configuration is sent
    assert "Progress in groups" in table.proto.columns
    assert app.caption[0].value.endswith(" · progress in selected groups")


def test_attention_required_rows_have_no_progress(monkeypatch, tenant):
    table = activity_table(open_page(monkeypatch, tenant)).value
    table = table.set_index("activity_id")

    assert table["progress"].isna().tolist() == [
        activity_id == "attn" for activity_id in table.index
    ]
    assert table.loc["ovd", "progress"] == pytest.approx(2 / 5)
    assert table["ticket_status"].isna().all()


# The detail


def test_choosing_a_row_puts_its_detail_first_and_the_list_below(
    monkeypatch,
    tenant,
):
    app = open_page(monkeypatch, tenant)
    position = ACTIVE.index("ovd")

    app.session_state["activity_table"] = {
        "selection": {"rows": [position], "columns": []}
    }
    app.run()

    assert app.query_params["activity"] == "ovd"
    assert [t.value for t in app.title] == ["Update Contoso Reader"]
    drawn = in_order(app.main)
    kinds = [e.type for e in drawn]
    assert kinds[:2] == ["button", "title"], "a way back, then the activity"
    assert app.button(key="detail_back").label == "All activities"
    table = activity_table(app)
    at = next(i for i, e in enumerate(drawn) if e.proto is table.proto)
    assert at > kinds.index("progress"), "the list follows the detail"
    assert [e.label for e in app.expander] == ["All remediation activities (7)"]
    in_expander = [d.value for d in app.expander[0].dataframe]
    assert [list(d["activity_id"]) for d in in_expander] == [ACTIVE]


def test_all_activities_clears_the_choice_and_the_list_leads_again(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant)
    app.session_state["activity_table"] = {
        "selection": {"rows": [ACTIVE.index("t-9")], "columns": []}
    }
    app.run()
    assert app.query_params["activity"] == "t-9"

    app.button(key="detail_back").click().run()

    assert "activity" not in app.query_params
    assert [t.value for t in app.title] == ["Remediation activities"]
    assert not app.expander
    assert app.session_state["activity_table"]["selection"]["rows"] == []
    assert listed(app) == ACTIVE


def test_an_activity_in_the_address_shows_progress_groups_and_devices(
    monkeypatch,
    tenant,
):
    app = open_page(monkeypatch, tenant, {"activity": "ovd"})

    assert not app.exception and not app.warning
    assert [t.value for t in app.title] == ["Update Contoso Reader"]
    progress = app.get("progress")
    assert [p.proto.text for p in progress] == ["2 of 5 devices"]
    assert any("since tracking began 2 Mar 2026" in m.value for m in app.markdown)
    history = views.load_activity_device_history(tenant, "ovd")
    assert [t.label for t in app.tabs] == [
        "Still exposed (3)",
        "Fixed (1)",
        "No longer reported (1)",
    ]
    names = [list(t.dataframe[0].value["computer_dns_name"]) for t in app.tabs]
    by_status = history.groupby("status")["computer_dns_name"].apply(list)
    assert names == [
        by_status["Exposed"],
        by_status["Fixed"],
        by_status["No longer reported"],
    ]
    assert [b.label for b in app.get("download_button")] == [
        "Export devices to CSV",
        "Export the filtered list to CSV",
    ]


def test_the_detail_names_the_recommendation_and_keeps_its_id_secondary(
    monkeypatch, tenant
):
    app = open_page(monkeypatch, tenant, {"activity": "t-2"})

    # Named as a link that opens it on the Security recommendations page.
    [link] = [
        e for e in app.get("page_link") if e.proto.label == "Turn on Alpha protection"
    ]
    assert link.proto.query_string == "recommendation=sca-_-scid-2011"
    assert link.proto.page.endswith("recommendations")
    assert "sca-_-scid-2011" not in " ".join(texts(app))
    assert "Recommendation id `sca-_-scid-2011`" in [c.value for c in app.caption]


@pytest.mark.parametrize("activity_id", ["ovd", "manual", "local", "attn"])
def test_the_detail_writes_every_date_one_way(monkeypatch, tenant, activity_id):
    app = open_page(monkeypatch, tenant, {"activity": activity_id})

    words = " ".join(page_words(app))
    assert not re.search(r"\d{4}-\d\d-\d\d", words), words
    assert re.search(r"\b\d{1,2} [A-Z][a-z]{2} 20\d\d\b", words)


def test_an_overdue_activity_says_how_many_days_late(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"activity": "ovd"})
    today = datetime.now(UTC).date()
    late = (today - views.load_activity_detail(tenant, "ovd")["due_on"]).days

    assert f"{late} days overdue" in app.caption[0].value
    assert f"5 Mar 2026 ({late} days overdue)" in texts(app)


@pytest.mark.parametrize(
    ("activity_id", "expected"),
    [
        ("manual", [
            ("Created by", "secops@contoso.test"), ("Created on", "10 Jan 2026"),
            ("Due date", "15 Feb 2026"), ("Completed by", "lead@contoso.test"),
            ("Completed on", "20 Feb 2026"), ("Ticket status", "No Intune task"),
        ]),
        ("auto", [
            ("Created by", "secops@contoso.test"), ("Created on", "1 Mar 2026"),
            ("Due date", "1 Mar 2026"), ("Completed by", "System confirmation"),
            ("Completed on", "8 Mar 2026"), ("Ticket status", "No Intune task"),
        ]),
        ("unknown", [
            ("Created by", "secops@contoso.test"), ("Created on", "1 Oct 2025"),
            ("Due date", "1 Nov 2025"), ("Completed by", "N/A"),
            ("Completed on", "1 Dec 2025"), ("Ticket status", "No Intune task"),
        ]),
        ("local", [
            ("Created by", "secops@contoso.test"), ("Created on", "1 Mar 2026"),
            ("Due date", "1 Mar 2026"), ("Completed by", "analyst@contoso.test"),
            ("Completed on", "9 Mar 2026"), ("Ticket status", "No Intune task"),
        ]),
        ("ovd", [
            ("Created by", "secops@contoso.test"), ("Created on", "1 Feb 2026"),
            ("Due date", "5 Mar 2026 (5 days overdue)"),
            ("Ticket status", "No Intune task"),
        ]),
        ("attn", [
            ("Created by", "secops@contoso.test"), ("Created on", "1 Mar 2026"),
            ("Due date", "No due date"),
        ]),
    ],
)  # fmt: skip
def test_detail_facts_say_who_completed_it_and_the_ticket_status(
    tenant, activity_id, expected
):
    detail = views.load_activity_detail(tenant, activity_id, today=TODAY)

    assert detail_facts(detail, TODAY) == expected


def test_the_detail_shows_completed_by_for_an_activity_completed_in_defender(
    monkeypatch, tenant
):
    app = open_page(monkeypatch, tenant, {"activity": "manual"})

    captions = [c.value for c in app.caption]
    assert "Completed by" in captions and "Completed on" in captions
    assert {"lead@contoso.test", "20 Feb 2026"} <= set(texts(app))


def test_attention_required_detail_shows_no_ticket_status(monkeypatch, tenant):
    attn = open_page(monkeypatch, tenant, {"activity": "attn"})
    update = open_page(monkeypatch, tenant, {"activity": "t-9"})

    assert "Ticket status" not in [c.value for c in attn.caption]
    assert "No Intune task" not in texts(attn)
    assert "No Intune task" in texts(update)


def test_devices_split_into_still_exposed_fixed_and_no_longer_reported(tenant):
    history = views.load_activity_device_history(tenant, "ovd")

    tabs = [(label, list(rows["machine_id"])) for label, rows in split_devices(history)]
    assert tabs == [
        ("Still exposed (3)", ["f2", "h1", "h2"]),
        ("Fixed (1)", ["f1"]),
        ("No longer reported (1)", ["u1"]),
    ]
    untracked = views.load_activity_device_history(tenant, "t-9")
    assert [label for label, _ in split_devices(untracked)] == [
        "Still exposed (0)",
        "Fixed (0)",
    ]


def test_dates_read_the_same_everywhere():
    moment = datetime(2026, 9, 11, 6, 5, tzinfo=UTC)

    assert [
        labels.day(moment),
        labels.day(moment.date()),
        labels.day(pd.Timestamp("2026-09-01")),
        labels.day(None),
        labels.day(pd.NaT),
        labels.moment(moment),
        labels.days_overdue(moment.date(), moment.date()),
        labels.days_overdue(pd.Timestamp("2026-09-10"), moment.date()),
        labels.days_overdue(moment.date(), datetime(2026, 10, 1).date()),
    ] == [
        "11 Sep 2026", "11 Sep 2026", "1 Sep 2026", "", "", "11 Sep 2026 06:05 UTC",
        "0 days overdue", "1 day overdue", "20 days overdue",
    ]  # fmt: skip


def test_attention_required_detail_has_no_progress_bar(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"activity": "attn"})

    assert not app.get("progress")
    assert "Attention required: there is no device progress to track." in [
        c.value for c in app.caption
    ]


def test_an_unknown_activity_in_the_address_is_one_warning(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"activity": "no-such-id"})

    assert not app.exception and not app.error
    assert [w.value for w in app.warning] == [
        "No remediation activity has the id 'no-such-id': it may have been "
        "purged, or the link is mistyped."
    ]
    assert [t.value for t in app.title] == ["Remediation activities"]
    assert listed(app) == ACTIVE


# Mark as complete


def counting_writes(monkeypatch) -> list:
    calls = []
    real = store.mark_completed

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "mark_completed", counted)
    return calls


def test_mark_as_complete_records_the_signed_in_user_once(monkeypatch, own_store):
    writes = counting_writes(monkeypatch)
    app = open_page(monkeypatch, own_store, {"activity": "t-0"}, user=SIGNED_IN)
    assert app.button(key="detail_mark_complete").disabled

    app.checkbox(key="detail_confirm_complete").check().run()
    app.button(key="detail_mark_complete").click().run()
    app.run()
    app.run()

    assert not app.exception and len(writes) == 1
    detail = views.load_activity_detail(own_store, "t-0")
    assert (detail["status"], detail["completed_by"]) == (
        "Completed",
        "lead@contoso.test",
    )
    assert [s.value for s in app.success] == []  # shown once, on the click's run
    assert app.info[0].value.startswith("Marked complete here by lead@contoso.test")
    assert app.info[0].value.endswith(
        "; Defender still reports it active until its next sync shows it completed."
    )
    assert "detail_mark_complete" not in [b.key for b in app.button]


def test_mark_as_complete_without_sign_in_or_operator_email_is_refused(
    monkeypatch, own_store
):
    app = open_page(monkeypatch, own_store, {"activity": "t-0"})

    app.checkbox(key="detail_confirm_complete").check().run()
    app.button(key="detail_mark_complete").click().run()

    assert [e.value for e in app.error] == [
        "Nobody is signed in and no operator email is set: set the operator email "
        "on the Settings page, or sign in, to mark activities complete."
    ]
    assert views.load_activity_detail(own_store, "t-0")["status"] == "Active"


def test_mark_as_complete_without_sign_in_records_the_operator_email(
    monkeypatch, own_store
):
    completion.set_operator_email(own_store, "ops@contoso.test", "admin", WHEN)
    app = open_page(monkeypatch, own_store, {"activity": "t-0"})

    app.checkbox(key="detail_confirm_complete").check().run()
    app.button(key="detail_mark_complete").click().run()

    [done] = [s.value for s in app.success]
    assert done.startswith("Marked complete here by ops@contoso.test on ")
    assert not [i for i in app.info if "Marked complete" in i.value]
    assert listed(app) == [a for a in ACTIVE if a != "t-0"]
    assert views.load_activity_detail(own_store, "t-0")["completed_by"] == (
        "ops@contoso.test"
    )


def test_completed_activities_offer_no_mark_as_complete(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"activity": "manual"}, user=SIGNED_IN)

    assert "detail_mark_complete" not in [b.key for b in app.button]
    assert "detail_confirm_complete" not in [c.key for c in app.checkbox]


# Completion, as plain functions


def test_complete_activity_records_who_and_when(own_store):
    recorded = completion.complete_activity(own_store, "t-9", "a@contoso.test", WHEN)

    detail = views.load_activity_detail(own_store, "t-9")
    assert recorded == "a@contoso.test"
    assert (detail["local_completed_by"], detail["local_completed_at"]) == (
        "a@contoso.test",
        WHEN,
    )


@pytest.mark.parametrize(
    ("activity_id", "message"),
    [
        ("no-such-id", "No remediation activity has the id 'no-such-id'"),
        ("manual", "The activity 'Turn on the firewall' is already completed (by "
         "lead@contoso.test)."),
        ("local", "is already completed (by analyst@contoso.test)."),
    ],
)  # fmt: skip
def test_complete_activity_refuses_unknown_and_completed_ones(
    own_store, activity_id, message
):
    with pytest.raises(CompletionRefused, match=message.replace("(", r"\(")[:40]):
        completion.complete_activity(own_store, activity_id, "a@contoso.test", WHEN)


def test_complete_activity_refuses_without_any_email(own_store):
    with pytest.raises(CompletionRefused, match="no operator email is set"):
        completion.complete_activity(own_store, "t-9", None, WHEN)

    assert views.load_activity_detail(own_store, "t-9")["status"] == "Active"


def test_the_operator_email_is_stored_and_demo_mode_ships_one(own_store):
    demo_store = own_store.with_overrides(demo=True)

    assert completion.operator_email(own_store) is None
    assert completion.operator_email(demo_store) == "operator@demo.example"
    completion.set_operator_email(own_store, " ops@contoso.test ", "admin", WHEN)
    assert completion.operator_email(own_store) == "ops@contoso.test"
    assert completion.operator_email(demo_store) == "ops@contoso.test"
    with pytest.raises(CompletionRefused, match="is not an email address"):
        completion.set_operator_email(own_store, "nobody", "admin", WHEN)


# CSV downloads


def test_the_table_gives_its_key_columns_room_and_pins_the_activity(
    monkeypatch, tenant
):
    app = open_page(monkeypatch, tenant, {"status": "All"})

    columns = json.loads(activity_table(app).proto.columns)
    widths = {name: config.get("width") for name, config in columns.items()}
    assert columns["activity"]["pinned"] is True
    assert widths["activity"] >= 240
    assert widths["progress"] >= 120
    assert widths["device_groups"] >= 200
    # The columns up to Progress fit 1440 px beside the sidebar (about 1070 px
    # for the table, 33 of them for the selection boxes).
    order = list(activity_table(app).proto.column_order)
    upto_progress = order[: order.index("progress") + 1]
    assert 33 + sum(widths[name] for name in upto_progress) <= 1070
    # Overdue rows can be spotted without scrolling or filtering.
    assert order.index("overdue") == order.index("due_on") + 1


def test_the_activity_id_is_a_code_styled_line_of_its_own(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"activity": "manual"})

    captions = [c.value for c in app.caption]
    assert "Activity id `manual`" in captions
    # Not a fact in the four-column grid, where a long id would wrap.
    assert "Activity id" not in captions
    assert "manual" not in texts(app)


def test_the_filtered_list_csv_has_the_listed_rows_in_order(tenant):
    frame = views.filter_activities(tenant, status=None, types=["AttentionRequired"])
    frame = pd.concat(
        [
            frame,
            views.filter_activities(tenant, status="Completed", priorities=["High"]),
        ]
    )

    rows = csv_rows(exports.filtered_list_csv(frame, "sync 3"))

    assert [r["Activity id"] for r in rows] == ["attn", "local", "manual"]
    assert list(rows[0])[:4] == [
        "Activity id",
        "Remediation activity",
        "Remediation type",
        "Priority",
    ]
    assert (rows[0]["Remediation type"], rows[0]["Fixed devices"]) == (
        "Attention required",
        "",
    )
    assert rows[2]["Completed by"] == "lead@contoso.test"
    assert rows[1]["Completed by"] == "analyst@contoso.test"
    assert {r[csvout.AS_OF_COLUMN] for r in rows} == {"sync 3"}


def test_every_download_neutralises_formulas_and_keeps_numbers(tenant):
    cells = load_case("10")["input"]["cells"]
    numbers = load_case("10")["input"]["numbers"]
    row = views.filter_activities(tenant, status=None).iloc[[0]].copy()
    row["activity"] = cells["title"]
    row["requester_notes"] = cells["requesterNotes"]
    row["related_component"] = cells["relatedComponent"]
    row["created_by"] = cells["notes2"]
    row["completed_by"] = cells["description"]
    row["target_devices"] = numbers["targetDevices"]
    devices = pd.DataFrame([dict.fromkeys(exports.DEVICE_HISTORY_COLUMNS)])
    devices["computer_dns_name"] = cells["computerDnsName"]

    listed_row = csv_rows(exports.filtered_list_csv(row, "sync 3"))[0]
    device_row = csv_rows(exports.device_history_csv(devices, "sync 3"))[0]

    assert listed_row["Remediation activity"] == "'+1"
    assert listed_row["Notes"] == "'" + cells["requesterNotes"]
    assert listed_row["Related component"] == "'@SUM(A1:A2)"
    assert listed_row["Created by"] == "'\t=1"
    assert listed_row["Completed by"] == "'-2+3"
    assert listed_row["Target devices"] == "-5"
    assert device_row["Device name"] == "'=cmd|' /C calc'!A0"
    assert csvout.safe_cell(numbers["severityScore"]) == 7.5


def test_download_file_names_say_the_filter_and_the_sync():
    synced_at = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)

    assert [
        exports.export_file_name("activities", ["Active", "High"], synced_at),
        exports.export_file_name("activities", ["All", None, "overdue"], synced_at),
        exports.export_file_name("devices", ["a1/../b 2"], synced_at),
        exports.export_file_name("activities", ["Completed"], None),
    ] == [
        "activities-active-high-2026-12-03.csv",
        "activities-all-overdue-2026-12-03.csv",
        "devices-a1-b-2-2026-12-03.csv",
        "activities-completed-no-sync.csv",
    ]


def test_a_reversed_due_date_range_says_to_swap_the_dates(monkeypatch, tenant):
    app = open_page(
        monkeypatch,
        tenant,
        {"status": "All", "due_from": "2026-03-20", "due_to": "2026-03-01"},
    )

    assert listed(app) == []
    assert [w.value for w in app.warning] == [
        "Due from (20 Mar 2026) is after Due to (1 Mar 2026): no activity can "
        "match; swap the dates."
    ]


def test_overdue_only_with_completed_says_why_nothing_matches(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"status": "Completed", "overdue": "1"})

    assert not app.exception
    assert [i.value for i in app.info] == [
        "No activities match these filters: only active activities can be "
        "overdue, so Overdue only finds no completed ones."
    ]
