"""What the pages' charts share: a date axis that names each day once, a device
count axis in whole devices, and one colour each for fixed and still-exposed
devices.

Not a navigation page. Plotly picks its own tick spacing, and over a few days
it ticks every few hours; with a day-only label format that repeats each date.
"""

from __future__ import annotations

import math

import pandas as pd

from tvmdata import labels

# At most this many day ticks; Plotly's own spacing is kept for longer spans.
MAX_DAY_TICKS = 10
DAY_MS = 24 * 60 * 60 * 1000


# Fixed and still-exposed devices look the same on every chart.
DEVICE_COLORS = {"Fixed": "#0f6cbd", "Still exposed": "#d13438"}


def count_axis(figure, values) -> None:
    """Give `figure`'s y axis whole devices from zero: no half-device ticks on
    small counts, and a line's start is never cut off above the axis."""
    figure.update_yaxes(rangemode="tozero", tickformat=",d")
    largest = max((float(v) for v in values if pd.notna(v)), default=0.0)
    if largest < 6:
        figure.update_yaxes(tick0=0, dtick=1)


def day_axis(figure, moments) -> None:
    """Label `figure`'s x axis with days, each at most once.

    Args:
        figure: a Plotly figure whose x values are `moments`.
        moments: the dates or times drawn (any sequence pandas reads as dates).
    """
    figure.update_xaxes(tickformat=labels.PLOT_DAY)
    days = _naive_utc(moments)
    if days.empty:
        return
    first, last = days.min().floor("D"), days.max().floor("D")
    span = (last - first).days
    if span >= 3 * MAX_DAY_TICKS:
        return
    step = max(1, math.ceil((span + 1) / MAX_DAY_TICKS))
    # Ticks on whole days from the first day's midnight.
    figure.update_xaxes(tick0=f"{first:%Y-%m-%d}", dtick=step * DAY_MS)
    if span == 0:
        # Points of one day only: give the day room, centred.
        start, end = first - pd.Timedelta(hours=12), first + pd.Timedelta(hours=36)
        figure.update_xaxes(range=[f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}"])


def _naive_utc(moments) -> pd.Series:
    days = pd.to_datetime(pd.Series(list(moments)), utc=True).dropna()
    return days.dt.tz_localize(None)
