"""Pacing shared by processes: Defender's limits hold per app and tenant, so a
sync started right after another (cron, then Sync now) counts the calls the
earlier one made in the last hour. Each `connect_defender` below is what a new
process builds; they share only the ledger file beside the database."""

from __future__ import annotations

import logging

from tvmdata.client import Pacer, connect_defender, pacing_ledger


def paced(settings):
    return settings.with_overrides(max_calls_per_minute=5, max_calls_per_hour=20)


def test_a_second_process_waits_for_the_hour_the_first_one_filled(
    settings, emulator, fake_clock
):
    first = connect_defender(paced(settings), fake_clock)
    for _ in range(20):
        first.get_json("/api/machines")
    ended = fake_clock.monotonic()

    second = connect_defender(paced(settings), fake_clock)
    second.get_json("/api/machines")

    # Calls 1-20 ran at t=0, 60, 120, 180; the 21st may go once the first call
    # has left the hour, at t=3600, however many processes made them.
    assert ended == 180
    assert fake_clock.monotonic() == 3600
    assert emulator.calls["machines"] == 21


def test_calls_older_than_an_hour_no_longer_count_and_are_dropped(
    settings, emulator, fake_clock
):
    first = connect_defender(paced(settings), fake_clock)
    for _ in range(20):
        first.get_json("/api/machines")
    fake_clock.advance(3600)

    second = connect_defender(paced(settings), fake_clock)
    started = fake_clock.monotonic()
    for _ in range(5):
        second.get_json("/api/machines")

    assert fake_clock.monotonic() == started
    # Only the last hour's moments are kept: the 5 new calls.
    assert len(pacing_ledger(settings).read_text().splitlines()) == 5


def test_a_line_cut_short_by_a_killed_process_is_skipped(tmp_path, fake_clock):
    ledger = tmp_path / "tvm.duckdb.calls"
    now = fake_clock.now().timestamp()
    cut = f"{now:.3f}"[:5]  # the start of a moment, as a kill can leave it
    ledger.write_text(f"{now - 30:.3f}\n{now - 20:.3f}\n{now - 10:.3f}\n1.2.\n{cut}")

    pacer = Pacer(3, 0, fake_clock, ledger)
    pacer.wait_turn()

    # Three calls in the last 30 s: the fourth waits until the oldest is 60 s old.
    assert fake_clock.sleeps == [30]


def test_an_unwritable_ledger_leaves_pacing_to_the_process(
    tmp_path, fake_clock, caplog
):
    folder = tmp_path / "a-file"  # where a folder should be: nothing can go in
    folder.write_text("")
    pacer = Pacer(5, 20, fake_clock, folder / "sub" / "tvm.duckdb.calls")

    with caplog.at_level(logging.WARNING, logger="tvmdata.client"):
        for _ in range(6):
            pacer.wait_turn()

    assert fake_clock.sleeps[-1] == 60
    assert [r.getMessage().split(" unusable")[0] for r in caplog.records] == [
        f"pacing ledger {folder / 'sub' / 'tvm.duckdb.calls'}"
    ]


def test_without_limits_no_ledger_is_written(settings, emulator, fake_clock):
    client = connect_defender(settings, fake_clock)

    client.get_json("/api/machines")

    assert not pacing_ledger(settings).exists()
