"""The activity detail's progress over time: a caption until two syncs have
tracked the activity, then a chart whose date axis names each day once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.express as px
import pytest
from streamlit.testing.v1 import AppTest

from pages import charts
from pages.activity_detail import history_caption, tracking_line
from tests.conftest import REPO
from tests.test_pages import live_environment, run_on_page
from tests.test_views import build_store
from tvmdata import labels, views
from tvmdata.clock import FakeClock
from tvmdata.sync import sync_tenant

REMEDIATION = "pages/remediation.py"
FIRST_SYNC = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def open_detail(activity_id: str) -> AppTest:
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app.query_params["activity"] = activity_id
    app.user = {"is_logged_in": True, "email": "lead@contoso.test"}
    return run_on_page(app, REMEDIATION)


def detail_charts(app: AppTest) -> list[dict]:
    return [
        json.loads(chart.proto.spec)
        for chart in app.get("plotly_chart")
        if chart.proto.id and "detail_progress_over_time" in chart.proto.id
    ]


def ticks(figure_layout: dict, first: datetime, last: datetime) -> list[str]:
    """The day labels Plotly draws from tick0 every dtick within the x range
    (or the data's days when no range is set)."""
    axis = figure_layout["xaxis"]
    low, high = axis.get("range", [first, last])
    # Plotly reads every time as written, without its zone.
    low, high = (pd.Timestamp(t).tz_localize(None) for t in (low, high))
    step = pd.Timedelta(milliseconds=axis["dtick"])
    tick = pd.Timestamp(axis["tick0"])
    while tick > low:
        tick -= step
    shown = []
    while tick <= high:
        if tick >= low:
            shown.append(tick.strftime("%-d %b %Y"))
        tick += step
    return shown


@pytest.fixture
def synced_once(monkeypatch, settings):
    sync_tenant(settings, clock=FakeClock(FIRST_SYNC))
    live_environment(monkeypatch, settings)
    return settings


def test_an_activity_never_tracked_says_its_history_starts_with_the_next_sync(
    monkeypatch, tmp_path
):
    tenant = build_store(tmp_path)
    assert views.load_activity_progress_over_time(tenant, "t-0").empty
    live_environment(monkeypatch, tenant)

    app = open_detail("t-0")

    assert not app.exception
    assert "Progress history starts with the next sync." in [
        c.value for c in app.caption
    ]
    assert detail_charts(app) == []


def test_one_sync_so_far_is_a_caption_not_a_lone_point(synced_once):
    activity_id = views.load_top_activities(synced_once).iloc[0]["activity_id"]
    history = views.load_activity_progress_over_time(synced_once, activity_id)
    assert len(history) == 1

    app = open_detail(activity_id)

    assert not app.exception
    expected = f"One sync so far ({labels.moment(FIRST_SYNC)}): progress over "
    assert expected + "time draws from the next." in [c.value for c in app.caption]
    assert detail_charts(app) == []


def test_two_syncs_hours_apart_draw_a_chart_naming_the_day_once(synced_once):
    sync_tenant(synced_once, clock=FakeClock(FIRST_SYNC + timedelta(hours=3)))
    activity_id = views.load_top_activities(synced_once).iloc[0]["activity_id"]

    app = open_detail(activity_id)

    [chart] = detail_charts(app)
    assert (
        history_caption(
            views.load_activity_progress_over_time(synced_once, activity_id)
        )
        is None
    )
    shown = ticks(chart["layout"], FIRST_SYNC, FIRST_SYNC + timedelta(hours=3))
    assert "1 Dec 2026" in shown
    assert len(shown) == len(set(shown))


@pytest.mark.parametrize(
    "moments",
    [
        [FIRST_SYNC, FIRST_SYNC + timedelta(hours=5)],
        [FIRST_SYNC + timedelta(hours=h) for h in range(0, 72, 6)],
        [FIRST_SYNC + timedelta(days=d) for d in range(12)],
        [FIRST_SYNC + timedelta(days=d, hours=d) for d in range(25)],
    ],
    ids=["hours", "three-days", "twelve-days", "25-days"],
)
def test_a_day_axis_ticks_on_whole_days_and_names_each_day_once(moments):
    figure = px.line(x=moments, y=range(len(moments)))

    charts.day_axis(figure, moments)

    layout = json.loads(figure.to_json())["layout"]
    shown = ticks(layout, min(moments), max(moments))
    assert layout["xaxis"]["tickformat"] == labels.PLOT_DAY
    assert shown and len(shown) == len(set(shown))
    assert len(shown) <= charts.MAX_DAY_TICKS + 1
    assert pd.Timedelta(milliseconds=layout["xaxis"]["dtick"]) >= pd.Timedelta(days=1)


def test_a_long_span_is_left_to_plotlys_own_spacing():
    moments = [FIRST_SYNC + timedelta(days=d) for d in range(0, 120, 7)]
    figure = px.line(x=moments, y=range(len(moments)))

    charts.day_axis(figure, moments)

    axis = json.loads(figure.to_json())["layout"]["xaxis"]
    assert axis["tickformat"] == labels.PLOT_DAY
    assert "dtick" not in axis


def test_a_headline_unlike_our_tracking_says_whose_count_each_is(synced_once):
    # An activity Defender counts some devices fixed for before our first sync.
    activity_id, fixed, target = next(
        (i, *tracked(synced_once, i))
        for i in views.filter_activities(synced_once)["activity_id"]
        if tracked(synced_once, i) != defenders(synced_once, i)
    )

    app = open_detail(activity_id)

    assert not app.exception
    line = next(c.value for c in app.caption if "Defender's own count" in c.value)
    assert f": {fixed} of {target} devices fixed;" in line


def tracked(settings, activity_id: str) -> tuple[int, int]:
    groups = views.load_activity_group_progress(settings, activity_id)
    fixed = int(groups["fixed_devices"].sum())
    return fixed, fixed + int(groups["exposed_devices"].sum())


def defenders(settings, activity_id: str) -> tuple[int, int]:
    detail = views.load_activity_detail(settings, activity_id)
    return detail["fixed_devices"] or 0, detail["target_devices"] or 0


def test_a_headline_that_agrees_with_our_tracking_needs_no_line():
    groups = pd.DataFrame(
        {
            "group_name": ["A", "B"],
            "exposed_devices": [3, 1],
            "fixed_devices": [2, 0],
            "tracked_since": [FIRST_SYNC, FIRST_SYNC],
        }
    )
    agreeing = {"fixed_devices": 2, "target_devices": 6, "source": "defender"}

    assert tracking_line(agreeing, None, groups) is None
    assert tracking_line({**agreeing, "fixed_devices": 5}, None, groups)


@pytest.mark.parametrize(("largest", "dtick"), [(2, 1), (5, 1), (330, None)])
def test_a_device_count_axis_starts_at_zero_in_whole_devices(largest, dtick):
    figure = px.line(x=[1, 2], y=[largest - 1, largest])

    charts.count_axis(figure, [largest - 1, largest])

    axis = figure.layout.yaxis
    assert axis.rangemode == "tozero" and axis.tickformat == ",d"
    assert axis.dtick == dtick


def test_both_progress_charts_colour_fixed_and_exposed_alike(synced_once):
    sync_tenant(synced_once, clock=FakeClock(FIRST_SYNC + timedelta(hours=3)))
    activity_id = views.load_top_activities(synced_once).iloc[0]["activity_id"]

    [chart] = detail_charts(open_detail(activity_id))

    colours = {trace["name"]: trace["line"]["color"] for trace in chart["data"]}
    assert colours == charts.DEVICE_COLORS
