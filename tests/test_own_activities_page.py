"""Activities filed from this dashboard on the Remediation page: the Source
column and filter, the Cancelled status, the CSVs, the detail's wording, and
the requester's Edit request and Cancel request, through AppTest.

The store is synced by the real sync from the emulator's sample tenant (four
activities of Defender's own), with six more machines in Finance and HR and
two recommendations; two requests are filed through `remediation.file_request`
and a second sync records their progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.test_pages import shown
from tests.test_remediation_page import (
    activity_table,
    csv_rows,
    in_order,
    listed,
    open_page,
    texts,
)
from tests.test_requests import ALICE, CHROME, FIREWALL, form, recommendation
from tests.test_sync import machine, ref
from tvmdata import audit, completion, exports, labels, remediation, views
from tvmdata.clock import FakeClock
from tvmdata.sync import sync_tenant

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
BOB = "bob@contoso.test"
ALICE_SIGNED_IN = {"is_logged_in": True, "email": ALICE}
BOB_SIGNED_IN = {"is_logged_in": True, "email": BOB}
# The sample tenant's activities, newest first (01 and 02 share a creation
# time: their ids decide).
JAVA = "a1c3e5f7-0000-4000-8000-000000000004"
CHROME_TASK = "a1c3e5f7-0000-4000-8000-000000000001"
READER_TASK = "a1c3e5f7-0000-4000-8000-000000000002"
SMB_TASK = "a1c3e5f7-0000-4000-8000-000000000003"
FINANCE, HR = 101, 103
NO_USER_IMPACT = (
    "Limited to devices with no user impact (stored; progress counts all "
    "exposed devices)"
)


@dataclass(frozen=True)
class Own:
    settings: object
    chrome: str  # Update Google Chrome in Finance, filed at T0
    firewall: str  # the firewall setting in HR, no user impact, filed at T0 + 1 h

    def ids(self, names: list[str]) -> list[str]:
        known = {
            "chrome": self.chrome,
            "firewall": self.firewall,
            "java": JAVA,
            "chrome-task": CHROME_TASK,
            "reader-task": READER_TASK,
            "smb-task": SMB_TASK,
        }
        return [known[n] for n in names]


def publish(emulator, *, firewall: bool = True) -> None:
    """The sample tenant plus m1–m3 in Finance and m4–m6 in HR; Chrome exposed
    on m1–m5, the firewall setting (while published) on m4 and m5."""
    data = emulator.tenant()
    mine = [machine(f"m{n}", FINANCE, "Finance", last_seen=T0) for n in (1, 2, 3)]
    mine += [machine(f"m{n}", HR, "HR", last_seen=T0) for n in (4, 5, 6)]
    exposed = {CHROME: [ref(m) for m in mine[:5]]}
    if firewall:
        exposed[FIREWALL] = [ref(m) for m in mine[3:5]]
    recs = [recommendation(CHROME, "Update Google Chrome", "Update", 5)]
    if firewall:
        recs.append(
            recommendation(FIREWALL, "Turn on the firewall", "ConfigurationChange", 2)
        )
    known = {m["id"] for m in data["machines"]}
    data.update(
        machines=data["machines"] + [m for m in mine if m["id"] not in known],
        recommendations=recs,
        recommendationMachines=exposed,
    )
    emulator.set_tenant(data)


@pytest.fixture
def own(emulator, settings) -> Own:
    publish(emulator)
    sync_tenant(settings, clock=FakeClock(T0))
    chrome = remediation.file_request(settings, form(group_ids=(FINANCE,)), ALICE, T0)
    firewall = remediation.file_request(
        settings,
        form(
            recommendation_id=FIREWALL,
            remediation_type="ConfigurationChange",
            group_ids=(HR,),
            target_scope="NoUserImpact",
        ),
        ALICE,
        T0 + timedelta(hours=1),
    )
    sync_tenant(settings, clock=FakeClock(T0 + timedelta(days=1)))
    return Own(settings, chrome.activity_id, firewall.activity_id)


def today() -> date:
    return datetime.now(UTC).date()


def infos(app) -> list[str]:
    return [i.value for i in app.info]


def captions(app) -> list[str]:
    return [c.value for c in app.caption]


def markdown(app) -> list[str]:
    return [m.value for m in app.markdown]


def request_controls(app) -> list[str]:
    """The requester's controls the page draws, by label."""
    wanted = ("Edit request", "Save changes", "Close without saving", "Cancel request")
    labels = [b.label for b in app.button if b.label in wanted]
    labels += [c.key for c in app.checkbox if c.key == "detail_confirm_cancel"]
    return labels


def open_edit_form(app):
    """Press "Edit request": the form shows on demand."""
    app.button(key="detail_open_edit").click().run()
    assert not app.exception
    return app


def save_button(app):
    return next(b for b in app.button if b.label == "Save changes")


def audited(own: Own, action: str) -> int:
    log = audit.load_entries(own.settings)
    return int((log["action"] == action).sum())


# The list: Source column, Source filter, Cancelled


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "All", "source": "dashboard"}, ["firewall", "chrome"]),
        ({"status": "All", "source": "defender"}, [
            "java", "chrome-task", "reader-task", "smb-task",
        ]),
        ({"status": "All", "source": ["defender", "dashboard"]}, [
            "firewall", "chrome", "java", "chrome-task", "reader-task", "smb-task",
        ]),
        ({"source": "dashboard"}, ["firewall", "chrome"]),
        ({"status": "Completed", "source": "dashboard"}, []),
        ({"status": "Completed", "source": "defender"}, ["smb-task"]),
    ],
)  # fmt: skip
def test_the_source_filter_in_the_address_lists_exactly_its_activities(
    monkeypatch, own, params, expected
):
    app = open_page(monkeypatch, own.settings, params)

    assert listed(app) == own.ids(expected)
    assert app.query_params == params, "the shared view stays in the address"


def test_the_source_column_says_defender_or_this_dashboard(monkeypatch, own):
    app = open_page(monkeypatch, own.settings, {"status": "All"})

    table = activity_table(app).value
    assert table["activity_id"].tolist() == own.ids(
        ["firewall", "chrome", "java", "chrome-task", "reader-task", "smb-task"]
    )
    assert table["source"].tolist() == ["This dashboard"] * 2 + ["Defender"] * 4
    column_order = list(activity_table(app).proto.column_order)
    assert column_order.index("source") == column_order.index("progress") + 1


def test_choosing_a_source_writes_it_to_the_address(monkeypatch, own):
    app = open_page(monkeypatch, own.settings)
    chooser = app.multiselect(key="filter_source")
    assert chooser.options == ["Defender", "This dashboard"]

    chooser.set_value(["dashboard"]).run()

    assert listed(app) == own.ids(["firewall", "chrome"])
    assert app.query_params == {"source": "dashboard"}
    app.button(key="clear_filters").click().run()
    assert listed(app) == own.ids(
        ["firewall", "chrome", "java", "chrome-task", "reader-task"]
    )
    assert app.query_params == {}


def test_a_source_in_the_address_is_read_without_regard_to_case(monkeypatch, own):
    app = open_page(monkeypatch, own.settings, {"source": ["Dashboard", "nowhere"]})

    assert listed(app) == own.ids(["firewall", "chrome"])
    assert app.multiselect(key="filter_source").value == ["dashboard"]
    assert app.query_params == {"source": "dashboard"}


def test_cancelled_requests_are_offered_by_the_status_filter(monkeypatch, own):
    remediation.cancel_request(own.settings, own.chrome, ALICE, T0)

    active = open_page(monkeypatch, own.settings)
    assert [o.content for o in active.get("button_group")[0].proto.options] == [
        "Active",
        "Completed",
        "Cancelled",
        "All",
    ]
    assert listed(active) == own.ids(["firewall", "java", "chrome-task", "reader-task"])
    cancelled = open_page(monkeypatch, own.settings, {"status": "Cancelled"})
    assert listed(cancelled) == own.ids(["chrome"])
    table = activity_table(cancelled).value
    assert table["status"].tolist() == ["Cancelled"]
    assert cancelled.query_params == {"status": "Cancelled"}


# CSVs


def test_the_filtered_list_csv_and_the_activities_csv_carry_the_source(own, tmp_path):
    frame = views.filter_activities(own.settings, status=None)
    listed_rows = csv_rows(exports.filtered_list_csv(frame, "sync 2"))
    out = tmp_path / "activities.csv"
    exports.export_activities(own.settings, out)
    exported = csv_rows(out.read_bytes())

    expected = [
        (own.firewall, "This dashboard"),
        (own.chrome, "This dashboard"),
        (JAVA, "Defender"),
        (CHROME_TASK, "Defender"),
        (READER_TASK, "Defender"),
        (SMB_TASK, "Defender"),
    ]
    assert [(r["Activity id"], r["Source"]) for r in listed_rows] == expected
    assert sorted((r["Activity id"], r["Source"]) for r in exported) == sorted(expected)
    header = list(listed_rows[0])
    assert header[header.index("Created by") + 1] == "Source"
    assert list(exported[0])[list(exported[0]).index("Created by") + 1] == "Source"


def test_a_cancelled_request_is_plainly_cancelled_in_the_csv(own):
    remediation.cancel_request(own.settings, own.chrome, ALICE, T0)
    frame = views.filter_activities(own.settings, status="Cancelled")

    rows = csv_rows(exports.filtered_list_csv(frame, "sync 2"))

    assert [(r["Activity id"], r["Status"], r["Source"]) for r in rows] == [
        (own.chrome, "Cancelled", "This dashboard")
    ]


# The detail of an activity filed here


def test_the_detail_says_who_filed_it_here_and_counts_groups_since_filing(
    monkeypatch, own
):
    app = open_page(monkeypatch, own.settings, {"activity": own.chrome})

    assert not app.exception and not app.error
    assert "Filed from this dashboard by alice@contoso.test on 4 May 2026" in (
        captions(app)
    )
    assert "Synced from Defender" not in captions(app)
    per_group = [m for m in markdown(app) if m.startswith("**Per device group**")]
    assert per_group == [
        "**Per device group** · since the request was filed 4 May 2026"
    ]
    assert NO_USER_IMPACT not in captions(app)
    assert infos(app) == []


def test_a_defender_activity_keeps_its_own_wording(monkeypatch, own):
    app = open_page(monkeypatch, own.settings, {"activity": CHROME_TASK})

    assert "Synced from Defender" in captions(app)
    assert not [c for c in captions(app) if c.startswith("Filed from this dashboard")]
    per_group = [m for m in markdown(app) if m.startswith("**Per device group**")]
    assert per_group == ["**Per device group** · since tracking began 4 May 2026"]
    assert request_controls(app) == []


def test_a_no_user_impact_request_says_what_is_stored_and_counted(monkeypatch, own):
    app = open_page(monkeypatch, own.settings, {"activity": own.firewall})

    assert NO_USER_IMPACT in captions(app)
    assert "Filed from this dashboard by alice@contoso.test on 4 May 2026" in (
        captions(app)
    )


def test_a_recommendation_gone_from_defender_is_explained(monkeypatch, own, emulator):
    # Defender stops reporting the firewall setting: the next sync counts the
    # request's remaining devices as fixed.
    publish(emulator, firewall=False)
    sync_tenant(own.settings, clock=FakeClock(T0 + timedelta(days=2)))
    detail = views.load_activity_detail(own.settings, own.firewall)
    assert detail["recommendation_gone_since"].date() == date(2026, 5, 6)

    app = open_page(monkeypatch, own.settings, {"activity": own.firewall})

    assert infos(app) == [
        "Defender no longer reports this recommendation (since 6 May 2026): its "
        "remaining devices were counted as fixed."
    ]
    chrome = open_page(monkeypatch, own.settings, {"activity": own.chrome})
    assert infos(chrome) == []


def test_a_local_completion_of_our_own_request_has_no_defender_note(monkeypatch, own):
    when = datetime(2026, 5, 5, 9, 30, tzinfo=UTC)
    completion.complete_activity(own.settings, own.chrome, BOB, when)
    defender = datetime(2026, 5, 5, 9, 45, tzinfo=UTC)
    completion.complete_activity(own.settings, CHROME_TASK, BOB, defender)

    app = open_page(monkeypatch, own.settings, {"activity": own.chrome})
    theirs = open_page(monkeypatch, own.settings, {"activity": CHROME_TASK})

    assert infos(app) == [
        "Marked complete here by bob@contoso.test on 5 May 2026 09:30 UTC"
    ]
    assert infos(theirs) == [
        "Marked complete here by bob@contoso.test on 5 May 2026 09:45 UTC; Defender "
        "still reports it active until its next sync shows it completed."
    ]


def test_a_cancelled_request_says_who_cancelled_it_and_offers_nothing(monkeypatch, own):
    remediation.cancel_request(
        own.settings, own.chrome, ALICE, datetime(2026, 5, 6, 9, 0, tzinfo=UTC)
    )

    app = open_page(
        monkeypatch, own.settings, {"activity": own.chrome}, ALICE_SIGNED_IN
    )

    assert not app.exception
    assert captions(app)[0].startswith("Cancelled · High priority")
    assert infos(app) == ["Cancelled by alice@contoso.test on 6 May 2026"]
    assert request_controls(app) == []
    assert "detail_mark_complete" not in [b.key for b in app.button]


# Edit request and Cancel request


def test_the_requester_edits_the_request_through_the_form_once(monkeypatch, own):
    due = today() + timedelta(days=30)
    app = open_page(
        monkeypatch, own.settings, {"activity": own.chrome}, ALICE_SIGNED_IN
    )
    assert request_controls(app) == [
        "Edit request",
        "Cancel request",
        "detail_confirm_cancel",
    ]
    assert not app.get("form"), "the form shows on demand"
    open_edit_form(app)
    assert request_controls(app) == [
        "Save changes",
        "Close without saving",
        "Cancel request",
        "detail_confirm_cancel",
    ]
    key = f"detail_edit_{{}}:{own.chrome}".format
    assert app.date_input(key=key("due_on")).value == date(2026, 5, 18)
    assert app.radio(key=key("priority")).value == "High"
    assert app.text_area(key=key("notes")).value == "Please patch before the audit."

    app.date_input(key=key("due_on")).set_value(due)
    app.radio(key=key("priority")).set_value("Low")
    app.text_area(key=key("notes")).set_value("Moved after the freeze.")
    save_button(app).click().run()

    assert not app.exception and not app.error
    assert [s.value for s in app.success] == [
        f"Request saved: Low priority, due {due.day} {due:%b %Y}."
    ]
    request = remediation.load_request(own.settings, own.chrome)
    assert (request["due_on"], request["priority"], request["notes"]) == (
        due,
        "Low",
        "Moved after the freeze.",
    )
    # The caches were cleared: the detail shows what was saved.
    assert captions(app)[0].startswith("Active · Low priority")
    assert f"{due.day} {due:%b %Y}" in texts(app)
    assert request_controls(app)[0] == "Edit request", "the form closes once saved"
    app.run()
    app.run()
    assert audited(own, "request edited") == 1, "a rerun never repeats the edit"
    assert [s.value for s in app.success] == []


def test_a_past_due_date_shows_its_error_under_the_field_and_saves_nothing(
    monkeypatch, own
):
    past = today() - timedelta(days=1)
    app = open_page(
        monkeypatch, own.settings, {"activity": own.chrome}, ALICE_SIGNED_IN
    )
    open_edit_form(app)
    key = f"detail_edit_{{}}:{own.chrome}".format

    app.date_input(key=key("due_on")).set_value(past)
    app.radio(key=key("priority")).set_value("Low")
    save_button(app).click().run()

    message = (
        f"The due date {labels.day(past)} is in the past: choose today "
        f"({labels.day(today())}, UTC) or later."
    )
    assert [shown(e) for e in app.error] == [message]
    drawn = in_order(app.main)
    field = next(
        i for i, e in enumerate(drawn) if getattr(e, "key", None) == key("due_on")
    )
    assert drawn[field + 1].type == "error" and drawn[field + 1].value == message
    assert app.date_input(key=key("due_on")).value == past, "what was typed stays"
    request = remediation.load_request(own.settings, own.chrome)
    assert (request["due_on"], request["priority"]) == (date(2026, 5, 18), "High")
    assert audited(own, "request edited") == 0
    assert [s.value for s in app.success] == []
    assert "Save changes" in request_controls(app), "the form stays open"


def test_closing_the_form_saves_nothing(monkeypatch, own):
    app = open_page(
        monkeypatch, own.settings, {"activity": own.chrome}, ALICE_SIGNED_IN
    )
    open_edit_form(app)
    key = f"detail_edit_{{}}:{own.chrome}".format

    app.radio(key=key("priority")).set_value("Low")
    next(b for b in app.button if b.label == "Close without saving").click().run()

    assert request_controls(app)[0] == "Edit request"
    assert remediation.load_request(own.settings, own.chrome)["priority"] == "High"
    assert audited(own, "request edited") == 0
    open_edit_form(app)
    assert app.radio(key=key("priority")).value == "High"


def test_attention_required_requests_edit_without_a_due_date(monkeypatch, own):
    filed = remediation.file_request(
        own.settings,
        form(remediation_type="AttentionRequired", group_ids=(HR,), due_on=None),
        ALICE,
        T0,
    )
    key = f"detail_edit_{{}}:{filed.activity_id}".format
    app = open_page(
        monkeypatch, own.settings, {"activity": filed.activity_id}, ALICE_SIGNED_IN
    )
    open_edit_form(app)
    assert app.date_input(key=key("due_on")).disabled
    assert app.date_input(key=key("due_on")).value is None

    app.radio(key=key("priority")).set_value("Medium")
    save_button(app).click().run()

    assert [s.value for s in app.success] == ["Request saved: Medium priority."]
    request = remediation.load_request(own.settings, filed.activity_id)
    assert (request["due_on"], request["priority"]) == (None, "Medium")


def test_cancel_needs_the_confirmation_and_cancels_once(monkeypatch, own):
    app = open_page(
        monkeypatch, own.settings, {"activity": own.chrome}, ALICE_SIGNED_IN
    )
    assert app.button(key="detail_cancel_request").disabled

    app.checkbox(key="detail_confirm_cancel").check().run()
    assert not app.button(key="detail_cancel_request").disabled
    assert views.load_activity_detail(own.settings, own.chrome)["status"] == "Active"
    app.button(key="detail_cancel_request").click().run()

    assert not app.exception and not app.error
    assert [s.value for s in app.success] == ["Request cancelled."]
    assert views.load_activity_detail(own.settings, own.chrome)["status"] == (
        "Cancelled"
    )
    day = f"{today().day} {today():%b %Y}"
    assert infos(app) == [f"Cancelled by alice@contoso.test on {day}"]
    assert captions(app)[0].startswith("Cancelled · ")
    assert request_controls(app) == []
    app.run()
    app.run()
    assert audited(own, "request cancelled") == 1


def test_only_the_requester_sees_edit_and_cancel(monkeypatch, own):
    completion.set_operator_email(own.settings, BOB, "admin", T0)

    operator = open_page(monkeypatch, own.settings, {"activity": own.chrome})
    signed_in = open_page(
        monkeypatch, own.settings, {"activity": own.chrome}, BOB_SIGNED_IN
    )

    for app in (operator, signed_in):
        assert not app.exception
        assert request_controls(app) == []
        assert not app.get("form")
        assert app.button(key="detail_mark_complete"), "others may still complete it"

    completion.set_operator_email(own.settings, ALICE, "admin", T0)
    requester = open_page(monkeypatch, own.settings, {"activity": own.chrome})
    assert request_controls(requester) == [
        "Edit request",
        "Cancel request",
        "detail_confirm_cancel",
    ]
