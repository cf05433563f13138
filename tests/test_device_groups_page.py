"""The Device groups page through Streamlit's AppTest, on a synced database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from pages import common
from tests.conftest import REPO
from tests.test_pages import live_environment, run_on_page
from tvmdata import labels, progress
from tvmdata.sync import sync_tenant

PAGE = "pages/device_groups.py"
FINANCE, ENGINEERING = 101, 102


def open_page(query_params: dict | None = None, state: dict | None = None):
    """The dashboard on the Device groups page."""
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    run_on_page(app, "pages/home.py")
    app.query_params.update(query_params or {})
    for key, value in (state or {}).items():
        app.session_state[key] = value
    return run_on_page(app, PAGE)


@pytest.fixture
def synced(monkeypatch, settings):
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    return settings


def test_the_page_lists_every_device_group_with_its_figures(synced):
    app = open_page()

    assert not app.exception and not app.error
    assert app.title[0].value == "Device groups"
    shown = app.dataframe[0].value
    expected = progress.load_group_progress(synced)
    assert shown["group_name"].tolist() == ["Engineering", "Finance", "Unassigned"]
    assert shown["exposed_devices"].tolist() == expected["exposed_devices"].tolist()
    # One sync: the history does not reach back 30 days, so no change shows.
    assert shown["change_30_days"].isna().all()
    assert [s.value for s in app.subheader] == [
        "Device groups",
        "Forecasts",
        "Regressions",
        "This month against last month",
        "Progress report",
    ]


def test_the_sidebar_filter_limits_every_table_to_the_chosen_groups(synced):
    app = open_page(state={common.GROUPS_KEY: [FINANCE]})

    assert not app.exception
    assert app.dataframe[0].value["group_name"].tolist() == ["Finance"]
    months = [d.value for d in app.dataframe if "fixed_this_month" in d.value]
    assert months[0]["group_name"].tolist() == ["Finance"]


def test_a_group_in_the_address_opens_its_view(synced):
    app = open_page({"group": str(FINANCE)})

    assert not app.exception and not app.error
    assert "Finance" in [s.value for s in app.subheader]
    activities = progress.load_group_activities(synced, FINANCE)
    devices = progress.load_group_exposed_devices(synced, FINANCE)
    shown = [d.value for d in app.dataframe]
    assert any(
        "forecast" in frame
        and frame["activity_id"].tolist() == activities["activity_id"].tolist()
        for frame in shown
    )
    assert any(
        "days_exposed" in frame
        and frame["machine_id"].tolist() == devices["machine_id"].tolist()
        for frame in shown
    )


def test_choosing_a_row_opens_that_group(synced):
    selection = {"selection": {"rows": [1], "columns": [], "cells": []}}
    app = open_page(state={"group_table_shown_ids": [ENGINEERING, FINANCE, 0],
                           "group_table": selection})  # fmt: skip

    assert not app.exception
    assert app.query_params["group"] == str(FINANCE)
    assert "Finance" in [s.value for s in app.subheader]


def test_an_unknown_group_says_so_in_one_sentence(synced):
    app = open_page({"group": "999"})

    assert not app.exception and not app.error
    assert [w.value for w in app.warning] == [
        "No device group has the id 999: choose one in the table."
    ]


def test_a_period_reaching_past_today_ends_today_with_a_caption(synced):
    today = datetime.now(UTC).date()
    app = open_page()
    period = app.date_input(key="groups_period")
    # The input takes later days (the browser marks a day past a maximum as an
    # error); the page clamps the period instead.
    assert period.proto.max > f"{today:%Y/%m/%d}"

    period.set_value((today - timedelta(days=5), today + timedelta(days=10)))
    app = run_on_page(app, PAGE)

    assert not app.exception and not app.error
    captions = [c.value for c in app.caption]
    assert (
        f"The period ends today, {labels.day(today)}: there are no figures after it "
        "yet." in captions
    )
    regressions = f"again from {labels.day(today - timedelta(days=5))} to "
    assert any(regressions + f"{labels.day(today)}." in c for c in captions)


def test_a_period_within_the_past_has_no_such_caption(synced):
    today = datetime.now(UTC).date()
    app = open_page()

    app.date_input(key="groups_period").set_value((today - timedelta(days=9), today))
    app = run_on_page(app, PAGE)

    assert not app.exception
    assert not [c for c in app.caption if c.value.startswith("The period ends")]


def test_the_forecast_stands_beside_its_activity_which_stays_in_place(synced):
    app = open_page()

    table = next(d for d in app.dataframe if "forecast" in d.value.columns)

    assert list(table.proto.column_order)[:3] == ["title", "group_name", "forecast"]
    assert json.loads(table.proto.columns)["title"]["pinned"] is True
