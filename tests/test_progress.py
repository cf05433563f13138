"""Progress by device group and over time, on a hand-built history.

Two device groups, six devices and six activities, written straight into the
history tables of a real store. "Now" is 20 Mar 2026 12:00 UTC; the 14 days of
the forecast window start on 6 Mar 12:00.

- steady (due 10 Apr): Alpha's a1..a4 and Beta's b1, b2 exposed from 1 Mar;
  a1 fixed 10 Mar, a2 fixed 15 Mar; b1 fixed 12 Mar and exposed again 16 Mar.
- stuck (due 1 Mar, overdue): Alpha's a1 and a2 from 1 Feb; a1 fixed 20 Feb.
- done (due 30 Mar): Alpha's a3 from 2 Mar, fixed 19 Mar.
- fresh (due 30 Apr): Beta's b1 and b2 from 16 Mar; b1 fixed 18 Mar.
- closed (completed 25 Feb): Beta's b2 from 15 Jan, fixed 25 Feb.
- attn (attention required): Alpha's a4, still exposed; left out everywhere.
"""

from __future__ import annotations

import codecs
import csv
import io
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from tvmdata import progress, store
from tvmdata.config import Settings

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
ALPHA, BETA = 1, 2


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


ACTIVITIES = [
    # id, type, status, created, status changed, due
    ("steady", "Update", "Active", at(3, 1), at(3, 1), date(2026, 4, 10)),
    ("stuck", "Update", "Active", at(2, 1), at(2, 1), date(2026, 3, 1)),
    ("done", "ConfigurationChange", "Active", at(3, 2), at(3, 2), date(2026, 3, 30)),
    ("fresh", "Update", "Active", at(3, 16), at(3, 16), date(2026, 4, 30)),
    ("closed", "Update", "Completed", at(1, 15), at(2, 25), date(2026, 2, 20)),
    ("attn", "AttentionRequired", "Active", at(3, 1), at(3, 1), None),
]
INTERVALS = [
    # activity, device, group, from, to, end reason
    ("steady", "a1", ALPHA, at(3, 1), at(3, 10), "fixed"),
    ("steady", "a2", ALPHA, at(3, 1), at(3, 15), "fixed"),
    ("steady", "a3", ALPHA, at(3, 1), None, None),
    ("steady", "a4", ALPHA, at(3, 1), None, None),
    ("steady", "b1", BETA, at(3, 1), at(3, 12), "fixed"),
    ("steady", "b1", BETA, at(3, 16), None, None),
    ("steady", "b2", BETA, at(3, 1), None, None),
    ("stuck", "a1", ALPHA, at(2, 1), at(2, 20), "fixed"),
    ("stuck", "a2", ALPHA, at(2, 1), None, None),
    ("done", "a3", ALPHA, at(3, 2), at(3, 19), "fixed"),
    ("fresh", "b1", BETA, at(3, 16), at(3, 18), "fixed"),
    ("fresh", "b2", BETA, at(3, 16), None, None),
    ("closed", "b2", BETA, at(1, 15), at(2, 25), "fixed"),
    ("attn", "a4", ALPHA, at(3, 1), None, None),
]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Settings:
    db = tmp_path_factory.mktemp("progress") / "tvm.duckdb"
    with store.connect(db) as con:
        con.executemany(
            "insert into device_groups values (?, ?, 1)",
            [(ALPHA, "Alpha"), (BETA, "Beta")],
        )
        con.executemany(
            "insert into machines (machine_id, computer_dns_name, os_platform, "
            "group_id) values (?, ?, 'Windows11', ?)",
            [(m, f"{m}.contoso.test", g) for m, g in MACHINES],
        )
        con.executemany(
            "insert into activities (activity_id, title, remediation_type, status, "
            "priority, created_on, status_changed_on, due_on) "
            "values (?, ?, ?, ?, 'High', ?, ?, ?)",
            [(i, f"Fix {i}", t, s, c, ch, d) for i, t, s, c, ch, d in ACTIVITIES],
        )
        con.executemany(
            "insert into exposure_intervals (activity_id, machine_id, group_id, "
            "exposed_from, exposed_to, end_reason) values (?, ?, ?, ?, ?, ?)",
            INTERVALS,
        )
        # History written by hand: link each interval to its neighbours as
        # the merge does (queries/schema_v4.sql).
        store.run_script(con, "exposure_to_link_all")
        store.run_script(con, "link_exposure")
    return Settings(db=db, lock_wait_seconds=5)


MACHINES = [("a1", ALPHA), ("a2", ALPHA), ("a3", ALPHA), ("a4", ALPHA)]
MACHINES += [("b1", BETA), ("b2", BETA)]


def rows(frame, columns: list[str]) -> list[tuple]:
    """The frame's rows as plain values: None for blanks, dates for days."""
    return [
        tuple(_plain(v) for v in row) for row in frame[columns].itertuples(index=False)
    ]


def _plain(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime() if value.tzinfo else value.date()
    return value


# The group table


def test_each_group_shows_exposure_fixes_activities_share_and_median(history):
    table = progress.load_group_progress(history, now=NOW)

    assert table.drop(columns="fixed_share").to_dict("records") == [
        {
            "group_id": ALPHA,
            "group_name": "Alpha",
            "exposed_devices": 3,
            "fixed_7_days": 2,
            "fixed_30_days": 4,
            "active_activities": 3,
            "overdue_activities": 1,
            "median_days_to_fix": 15.5,
            "exposed_30_days_ago": 2,
            "change_30_days": 1,
        },
        {
            "group_id": BETA,
            "group_name": "Beta",
            "exposed_devices": 3,
            "fixed_7_days": 1,
            "fixed_30_days": 3,
            "active_activities": 2,
            "overdue_activities": 0,
            "median_days_to_fix": 11.0,
            "exposed_30_days_ago": 1,
            "change_30_days": 2,
        },
    ]
    assert table["fixed_share"].tolist() == pytest.approx([4 / 7, 1 / 4])


def test_the_group_filter_keeps_only_the_chosen_groups(history):
    table = progress.load_group_progress(history, groups=[BETA], now=NOW)

    assert table["group_name"].tolist() == ["Beta"]
    assert progress.load_group_progress(history, groups=[], now=NOW).empty


# Forecasts


def test_forecasts_project_from_the_net_fix_rate_of_the_last_14_days(history):
    forecasts = progress.load_forecasts(history, now=NOW)

    assert rows(
        forecasts,
        ["activity_id", "group_name", "exposed_devices", "fixed_14_days",
         "regressed_14_days", "projected_on", "forecast"],
    ) == [
        ("stuck", "Whole activity", 1, 0, 0, None, "Stalled"),
        ("stuck", "Alpha", 1, 0, 0, None, "Stalled"),
        ("done", "Whole activity", 0, 1, 0, None, "Finished"),
        ("done", "Alpha", 0, 1, 0, None, "Finished"),
        ("steady", "Whole activity", 4, 3, 1, date(2026, 4, 17), "Will miss by 7 days"),
        ("steady", "Alpha", 2, 2, 0, date(2026, 4, 3), "On track"),
        ("steady", "Beta", 2, 1, 1, None, "No net progress"),
        ("fresh", "Whole activity", 1, 1, 0, None, "Not enough history"),
        ("fresh", "Beta", 1, 1, 0, None, "Not enough history"),
    ]  # fmt: skip
    steady = forecasts[forecasts["activity_id"] == "steady"]
    assert steady["net_per_day"].tolist() == pytest.approx([2 / 14, 2 / 14, 0.0])
    assert steady["flag"].tolist() == ["will_miss", "on_track", "no_net_progress"]
    assert steady["days_late"].tolist()[0] == 7


def test_forecasts_in_chosen_groups_keep_the_whole_activity_row(history):
    forecasts = progress.load_forecasts(history, groups=[BETA], now=NOW)

    assert rows(forecasts, ["activity_id", "group_name"]) == [
        ("steady", "Whole activity"),
        ("steady", "Beta"),
        ("fresh", "Whole activity"),
        ("fresh", "Beta"),
    ]


def test_a_forecast_is_worded_for_people():
    assert [
        progress.forecast_words(flag, late)
        for flag, late in [("will_miss", 1), ("will_miss", 12), ("on_track", None),
                           ("not_enough_history", None), (None, None)]
    ] == ["Will miss by 1 day", "Will miss by 12 days", "On track",
          "Not enough history", ""]  # fmt: skip


# Regressions and months


def test_a_device_fixed_and_exposed_again_is_a_regression_of_its_group(history):
    found = progress.load_regressions(history, now=NOW)
    counts = progress.count_regressions(history, now=NOW)

    assert rows(
        found,
        ["group_name", "activity_id", "machine_id", "fixed_on", "exposed_again_on",
         "status"],
    ) == [("Beta", "steady", "b1", at(3, 12), at(3, 16), "Exposed")]  # fmt: skip
    assert rows(counts, ["group_name", "regressions", "still_exposed"]) == [
        ("Alpha", 0, 0),
        ("Beta", 1, 1),
    ]
    before = progress.load_regressions(
        history, start=date(2026, 3, 1), end=date(2026, 3, 15), now=NOW
    )
    assert before.empty


def test_this_month_is_compared_with_the_last_calendar_month(history):
    months = progress.load_month_comparison(history, now=NOW)

    assert months.drop(columns="group_id").to_dict("records") == [
        {
            "group_name": "Alpha",
            "fixed_this_month": 3,
            "fixed_last_month": 1,
            "completed_this_month": 0,
            "completed_last_month": 0,
            "overdue_now": 1,
            "overdue_end_of_last_month": 0,
        },
        {
            "group_name": "Beta",
            "fixed_this_month": 2,
            "fixed_last_month": 1,
            "completed_this_month": 0,
            "completed_last_month": 1,
            "overdue_now": 0,
            "overdue_end_of_last_month": 0,
        },
    ]


# One group's view


def test_a_groups_burn_down_counts_its_active_activities_day_by_day(history):
    burndown = progress.load_group_burndown(history, ALPHA, now=NOW)

    by_day = dict(rows(burndown, ["day", "exposed_devices"]))
    assert len(burndown) == 48
    assert [
        by_day[date(2026, m, d)] for m, d in [(2, 1), (2, 20), (3, 1), (3, 19), (3, 20)]
    ] == [2, 1, 6, 3, 3]


def test_a_groups_activities_show_its_own_progress_and_forecast(history):
    activities = progress.load_group_activities(history, ALPHA, now=NOW)

    assert rows(
        activities,
        ["activity_id", "overdue", "exposed_devices", "fixed_devices",
         "target_devices", "fixed_share", "projected_on", "forecast"],
    ) == [
        ("stuck", True, 1, 1, 2, 0.5, None, "Stalled"),
        ("done", False, 0, 1, 1, 1.0, None, "Finished"),
        ("steady", False, 2, 2, 4, 0.5, date(2026, 4, 3), "On track"),
    ]  # fmt: skip


def test_a_groups_exposed_devices_say_for_how_long(history):
    devices = progress.load_group_exposed_devices(history, ALPHA, now=NOW)

    assert rows(devices, ["machine_id", "activity_id", "days_exposed"]) == [
        ("a2", "stuck", 47),
        ("a3", "steady", 19),
        ("a4", "steady", 19),
    ]


# The progress report


def read(raw: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_the_progress_report_gives_group_and_activity_figures_for_a_period(
    history,
):
    report = progress.load_progress_report(
        history, start=date(2026, 3, 1), end=date(2026, 3, 31), now=NOW
    )

    assert rows(
        report,
        ["level", "group_name", "activity_id", "exposed_at_start", "exposed_at_end",
         "fixed", "regressions", "median_days_to_fix", "completed_activities",
         "overdue_activities", "overdue_at_end"],
    ) == [
        ("group", "Alpha", None, 5, 3, 3, 0, 14.0, 0, 1, None),
        ("group", "Beta", None, 2, 3, 2, 1, 6.5, 0, 0, None),
        ("activity", None, "stuck", 1, 1, 0, 0, None, None, 1, True),
        ("activity", None, "done", 0, 0, 1, 0, 17.0, None, 0, False),
        ("activity", None, "steady", 6, 4, 3, 1, 11.0, None, 0, False),
        ("activity", None, "fresh", 0, 1, 1, 0, 2.0, None, 0, False),
    ]  # fmt: skip
    assert set(report["period_start"]) == {date(2026, 3, 1)}
    assert set(report["period_end"]) == {date(2026, 3, 20)}


def test_a_period_ending_before_it_starts_is_one_plain_sentence(history):
    with pytest.raises(progress.PeriodNotValid, match="choose a first day"):
        progress.load_progress_report(
            history, start=date(2026, 3, 5), end=date(2026, 3, 1), now=NOW
        )


def test_the_report_downloads_through_the_shared_csv_writer(history):
    report = progress.load_progress_report(
        history, groups=[ALPHA], start=date(2026, 3, 1), end=date(2026, 3, 31), now=NOW
    )

    raw = progress.table_csv(report, progress.REPORT_COLUMNS, "sync 3")
    lines = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert raw.startswith(codecs.BOM_UTF8)
    assert [(r["Level"], r["Device group"], r["Activity id"]) for r in lines] == [
        ("group", "Alpha", ""),
        ("activity", "", "stuck"),
        ("activity", "", "done"),
        ("activity", "", "steady"),
    ]
    assert lines[0]["Exposed at start"] == "5" and lines[0]["As of (UTC)"] == "sync 3"
    # One overdue column: a group's count, and 1 or 0 for each activity.
    overdue = [h for h in lines[0] if "overdue" in h.casefold()]
    assert overdue == ["Overdue activities at end"]
    assert [r["Overdue activities at end"] for r in lines] == ["1", "1", "0", "0"]


def test_file_names_name_one_date_only():
    period = (date(2026, 3, 1), date(2026, 3, 31))

    names = [
        progress.file_name("progress-report", ["Alpha"], NOW, period),
        progress.file_name("device-groups", None, NOW),
        progress.file_name("device-groups", ["Alpha", "Beta"], None),
    ]

    assert names == [
        "progress-report-alpha-2026-03-01-to-2026-03-31.csv",
        "device-groups-all-groups-2026-03-20.csv",
        "device-groups-alpha-beta-no-sync.csv",
    ]


def test_shares_fixed_download_as_percentages(history):
    table = progress.load_group_progress(history, now=NOW)
    activities = progress.load_group_activities(history, ALPHA, now=NOW)

    groups = read(progress.table_csv(table, progress.GROUP_COLUMNS, "sync 3"))
    in_group = read(
        progress.table_csv(activities, progress.GROUP_ACTIVITY_COLUMNS, "sync 3")
    )

    assert [r["Share fixed (%)"] for r in groups] == ["57.1", "25.0"]
    assert [r["Share fixed (%)"] for r in in_group] == ["50.0", "100.0", "50.0"]


def test_loads_in_one_reading_share_one_database_and_give_the_same_figures(
    history, monkeypatch
):
    def loads():
        return [
            progress.load_group_progress(history, None, NOW),
            progress.load_forecasts(history, None, NOW),
            progress.count_regressions(history, None, None, None, NOW),
            progress.load_month_comparison(history, None, NOW),
        ]

    apart = loads()
    opened = []
    plain = store.open_store
    monkeypatch.setattr(store, "open_store", lambda s: opened.append(s) or plain(s))

    with progress.one_reading(history):
        together = loads()

    assert len(opened) == 1
    assert all(a.equals(b) for a, b in zip(apart, together, strict=True))
    assert not together[0].empty
