"""The home page through Streamlit's AppTest, on a real synced database."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tests.test_pages import live_environment, run_dashboard, run_on_page
from tests.test_views import FINANCE, build_store
from tvmdata import views
from tvmdata.sync import sync_tenant

HOME = "pages/home.py"


def run_home() -> AppTest:
    return run_dashboard(HOME)


def top_card_ids(app: AppTest) -> list[str]:
    """The activity ids the Top remediation activities card links to, in order."""
    links = [link.proto for link in app.get("page_link")]
    return [
        parse_qs(link.query_string)["activity"][0]
        for link in links
        if "activity=" in link.query_string
    ]


def metric_values(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def test_home_is_the_default_page_and_runs_without_error(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    # No page asked for: the navigation's default page.
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30).run()

    assert not app.exception
    assert [t.value for t in app.title] == ["Remediation overview"]


def test_the_kpi_tiles_show_the_headline_figures(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    app = run_home()

    assert not app.exception
    kpis = views.load_kpis(settings)
    fixed = kpis["devices_fixed"]["value"]
    targeted = kpis["devices_targeted"]["value"]
    assert metric_values(app) == {
        "Active activities": str(kpis["active_activities"]["value"]),
        "Overdue activities": str(kpis["overdue_activities"]["value"]),
        "Devices remediated": f"{fixed} of {targeted}",
        "Completed in the last 30 days": str(kpis["completed_last_30_days"]["value"]),
    }
    # No sync had finished a week ago: no change is shown.
    assert kpis["active_activities"]["week_ago"] is None
    assert [m.proto.delta for m in app.metric] == ["", "", "", ""]


def test_the_top_card_lists_the_most_urgent_activities_in_order(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    app = run_home()

    assert not app.exception
    expected = views.load_top_activities(settings)
    assert len(expected) > 0
    assert top_card_ids(app) == expected["activity_id"].tolist()
    labels = [
        link.proto.label
        for link in app.get("page_link")
        if "activity=" in link.proto.query_string
    ]
    assert labels == expected["title"].tolist()
    assert any(
        link.proto.label == "Show all" and link.proto.query_string == ""
        for link in app.get("page_link")
    )
    captions = [c.value for c in app.caption]
    assert any(c.startswith("Overdue first, then nearest due date") for c in captions)


def test_choosing_a_device_group_narrows_the_top_card(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    groups = views.list_device_groups(settings)
    everything = set(views.load_top_activities(settings)["activity_id"])
    # A group whose activities differ from the whole tenant's.
    group_id = next(
        int(g)
        for g in groups["group_id"]
        if set(views.load_top_activities(settings, groups=[int(g)])["activity_id"])
        != everything
    )

    app = run_home()
    chooser = app.sidebar.multiselect(key="device_groups")
    assert chooser.label == f"Device groups: all {len(groups)}"
    chooser.set_value([group_id])
    app = run_on_page(app, HOME)

    assert not app.exception
    expected = views.load_top_activities(settings, groups=[group_id])
    assert top_card_ids(app) == expected["activity_id"].tolist()
    chooser = app.sidebar.multiselect(key="device_groups")
    assert chooser.label == f"Device groups: 1 of {len(groups)}"
    kpis = views.load_kpis(settings, groups=[group_id])
    assert metric_values(app)["Active activities"] == str(
        kpis["active_activities"]["value"]
    )


def test_the_home_charts_are_drawn(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)

    app = run_home()

    assert not app.exception
    assert len(app.get("plotly_chart")) == 3


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    """Settings of a store holding the hand-made tenant of `tests/test_views.py`."""
    return build_store(tmp_path_factory.mktemp("home"))


def test_the_tiles_and_charts_say_what_they_count(monkeypatch, tenant):
    live_environment(monkeypatch, tenant)

    app = run_home()

    helps = {m.label: m.proto.help for m in app.metric}
    assert helps["Devices remediated"].startswith(
        "Fixed of targeted devices, added up over active activities only"
    )
    captions = [c.value for c in app.caption]
    assert any(
        c.startswith("Every tracked activity, active and completed") for c in captions
    )
    assert any(
        c.startswith(
            "An activity that covers several device groups counts once in each of them"
        )
        for c in captions
    )


def top_progress_texts(app: AppTest) -> list[str]:
    return [p.proto.text for p in app.get("progress")]


def test_the_top_card_shows_the_chosen_groups_figures(monkeypatch, tenant):
    live_environment(monkeypatch, tenant)
    app = run_home()
    # Every due date of this tenant has passed: all are overdue, by due date.
    assert top_card_ids(app) == ["ovd", "t-9", "t-2", "t-0", "t-1", "late"]
    assert top_progress_texts(app)[:2] == [
        "2 of 5 devices fixed",
        "1 of 6 devices fixed",
    ]

    app.sidebar.multiselect(key="device_groups").set_value([FINANCE])
    app = run_on_page(app, HOME)

    assert not app.exception
    assert top_card_ids(app) == ["ovd", "t-9", "t-1"]
    # ovd's Finance devices are tracked; t-9 and t-1 list none, so they keep
    # Defender's whole-activity figures and say so.
    assert top_progress_texts(app) == [
        "1 of 3 devices fixed in selected groups",
        "1 of 6 devices fixed (whole activity: not tracked per group yet)",
        "3 of 5 devices fixed (whole activity: not tracked per group yet)",
    ]
    assert any("in selected groups" in c.value for c in app.caption)


def test_choosing_no_device_group_shows_every_group_on_home(monkeypatch, tenant):
    live_environment(monkeypatch, tenant)
    app = run_home()
    everything = top_card_ids(app)
    app.sidebar.multiselect(key="device_groups").set_value([FINANCE])
    app = run_on_page(app, HOME)
    assert top_card_ids(app) != everything

    app.sidebar.multiselect(key="device_groups").set_value([])
    app = run_on_page(app, HOME)

    assert top_card_ids(app) == everything
    assert app.sidebar.multiselect(key="device_groups").label == (
        "Device groups: all 5"
    )
    assert not app.info
