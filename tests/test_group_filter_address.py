"""The sidebar's device-group choice in the address (`?groups=<ids>`): read on
arrival, written on every page, kept across page switches; every group is no
parameter."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tests.test_pages import live_environment, run_on_page
from tvmdata import views
from tvmdata.sync import sync_tenant

HOME = "pages/home.py"
PAGES = [
    "pages/home.py",
    "pages/remediation.py",
    "pages/device_groups.py",
    "pages/recommendations.py",
]


@pytest.fixture
def group_ids(monkeypatch, settings) -> list[int]:
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    ids = [int(i) for i in views.list_device_groups(settings)["group_id"]]
    assert len(ids) >= 3, "the sample tenant has several device groups"
    return ids


def open_with(page: str, params: dict | None = None) -> AppTest:
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app.query_params.update(params or {})
    app.user = {"is_logged_in": True, "email": "lead@contoso.test"}
    return run_on_page(app, page)


def chooser(app: AppTest):
    return app.sidebar.multiselect(key="device_groups")


def in_address(app: AppTest) -> list[int]:
    """The ids the address names after the run (`?groups=` repeated)."""
    value = app.query_params.get("groups", [])
    return [int(v) for v in ([value] if isinstance(value, str) else value)]


@pytest.mark.parametrize("page", PAGES)
def test_a_shared_link_opens_every_page_on_its_device_groups(group_ids, page):
    wanted = sorted(group_ids[:2])

    app = open_with(page, {"groups": [str(i) for i in wanted]})

    assert not app.exception
    assert chooser(app).value == wanted
    assert chooser(app).label == f"Device groups: 2 of {len(group_ids)}"
    assert in_address(app) == wanted


def test_a_link_may_also_list_the_ids_with_commas(group_ids):
    wanted = sorted(group_ids[:2])

    app = open_with(HOME, {"groups": ",".join(str(i) for i in wanted)})

    assert chooser(app).value == wanted
    assert in_address(app) == wanted


def test_the_home_page_shows_what_the_linked_groups_hold(group_ids, settings):
    chosen = group_ids[-1]

    app = open_with(HOME, {"groups": str(chosen)})

    expected = views.load_kpis(settings, groups=[chosen])
    shown = {m.label: m.value for m in app.metric}
    assert shown["Active activities"] == str(expected["active_activities"]["value"])


def test_choosing_groups_writes_them_and_choosing_none_removes_the_parameter(
    group_ids,
):
    app = open_with(HOME)
    assert "groups" not in app.query_params

    chooser(app).set_value([group_ids[2], group_ids[0]])
    app = run_on_page(app, HOME)
    written = in_address(app)

    chooser(app).set_value([])
    app = run_on_page(app, HOME)

    assert written == sorted([group_ids[0], group_ids[2]])
    assert "groups" not in app.query_params
    assert chooser(app).value == []


def test_every_group_chosen_is_no_parameter(group_ids):
    app = open_with(HOME, {"groups": ",".join(str(i) for i in group_ids)})

    assert not app.exception
    assert "groups" not in app.query_params
    assert chooser(app).label == f"Device groups: all {len(group_ids)}"


def test_the_choice_survives_a_page_switch_that_drops_the_address(group_ids):
    app = open_with(HOME, {"groups": str(group_ids[1])})

    # Following a link in the navigation leaves the parameters behind.
    app.query_params.clear()
    app = run_on_page(app, "pages/remediation.py")

    assert not app.exception
    assert chooser(app).value == [group_ids[1]]
    assert in_address(app) == [group_ids[1]]


def test_unknown_and_unreadable_ids_in_the_address_are_left_out(group_ids):
    unknown = max(group_ids) + 1000

    app = open_with(HOME, {"groups": f"{group_ids[0]},x,{unknown}"})

    assert not app.exception
    assert chooser(app).value == [group_ids[0]]
    assert in_address(app) == [group_ids[0]]
