"""Case 04-throttled-429, its last sentence: the client paces itself below
Defender's documented limits, counted on the emulator's side with the
injected clock (no real sleep)."""

from __future__ import annotations

import re
from bisect import bisect_left

from tests.conftest import load_case
from tvmdata.client import connect_defender
from tvmdata.config import Settings

# Defender's documented limit an hour per app and tenant (the minute's is in
# the case's 429 answer).
PER_HOUR = 1500


def busiest(stamps: list[float], window: float) -> int:
    """The most calls in any half-open window of `window` seconds."""
    return max(bisect_left(stamps, t + window) - i for i, t in enumerate(stamps))


def documented_per_minute() -> int:
    message = load_case("04")["input"]["responses"][0]["body"]["error"]["message"]
    return int(re.search(r"Maximum allowed (\d+) per 60 seconds", message).group(1))


def test_default_pacing_keeps_the_served_calls_strictly_below_both_limits(
    settings, emulator, fake_clock
):
    per_minute = documented_per_minute()
    defaults = Settings()
    paced = settings.with_overrides(
        max_calls_per_minute=defaults.max_calls_per_minute,
        max_calls_per_hour=defaults.max_calls_per_hour,
    )
    client = connect_defender(paced, fake_clock)

    stamps = []
    for served in range(1, PER_HOUR + 1):
        client.get_json("/api/machines")
        # The fake clock stands still during a call: now is when it was served.
        assert emulator.calls["machines"] == served
        stamps.append(fake_clock.monotonic())

    assert busiest(stamps, 60) < per_minute
    assert busiest(stamps, 3600) < PER_HOUR
    assert fake_clock.sleeps, "the client waited for its turn"
    assert stamps[0] == 0 and stamps[-1] > 3600
