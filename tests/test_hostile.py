"""Hostile text in names, filters, addresses and notes: stored as typed, shown
as typed (never read as Markdown or HTML), and never changing a query."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.test_intune_pages import ADMIN, READER, open_on
from tests.test_pages import live_environment
from tvmdata import remediation, store, views
from tvmdata.errors import TvmError
from tvmdata.sync import sync_tenant

DROP = "'; drop table activities; --"
HOSTILE = [
    DROP,
    "100% _done_ \\ 'quoted' \"double\"",
    "**x**",
    "[a](javascript:alert(1))",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
]
GROUP = "Finance <script>alert(1)</script> **bold** [a](javascript:alert(1))"
TITLE = "Update **Chrome** <img src=x onerror=alert(1)> 100%_\\"
# Elements Streamlit draws as Markdown; text of ours in them must be escaped.
MARKDOWN_ELEMENTS = ("title", "header", "subheader", "markdown", "caption")
MARKDOWN_ELEMENTS += ("warning", "info", "error", "success")
ESCAPED = re.compile(r"\\([\\`*_\[\]<>$~|#])")


@pytest.fixture
def hostile(emulator, settings, monkeypatch):
    data = emulator.tenant()
    finance = data["machines"][0]["rbacGroupName"]
    for machine in data["machines"]:
        if machine["rbacGroupName"] == finance:
            machine["rbacGroupName"] = GROUP
    for refs in (
        *data["taskMachines"].values(),
        *data["recommendationMachines"].values(),
    ):
        for ref in refs:
            if ref["rbacGroupName"] == finance:
                ref["rbacGroupName"] = GROUP
    task = data["remediationTasks"][0]
    task["title"] = TITLE
    task["requesterEmail"] = DROP
    task["rbacGroupNames"] = [
        GROUP if g == finance else g for g in task["rbacGroupNames"]
    ]
    emulator.set_tenant(data)
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    monkeypatch.setenv("TVM_CA_BUNDLE", str(settings.ca_bundle))
    return settings


def count(settings, table: str) -> int:
    with store.connect(settings.db) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def shown_as_typed(app, texts) -> None:
    """No Markdown element carries any of `texts` unescaped; where one shows it,
    removing the escapes gives it back exactly."""
    for kind in MARKDOWN_ELEMENTS:
        for element in app.get(kind):
            value = str(element.value)
            for text in texts:
                risky = re.search(r"[*_\[\]<>\\]", text)
                assert not (risky and text in value), (kind, value)
                if ESCAPED.sub(r"\1", value) != value:
                    assert "\\" not in ESCAPED.sub("", value), (kind, value)


def test_hostile_filters_never_change_a_query(hostile):
    total = count(hostile, "activities")

    for text in HOSTILE:
        found = views.filter_activities(hostile, status=None, search=text)
        assert found["activity_id"].tolist() == [], text
        by = views.filter_activities(hostile, status=None, created_by=[text])
        assert by["activity"].tolist() == ([TITLE] if text == DROP else []), text

    whole = views.filter_activities(hostile, status=None, search=TITLE)
    assert whole["activity"].tolist() == [TITLE]
    assert count(hostile, "activities") == total


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_address_filters_show_an_empty_list_and_break_nothing(hostile, text):
    total = count(hostile, "activities")

    app = open_on(
        "pages/remediation.py",
        {"status": "All", "q": text, "created_by": text, "activity": text},
    )

    assert not app.exception and not app.error
    assert app.dataframe[0].value.empty
    warning = [w.value for w in app.warning]
    assert len(warning) == 1 and warning[0].startswith(
        "No remediation activity has the id "
    )
    assert ESCAPED.sub(r"\1", warning[0]).count(repr(text)) == 1
    assert app.text_input(key="filter_search").value == text
    shown_as_typed(app, [text])
    assert count(hostile, "activities") == total


def test_hostile_names_show_as_typed_in_the_list_and_the_detail(hostile):
    [activity_id] = views.filter_activities(hostile, search=TITLE)["activity_id"]

    listing = open_on("pages/remediation.py", {"status": "All"})
    detail = open_on("pages/remediation.py", {"activity": activity_id})

    assert not listing.exception and not detail.exception and not detail.error
    table = listing.dataframe[0].value
    row = table[table["activity_id"] == activity_id].iloc[0]
    assert row["activity"] == TITLE and row["created_by"] == DROP
    assert GROUP in list(row["device_groups"])
    assert [t.value for t in detail.title] == [TITLE.translate(_escapes())]
    shown_as_typed(detail, [TITLE, GROUP, DROP])
    groups = detail.dataframe[0].value["group_name"].tolist()
    assert GROUP in groups


def test_hostile_group_names_show_as_typed_on_the_group_pages(hostile):
    group_id = next(
        g for g, name in views.list_device_groups(hostile)[["group_id", "group_name"]]
        .itertuples(index=False) if name == GROUP
    )  # fmt: skip

    overview = open_on("pages/device_groups.py")
    group = open_on("pages/device_groups.py", {"group": str(group_id)})
    home = open_on("pages/home.py")
    bad_address = open_on("pages/device_groups.py", {"group": HOSTILE[3]})

    for app in (overview, group, home, bad_address):
        assert not app.exception and not app.error
        shown_as_typed(app, [GROUP, HOSTILE[3]])
    assert GROUP in overview.dataframe[0].value["group_name"].tolist()
    assert GROUP.translate(_escapes()) in [s.value for s in group.subheader]


def test_hostile_request_notes_are_stored_and_shown_as_typed(hostile):
    notes = "\n".join(HOSTILE)
    form = remediation.RequestForm(
        form_token="hostile",
        recommendation_id=READER,
        remediation_type="Update",
        group_ids=(101,),
        priority="High",
        due_on=(datetime.now(UTC) + timedelta(days=7)).date(),
        notes=notes,
    )
    filed = remediation.file_request(hostile, form, ADMIN, datetime.now(UTC))

    detail = open_on("pages/remediation.py", {"activity": filed.activity_id})

    assert remediation.load_request(hostile, filed.activity_id)["notes"] == notes
    assert not detail.exception and not detail.error
    assert notes in [t.value for t in detail.text]
    shown_as_typed(detail, HOSTILE)
    assert count(hostile, "requests") == 1


SERVER_TEXT = "**BOLD** [click](https://evil.invalid) <b>html</b> :red[red] $x^2$"


def test_a_servers_error_text_and_recommendation_fields_show_as_typed(
    hostile, emulator
):
    data = emulator.tenant()
    recommendation = data["recommendations"][0]
    recommendation["productName"] = recommendation["vendor"] = SERVER_TEXT
    emulator.set_tenant(data)
    sync_tenant(hostile)
    refusal = {"error": {"code": "BadRequest", "message": SERVER_TEXT}}
    emulator.script(r"^/api/remediationTasks$", [{"status": 400, "body": refusal}])
    with pytest.raises(TvmError):
        sync_tenant(hostile)

    pages = [
        open_on(page)
        for page in ("pages/home.py", "pages/remediation.py", "pages/settings.py")
    ]
    pages.append(
        open_on("pages/recommendations.py", {"recommendation": recommendation["id"]})
    )

    for app in pages:
        assert not app.exception
        shown_as_typed(app, [SERVER_TEXT])
        warnings = [ESCAPED.sub(r"\1", w.value) for w in app.sidebar.warning]
        assert any(SERVER_TEXT in w for w in warnings), warnings
    captions = [ESCAPED.sub(r"\1", c.value) for c in pages[-1].caption]
    assert any(f"{SERVER_TEXT} · {SERVER_TEXT}" in c for c in captions), captions


def _escapes() -> dict:
    return {ord(c): "\\" + c for c in "\\`*_[]<>$~|#"}
