"""The Security recommendations page (list, filters, detail, request form)
through AppTest, on the hand-made tenant of `tests/test_recommendations.py`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tests.test_pages import live_environment, run_on_page, shown
from tests.test_recommendations import (
    AGENT,
    FINANCE,
    FIREWALL,
    FIREWALL_TOO,
    HR,
    MOST_EXPOSED_FIRST,
    MOST_SEVERE_FIRST,
    READER,
    UNASSIGNED,
    VIEWER,
    ZULU,
    build_store,
)
from tvmdata import labels, opsettings, recommendations, remediation, store

PAGE = "pages/recommendations.py"
SIGNED_IN = {"is_logged_in": True, "email": "lead@contoso.test"}
NOBODY = {"is_logged_in": False}
TODAY = datetime.now(UTC).date()
NEXT_MONTH = TODAY + timedelta(days=30)


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    """Settings of a store holding the tenant of `tests/test_recommendations.py`."""
    return build_store(tmp_path_factory.mktemp("recommendations_page"))


def open_page(monkeypatch, settings, params=None, user=None) -> AppTest:
    live_environment(monkeypatch, settings)
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app.query_params.update(params or {})
    app.user = user or SIGNED_IN
    return run(app)


def run(app: AppTest) -> AppTest:
    """Run the dashboard on this page, its frame (sidebar) included."""
    return run_on_page(app, PAGE)


def the_list(app: AppTest):
    """The recommendation list's frame (below the detail when one leads)."""
    assert not app.exception, app.exception
    return next(
        d.value for d in app.dataframe if "recommendation_id" in d.value.columns
    )


def listed(app: AppTest) -> list[str]:
    return the_list(app)["recommendation_id"].tolist()


def key(field: str, rec_id: str) -> str:
    return f"request_{field}:{rec_id}"


def errors(app: AppTest) -> list[str]:
    return [shown(e) for e in app.error]


def links(app: AppTest) -> list[tuple[str, str]]:
    """(label, activity id) of every link to an activity."""
    found = []
    for link in app.get("page_link"):
        query = parse_qs(link.proto.query_string)
        if "activity" in query:
            found.append((link.proto.label, query["activity"][0]))
    return found


def requests_in(settings) -> list[tuple]:
    with store.connect(settings.db) as con:
        return con.execute(
            "select activity_id, form_token, recommendation_id, remediation_type, "
            "target_scope, group_ids, priority, due_on, notes, requested_by "
            "from requests order by requested_at"
        ).fetchall()


def fill_request(app: AppTest, rec_id: str, priority="High", due_on=NEXT_MONTH):
    app.radio(key=key("priority", rec_id)).set_value(priority)
    app.date_input(key=key("due_on", rec_id)).set_value(due_on)
    return app


def submit(app: AppTest, rec_id: str) -> AppTest:
    app.button(key=f"FormSubmitter:{key('form', rec_id)}-File request").click()
    return run(app)


# The list and its filters


def test_the_page_lists_every_recommendation_most_exposed_first(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant)

    assert listed(app) == MOST_EXPOSED_FIRST
    table = the_list(app).set_index("recommendation_id")
    assert table.loc[FIREWALL, "remediation_type_label"] == "Configuration change"
    assert table["covered"].to_dict() == {
        AGENT: False,
        READER: True,
        FIREWALL: False,
        FIREWALL_TOO: False,
        ZULU: True,
        VIEWER: False,
    }
    assert app.caption[0].value.startswith("6 recommendations · Data as of ")
    assert app.query_params == {}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "severity_score"}, MOST_SEVERE_FIRST),
        ({"q": "firewall"}, [FIREWALL, FIREWALL_TOO]),
        ({"category": ["Network", "Security controls"]}, [FIREWALL, FIREWALL_TOO]),
        ({"type": "ConfigurationChange"}, [FIREWALL, FIREWALL_TOO]),
        ({"status": "Exception"}, [ZULU]),
        ({"exploit": "yes"}, [READER]),
        ({"alert": "yes"}, [AGENT]),
        ({"covered": "no"}, [AGENT, FIREWALL, FIREWALL_TOO, VIEWER]),
        ({"covered": "yes", "sort": "severity_score"}, [READER, ZULU]),
    ],
)
def test_each_filter_in_the_address_lists_exactly_its_recommendations(
    monkeypatch, tenant, params, expected
):
    app = open_page(monkeypatch, tenant, params)

    assert listed(app) == expected
    assert app.query_params == params, "the shared view stays in the address"


def test_unknown_values_in_the_address_are_dropped_not_an_error(monkeypatch, tenant):
    params = {"type": ["uninstall", "Nope"], "status": "bogus", "sort": "name"}

    app = open_page(monkeypatch, tenant, params)

    assert listed(app) == [ZULU]
    assert app.query_params == {"type": "Uninstall"}


def test_a_changed_filter_is_written_to_the_address(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant)

    app.text_input(key="rec_filter_search").set_value("update")

    app = run(app)
    app.segmented_control(key="rec_filter_covered").set_value("No")
    app = run(app)

    assert listed(app) == [AGENT, VIEWER]
    assert app.query_params == {"q": "update", "covered": "no"}


def test_no_match_says_so_and_clearing_the_filters_lists_them_all(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"q": "nothing like this"})

    assert listed(app) == []
    assert [i.value for i in app.info] == [
        "No security recommendation matches these filters — clear filters"
    ]
    app.button(key="rec_clear_filters").click()
    app = run(app)

    assert listed(app) == MOST_EXPOSED_FIRST
    assert app.query_params == {}


def test_the_sidebar_device_groups_count_exposed_devices_within_them(
    monkeypatch, tenant
):
    app = open_page(monkeypatch, tenant)

    app.sidebar.multiselect(key="device_groups").set_value([FINANCE])

    app = run(app)

    assert listed(app) == [READER, AGENT, FIREWALL_TOO, ZULU]
    assert app.dataframe[0].value["exposed_devices"].tolist() == [2, 1, 1, 1]


# The detail


def test_choosing_a_row_opens_its_detail_and_puts_it_in_the_address(
    monkeypatch, tenant
):
    app = open_page(monkeypatch, tenant)

    app.session_state["recommendation_table"] = {
        "selection": {"rows": [MOST_EXPOSED_FIRST.index(READER)], "columns": []}
    }
    app = run(app)

    assert app.query_params["recommendation"] == READER
    # The chosen recommendation leads the page; the list folds below it.
    assert [t.value for t in app.title] == ["Update Contoso Reader"]
    assert [s.value for s in app.subheader] == ["Remediation options"]
    assert app.expander[0].label == (
        f"All security recommendations ({len(MOST_EXPOSED_FIRST)})"
    )


def test_a_recommendation_in_the_address_shows_its_detail(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"recommendation": READER})

    assert not app.exception and not app.warning
    assert app.caption[0].value == (
        "reader · contoso · Application · Software update · Active"
    )
    assert {m.label: m.value for m in app.metric} == {
        "Recommended version": "24.1",
        "Weaknesses": "3",
        "Severity score": "7.5",
        "Exposed devices": "4",
    }
    assert len(app.get("plotly_chart")) == 1
    per_group = app.dataframe[0].value
    assert per_group.to_dict("list") == {
        "group_name": ["Finance", "HR", "Unassigned"],
        "exposed_devices": [2, 1, 1],
    }
    devices = app.dataframe[1].value
    assert devices.to_dict("split")["data"] == [
        ["f1.contoso.test", "Windows11", "Finance"],
        ["f2.contoso.test", "Windows10", "Finance"],
        ["h1.contoso.test", "Windows11", "HR"],
        ["u1.contoso.test", "Windows11", "Unassigned"],
    ]


def test_an_unknown_recommendation_in_the_address_is_one_warning(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"recommendation": "va-_-no-_-such"})

    assert not app.exception and not app.error
    assert [shown(w) for w in app.warning] == [
        "No security recommendation has the id 'va-_-no-_-such': Defender may no "
        "longer report it, or the link is mistyped."
    ]
    assert listed(app) == MOST_EXPOSED_FIRST


def test_the_detail_keeps_to_the_sidebar_device_groups(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"recommendation": READER})

    app.sidebar.multiselect(key="device_groups").set_value([FINANCE, HR])
    app = run(app)

    assert app.dataframe[0].value["group_name"].tolist() == ["Finance", "HR"]
    assert app.dataframe[1].value["computer_dns_name"].tolist() == [
        "f1.contoso.test",
        "f2.contoso.test",
        "h1.contoso.test",
    ]
    picker = app.multiselect(key=key("groups", READER))
    assert picker.options == ["Finance (2)", "HR (1)"]
    assert picker.value == [FINANCE, HR]
    assert "3 devices covered" in [c.value for c in app.caption]


# The request form


def test_the_form_offers_the_types_and_every_exposed_group_chosen(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"recommendation": READER})

    kind = app.selectbox(key=key("type", READER))
    assert kind.options == [
        "Software update",
        "Software uninstall",
        "Attention required",
    ]
    assert kind.value == "Update"
    picker = app.multiselect(key=key("groups", READER))
    assert picker.value == [FINANCE, HR, UNASSIGNED]
    assert picker.options == ["Finance (2)", "HR (1)", "Unassigned (1)"]
    assert "4 devices covered" in [c.value for c in app.caption]


def test_the_devices_covered_follow_the_group_choice(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"recommendation": READER})

    app.multiselect(key=key("groups", READER)).set_value([HR])

    app = run(app)

    assert "1 device covered" in [c.value for c in app.caption]


def test_attention_required_disables_the_due_date(monkeypatch, tenant):
    app = open_page(monkeypatch, tenant, {"recommendation": READER})
    assert not app.date_input(key=key("due_on", READER)).disabled

    app.selectbox(key=key("type", READER)).set_value("AttentionRequired")

    app = run(app)

    assert app.date_input(key=key("due_on", READER)).disabled


def test_notes_past_the_limit_are_kept_in_the_field_and_refused_in_words(
    monkeypatch, own_store
):
    # The field takes any length, so a long paste is never dropped silently.
    app = open_page(monkeypatch, own_store, {"recommendation": READER})
    notes = "x" * (remediation.MAX_NOTES + 5)
    app.text_area(key=key("notes", READER)).input(notes)

    app = submit(fill_request(app, READER), READER)

    assert not app.exception
    assert app.text_area(key=key("notes", READER)).value == notes
    assert errors(app) == [
        f"Notes are {len(notes)} characters long: shorten them to "
        f"{remediation.MAX_NOTES}."
    ]
    assert requests_in(own_store) == []


def test_a_past_due_date_is_refused_under_the_field_and_nothing_is_written(
    monkeypatch, own_store
):
    app = open_page(monkeypatch, own_store, {"recommendation": READER})
    yesterday = TODAY - timedelta(days=1)

    app = submit(fill_request(app, READER, due_on=yesterday), READER)

    assert not app.exception
    assert errors(app) == [
        f"The due date {labels.day(yesterday)} is in the past: choose today "
        f"({labels.day(TODAY)}, UTC) or later."
    ]
    assert not app.success
    assert requests_in(own_store) == []


def test_an_empty_group_choice_and_no_priority_are_refused(monkeypatch, own_store):
    app = open_page(monkeypatch, own_store, {"recommendation": READER})
    app.multiselect(key=key("groups", READER)).set_value([])
    app = run(app)
    assert "0 devices covered" in [c.value for c in app.caption]

    app.date_input(key=key("due_on", READER)).set_value(NEXT_MONTH)
    app = submit(app, READER)

    assert errors(app) == [
        "Choose at least one device group.",
        "Choose a priority: High, Medium or Low.",
    ]
    assert requests_in(own_store) == []


def test_a_request_is_filed_once_and_links_to_its_activity(monkeypatch, own_store):
    app = open_page(monkeypatch, own_store, {"recommendation": READER})
    token = app.session_state["request_form_tokens"][READER]
    app.multiselect(key=key("groups", READER)).set_value([FINANCE, HR])
    app = run(app)
    app.text_area(key=key("notes", READER)).set_value("Patch before audit")

    app = submit(fill_request(app, READER, priority="Medium"), READER)
    app = run(app)  # a rerun files nothing more

    assert not app.exception and errors(app) == []
    [filed] = requests_in(own_store)
    activity_id = filed[0]
    assert filed[1:] == (
        token,
        READER,
        "Update",
        "AllExposedDevices",
        [FINANCE, HR],
        "Medium",
        NEXT_MONTH,
        "Patch before audit",
        "lead@contoso.test",
    )
    assert [s.value for s in app.success] == ["Request filed: 3 devices targeted."]
    assert links(app) == [("Open the activity on the Remediation page", activity_id)]
    # The form keeps its token; the store knows it is filed.
    assert app.session_state["request_form_tokens"][READER] == token


def test_a_second_submit_of_the_same_form_files_nothing_more(monkeypatch, own_store):
    app = open_page(monkeypatch, own_store, {"recommendation": READER})
    token = app.session_state["request_form_tokens"][READER]
    app = submit(fill_request(app, READER), READER)
    [(activity_id, *_)] = requests_in(own_store)

    # The second click of a double click reaches the server before the page
    # redraws: its callback files the same form, values and token again.
    again = remediation.file_request(
        own_store,
        remediation.RequestForm(
            form_token=token,
            recommendation_id=READER,
            remediation_type="Update",
            group_ids=(FINANCE,),
            priority="High",
            due_on=NEXT_MONTH,
        ),
        "lead@contoso.test",
        datetime.now(UTC),
    )
    app = run(app)

    assert (again.activity_id, again.created) == (activity_id, False)

    assert not app.exception
    assert [r[0] for r in requests_in(own_store)] == [activity_id]
    assert links(app) == [("Open the activity on the Remediation page", activity_id)]


def test_a_filed_request_marks_the_recommendation_covered_and_warns_the_next(
    monkeypatch, own_store
):
    app = open_page(monkeypatch, own_store, {"recommendation": AGENT})
    app.multiselect(key=key("groups", AGENT)).set_value([HR])
    app = run(app)
    app = submit(fill_request(app, AGENT), AGENT)
    [(activity_id, *_)] = requests_in(own_store)

    app.button(key=f"request_another:{AGENT}").click()

    app = run(app)

    table = the_list(app).set_index("recommendation_id")
    assert table.loc[AGENT, "covered"]
    assert [w.value for w in app.warning] == [
        "An active remediation activity already covers this recommendation in "
        "some of these device groups. You can still file this request."
    ]
    assert links(app) == [("Update Fabrikam Agent (HR)", activity_id)]
    # Choosing groups no activity covers clears the warning.
    app.multiselect(key=key("groups", AGENT)).set_value([FINANCE])
    app = run(app)
    assert not app.warning and links(app) == []


def test_attention_required_ignores_a_due_date_chosen_before(monkeypatch, own_store):
    app = open_page(monkeypatch, own_store, {"recommendation": ZULU})
    app.date_input(key=key("due_on", ZULU)).set_value(NEXT_MONTH)
    app = submit(app, ZULU)  # refused for want of a priority; the date is kept
    assert errors(app) == ["Choose a priority: High, Medium or Low."]
    app.selectbox(key=key("type", ZULU)).set_value("AttentionRequired")
    app = run(app)
    assert app.date_input(key=key("due_on", ZULU)).value == NEXT_MONTH

    app.radio(key=key("priority", ZULU)).set_value("Low")
    app = submit(app, ZULU)

    assert errors(app) == []
    [filed] = requests_in(own_store)
    assert (filed[3], filed[6], filed[7]) == ("AttentionRequired", "Low", None)


def test_a_configuration_change_keeps_the_no_user_impact_choice(monkeypatch, own_store):
    app = open_page(monkeypatch, own_store, {"recommendation": FIREWALL})
    assert app.selectbox(key=key("type", FIREWALL)).options == [
        "Configuration change",
        "Attention required",
    ]
    scope = app.radio(key=key("scope", FIREWALL))
    assert scope.options == ["All exposed devices", "Only devices with no user impact"]
    assert any(
        c.value.startswith(
            "Defender gives only a count of devices with no user impact (1 for "
        )
        for c in app.caption
    )

    scope.set_value("NoUserImpact")
    app = submit(fill_request(app, FIREWALL), FIREWALL)

    [filed] = requests_in(own_store)
    assert (filed[3], filed[4]) == ("ConfigurationChange", "NoUserImpact")
    assert [s.value for s in app.success] == ["Request filed: 2 devices targeted."]


def test_without_sign_in_or_operator_email_the_request_is_refused(
    monkeypatch, own_store
):
    app = open_page(monkeypatch, own_store, {"recommendation": READER}, user=NOBODY)

    app = submit(fill_request(app, READER), READER)

    assert errors(app) == [
        "Nobody is signed in and no operator email is set: set the operator email "
        "on the Settings page, or sign in."
    ]
    assert requests_in(own_store) == []


def test_without_sign_in_the_operator_email_files_the_request(monkeypatch, own_store):
    opsettings.save_operational(
        own_store,
        {"operator_email": "ops@contoso.test"},
        "admin@contoso.test",
        datetime.now(UTC),
    )
    app = open_page(monkeypatch, own_store, {"recommendation": READER}, user=NOBODY)

    submit(fill_request(app, READER), READER)

    assert [r[-1] for r in requests_in(own_store)] == ["ops@contoso.test"]
    frame = recommendations.list_recommendations(own_store, covered=True)
    assert frame["recommendation_id"].tolist() == [READER, ZULU]


def test_due_dates_default_to_empty_and_are_required(monkeypatch, own_store):
    app = open_page(monkeypatch, own_store, {"recommendation": READER})
    assert app.date_input(key=key("due_on", READER)).value is None

    app.radio(key=key("priority", READER)).set_value("High")
    app = submit(app, READER)

    assert errors(app) == ["Choose a due date."]
    assert requests_in(own_store) == []
