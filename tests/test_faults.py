"""Faults beyond the field cases' exact values: odd fields, hostile servers,
unreadable files. Nothing is lost and every failure is one sentence."""

from __future__ import annotations

import csv
import io
import math
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.test_cli import cli, cli_env, one_line
from tests.test_sync import T0, machine, ref, rows, task, tenant_with
from tvmdata import csvout, exports, views
from tvmdata.client import connect_defender
from tvmdata.clock import FakeClock
from tvmdata.config import load_settings
from tvmdata.errors import (
    ApiError,
    ConfigError,
    InvalidResponse,
    QuotaExhausted,
    StoreError,
    SyncFailed,
)
from tvmdata.sync import sync_tenant

TASKS = r"^/api/remediationTasks$"
THROTTLED = {"error": {"code": "TooManyRequests", "message": "quota exceeded"}}


def throttled(retry_after: str) -> dict:
    return {"status": 429, "headers": {"Retry-After": retry_after}, "body": THROTTLED}


@pytest.mark.parametrize(
    ("retry_after", "shown"), [("86400", "86400 s"), ("1e308", "more than a day")]
)
def test_a_retry_after_beyond_five_minutes_ends_the_run_without_waiting(
    settings, emulator, fake_clock, retry_after, shown
):
    emulator.script(TASKS, [throttled(retry_after)])
    client = connect_defender(settings, fake_clock)

    with pytest.raises(QuotaExhausted) as raised:
        list(client.fetch_remediation_tasks())

    assert str(raised.value) == (
        f"GET /api/remediationTasks asked to wait {shown} (more than the 5 minutes "
        "a run waits): the tenant's API quota is exhausted; sync again later."
    )
    assert fake_clock.sleeps == []


# A moment long past: a wait counted from the wall clock instead of the client's
# clock would come out as zero.
PAST = datetime(2021, 1, 12, 18, 54, 11, tzinfo=UTC)
IN_TWO_MINUTES = PAST + timedelta(seconds=120)


@pytest.mark.parametrize(
    "when",
    [
        format_datetime(IN_TWO_MINUTES, usegmt=True),
        format_datetime(IN_TWO_MINUTES),
        format_datetime(IN_TWO_MINUTES.replace(tzinfo=None)),
    ],
    ids=["GMT", "+0000", "-0000"],
)
def test_a_retry_after_given_as_an_http_date_is_honoured(settings, emulator, when):
    clock = FakeClock(PAST)
    emulator.script(TASKS, [throttled(when)])

    pages = list(connect_defender(settings, clock).fetch_remediation_tasks())

    served = [t["id"] for t in emulator.tenant()["remediationTasks"]]
    assert [t["id"] for page in pages for t in page] == served
    assert clock.sleeps == [120.0]


def test_a_retry_after_date_already_past_retries_at_once(settings, emulator):
    clock = FakeClock(IN_TWO_MINUTES)
    emulator.script(TASKS, [throttled(format_datetime(PAST, usegmt=True))])

    list(connect_defender(settings, clock).fetch_remediation_tasks())

    assert clock.sleeps == [0.0]


@pytest.mark.parametrize("retry_after", ["nan", "inf", "-inf", "-5", "soon", ""])
def test_an_unusable_retry_after_falls_back_to_the_normal_back_off(
    settings, emulator, fake_clock, retry_after
):
    page = {"status": 200, "body": {"value": [{"id": "t1"}]}}
    emulator.script(TASKS, [throttled(retry_after), throttled(retry_after), page])

    pages = list(connect_defender(settings, fake_clock).fetch_remediation_tasks())

    assert pages == [[{"id": "t1"}]]
    assert fake_clock.sleeps == [2.0, 4.0]


def test_a_503_asking_for_a_long_wait_says_the_service_is_unavailable(
    settings, emulator, fake_clock
):
    unavailable = {"status": 503, "headers": {"Retry-After": "3600"}, "body": {}}
    emulator.script(TASKS, [unavailable])

    with pytest.raises(ApiError) as raised:
        list(connect_defender(settings, fake_clock).fetch_remediation_tasks())

    assert str(raised.value) == (
        "GET /api/remediationTasks answered HTTP 503: the service is unavailable "
        "and asked to wait 3600 s (more than the 5 minutes a run waits); try again "
        "later."
    )
    assert (raised.value.status, raised.value.retry_after) == (503, 3600.0)
    assert fake_clock.sleeps == []


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def do_GET(self):  # noqa: N802 (the http.server protocol)
        self.seen.append(self.headers.get("Authorization"))
        body = b'{"value": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_next_link_to_another_host_is_refused_and_gets_no_token(
    settings, emulator, fake_clock
):
    other = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    link = f"http://127.0.0.1:{other.server_address[1]}/collect"
    page = {"value": [{"id": "m1"}], "@odata.nextLink": link}
    emulator.script(r"^/api/machines$", [{"status": 200, "body": page}])

    try:
        with pytest.raises(InvalidResponse, match="another host"):
            list(connect_defender(settings, fake_clock).fetch_machines())
    finally:
        other.shutdown()
        other.server_close()

    assert _Recorder.seen == []


def test_a_next_link_that_repeats_stops_paging_with_a_clear_error(
    settings, emulator, fake_clock
):
    link = emulator.api_base + "/api/machines?$skiptoken=again"
    page = {"value": [{"id": "m1"}], "@odata.nextLink": link}
    emulator.script(r"^/api/machines$", [{"status": 200, "body": page}] * 5)

    with pytest.raises(InvalidResponse, match="same next-page link twice"):
        list(connect_defender(settings, fake_clock).fetch_machines())

    assert emulator.calls["machines"] == 2


@pytest.mark.parametrize(
    "body_text",
    ['{"value": [{"id": NaN}]}', '{"value": [{"id": "m1", "n": Infinity}]}', ""],
)
def test_json_that_is_not_standard_json_is_refused(
    settings, emulator, fake_clock, body_text
):
    emulator.script(r"^/api/machines$", [{"status": 200, "body_text": body_text}])

    with pytest.raises(InvalidResponse, match="not valid JSON"):
        list(connect_defender(settings, fake_clock).fetch_machines())


def test_unusable_optional_values_are_stored_empty_and_counted(settings, emulator):
    odd = machine("m1", "140.5", "Finance", lastSeen="0001-01-01T00:00:00+05:45")
    plain = machine("m2", 140, "Finance")
    late = task("t1", 0, 2, dueOn="2021-13-45", fixedDevices=True)
    tenant_with(emulator, [odd, plain], [late], {"t1": [ref(odd), ref(plain)]})

    result = sync_tenant(settings)

    stored = rows(settings, "select machine_id, group_id, last_seen from machines "
                            "order by 1")  # fmt: skip
    assert stored == [("m1", 140, None), ("m2", 140, plain_last_seen(plain))]
    activity = rows(
        settings, "select activity_id, due_on, fixed_devices from activities"
    )
    assert activity == [("t1", None, None)]
    assert result.rows["values_set_to_null"] == 4
    recorded = rows(settings, "select row_counts->>'values_set_to_null' from sync_runs")
    assert recorded == [("4",)]


def plain_last_seen(raw: dict) -> datetime:
    return datetime.fromisoformat(raw["lastSeen"])


def test_a_text_with_a_broken_surrogate_is_stored_with_a_replacement(
    settings, emulator
):
    broken = '{"value": [{"id": "m1", "computerDnsName": "ws-\\ud800"}]}'
    emulator.script(r"^/api/machines$", [{"status": 200, "body_text": broken}])

    sync_tenant(settings)

    assert rows(settings, "select computer_dns_name from machines") == [("ws-?",)]


def test_a_device_moved_to_another_group_counts_in_its_new_group(emulator, settings):
    clock = FakeClock(T0)
    before, after = machine("m1", 101, "Finance"), machine("m1", 102, "HR")
    tenant_with(emulator, [before], [task("T1", 0, 1)], {"T1": [ref(before)]})
    sync_tenant(settings, clock=clock)
    clock.set(T0 + timedelta(days=1))
    tenant_with(emulator, [after], [task("T1", 0, 1)], {"T1": [ref(after)]})

    sync_tenant(settings, clock=clock)

    snapshots = rows(settings, "select run_id, group_id, exposed_devices "
                               "from group_snapshots order by 1, 2")  # fmt: skip
    assert snapshots == [(1, 101, 1), (2, 102, 1)]
    intervals = rows(settings, "select group_id, end_reason from exposure_intervals "
                               "order by exposed_from")  # fmt: skip
    assert intervals == [(101, "moved"), (102, None)]


def test_an_unexpected_fault_is_recorded_as_a_failed_run_in_one_sentence(
    settings, emulator
):
    sync_tenant(settings)
    before = rows(settings, "select * from activities order by 1")
    staging = settings.db.with_name(settings.db.name + ".staging")
    staging.write_text("not a folder")

    with pytest.raises(SyncFailed) as raised:
        sync_tenant(settings)

    message = str(raised.value)
    assert "unexpected" in message and "previous data is unchanged" in message
    outcome = rows(settings, "select outcome, error from sync_runs order by run_id")
    assert outcome[-1] == ("failed", message)
    assert rows(settings, "select * from activities order by 1") == before


def test_a_ca_bundle_that_is_not_pem_is_named_in_the_error(tmp_path):
    der = tmp_path / "ca.der"
    der.write_bytes(b"\x30\x82\x01\x0a")

    with pytest.raises(ConfigError, match="TVM_CA_BUNDLE .* not a PEM file"):
        load_settings({"TVM_CA_BUNDLE": str(der)})


def test_list_columns_are_written_as_plain_text_in_csv(settings, emulator):
    data = emulator.tenant()
    data["remediationTasks"][0]["rbacGroupNames"] = ["Finance", "=HR"]
    emulator.set_tenant(data)
    sync_tenant(settings)

    listed = views.filter_activities(settings, status=None)
    document = exports.filtered_list_csv(listed, "sync 1")

    rows_ = list(csv.DictReader(io.StringIO(document.decode("utf-8-sig"))))
    groups = {r["Activity id"]: r["Device groups"] for r in rows_}
    assert groups[data["remediationTasks"][0]["id"]] == "Finance; =HR"


def test_not_a_number_is_a_blank_cell():
    assert csvout.safe_cell(math.nan) == ""
    assert csvout.safe_cell(-5) == -5


def test_a_database_folder_that_cannot_be_made_is_named_with_the_fix(
    settings, tmp_path
):
    not_a_folder = tmp_path / "tvm"
    not_a_folder.write_text("a file where the database folder should be")

    with pytest.raises(StoreError) as raised:
        sync_tenant(settings.with_overrides(db=not_a_folder / "tvm.duckdb"))

    assert str(raised.value) == (
        f"Cannot create the sync lock file in {not_a_folder} (File exists): "
        "point TVM_DB at a file in a writable folder."
    )


@pytest.mark.parametrize("days", ["36501", "99999999999"])
def test_purge_refuses_more_than_a_century_in_one_line(tmp_path, days):
    done = cli("purge", "--days", days, "--dry-run", env=cli_env(), cwd=tmp_path)

    assert one_line(done) == f"error: --days must be between 1 and 36500, not {days}."


def test_purge_accepts_a_century(settings, emulator, tmp_path):
    sync_tenant(settings)

    done = cli(
        "purge", "--days", "36500", "--dry-run", env=cli_env(settings), cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        "would purge nothing: no activity was completed over 36500 days ago"
    )
