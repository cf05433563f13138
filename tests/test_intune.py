"""Intune security tasks for requests filed here: the task body, the outbox and
its delivery to Graph, the read-back by sync, and IT's answers.

The store is filled by the real sync from the emulator (over TLS, MSAL against
its token endpoint); the emulator then plays Intune and IT.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.test_emulator_graph import docs_example
from tests.test_requests import (  # noqa: F401 (the synced fixture)
    ALICE,
    CHROME,
    FIREWALL,
    T0,
    TODAY,
    form,
    publish,
    synced,
)
from tests.test_sync import rows
from tvmdata import intune, opsettings, remediation, store
from tvmdata.clock import FakeClock
from tvmdata.errors import DatabaseLocked
from tvmdata.remediation import RequestRefused
from tvmdata.sync import sync_tenant

DUE = TODAY + timedelta(days=14)
NOTES = "Please patch before the audit."
QUEUED = "it stays queued and is sent again at the next sync or on Retry"


def activity(**changes) -> dict:
    values = dict(
        activity_id="req-1",
        title="Update Google Chrome",
        description="Software update requested from this dashboard.",
        remediation_type="Update",
        recommended_program="chrome",
        recommended_vendor="google",
        recommended_version="126.0",
        target_devices=12_345,
    )
    values.update(changes)
    return values


def request(**changes) -> dict:
    values = dict(priority="Medium", due_on=DUE, notes=NOTES, requested_by=ALICE)
    values.update(changes)
    return values


def turn_intune(settings, on: bool) -> None:
    opsettings.save_operational(settings, {"intune_enabled": on}, ALICE, T0)


def file_with_task(settings, **changes):
    return remediation.file_request(
        settings, form(**changes), ALICE, T0, intune_task=True
    )


def created_tasks(emulator) -> list[dict]:
    return emulator.tenant().get("intuneTasks", [])


def outbox(settings) -> list[tuple]:
    return rows(
        settings,
        "select operation, attempts, last_error, in_doubt from intune_outbox "
        "order by operation",
    )


@pytest.fixture
def intune_on(settings, synced):  # noqa: F811
    turn_intune(settings, True)
    return settings


# The task model


@pytest.mark.parametrize(
    ("name", "task_id", "kind"),
    [
        (
            "appVulnerabilityTask",
            "5b2caf2d-af2d-5b2c-2daf-2c5b2daf2c5b",
            "appVulnerabilityTask",
        ),
        (
            "securityConfigurationTask",
            "5d630f12-0f12-5d63-120f-635d120f635d",
            "securityConfigurationTask",
        ),
    ],
)
def test_the_documented_task_bodies_parse(name, task_id, kind):
    created = intune.parse_task(docs_example(f"{name}_create_response.json"))
    listed = docs_example(f"{name}_list_response.json")["value"]

    assert [intune.parse_task(t) for t in listed] == [created]
    assert created["task_id"] == task_id
    assert created["kind"] == kind
    assert (created["status"], created["assigned_to"]) == (
        "pending",
        "Assigned To value",
    )
    assert created["devices"] == 2
    assert created["due"] == datetime(
        2017, 1, 1, 8, 2, 18, 199408, tzinfo=UTC
    ).astimezone(created["due"].tzinfo)


def test_devices_sent_stops_at_the_intune_limit():
    assert [intune.devices_sent(n) for n in (0, 5, 10_000, 10_001, 250_000)] == [
        0,
        5,
        10_000,
        10_000,
        10_000,
    ]
    assert intune.device_limit_note(10_000) is None
    assert intune.device_limit_note(12_345) == (
        "This request covers 12,345 devices; Intune takes at most 10,000, so its "
        "task counts 10,000."
    )


def test_a_software_task_body_maps_priority_and_keeps_the_original_in_notes():
    body = intune.task_body(activity(), request())

    assert body == {
        "@odata.type": "#microsoft.graph.appVulnerabilityTask",
        "displayName": "Update Google Chrome",
        "description": "Software update requested from this dashboard.",
        "dueDateTime": f"{DUE.isoformat()}T23:59:59Z",
        "category": "advancedThreatProtection",
        "priority": "low",
        "status": "pending",
        "creator": ALICE,
        "creatorNotes": f"{NOTES}\nPriority in the dashboard: Medium\n"
        "Remediation activity: req-1",
        "managedDeviceCount": 10_000,
        "mitigationType": "update",
        "appName": "chrome",
        "appPublisher": "google",
        "appVersion": "126.0",
    }


def test_priorities_map_to_intunes_two_levels():
    assert intune.PRIORITY_MAP == {"High": "high", "Medium": "low", "Low": "low"}
    high = intune.task_body(activity(), request(priority="High", notes=""))
    assert high["priority"] == "high"
    assert high["creatorNotes"] == (
        "Priority in the dashboard: High\nRemediation activity: req-1"
    )
    assert "Medium and Low as low" in intune.PRIORITY_NOTE


def test_a_configuration_task_has_no_app_fields_and_uninstall_is_its_own_type():
    config = intune.task_body(
        activity(remediation_type="ConfigurationChange", target_devices=2),
        request(),
    )
    uninstall = intune.task_body(
        activity(remediation_type="Uninstall", recommended_version=None), request()
    )

    assert config["@odata.type"] == "#microsoft.graph.securityConfigurationTask"
    assert config["managedDeviceCount"] == 2
    assert not {"appName", "mitigationType"} & set(config)
    assert uninstall["mitigationType"] == "uninstall"
    assert "appVersion" not in uninstall


def test_attention_required_never_gets_a_task(settings, synced):  # noqa: F811
    with pytest.raises(intune.IntuneError, match="attention required"):
        intune.task_body(activity(remediation_type="AttentionRequired"), request())

    turn_intune(settings, True)
    with pytest.raises(RequestRefused) as refused:
        file_with_task(settings, remediation_type="AttentionRequired", due_on=None)

    assert set(refused.value.errors) == {"intune"}
    assert refused.value.errors["intune"].startswith(
        "Attention required gives IT nothing to do"
    )
    assert rows(settings, "select count(*) from requests") == [(0,)]


def test_a_task_is_refused_while_the_connection_is_off(
    emulator,
    settings,
    synced,  # noqa: F811
):
    with pytest.raises(RequestRefused) as refused:
        file_with_task(settings)

    assert refused.value.errors == {
        "intune": "The Intune connection is off: turn it on on the Settings page, "
        "or clear the Intune task box."
    }
    assert rows(settings, "select count(*) from requests") == [(0,)]
    assert emulator.calls["graph POST tasks"] == 0


# Delivery


def test_filing_with_a_task_creates_it_once(emulator, intune_on):
    submitted = form(group_ids=(1,), priority="High")

    first = remediation.file_request(intune_on, submitted, ALICE, T0, intune_task=True)
    again = remediation.file_request(intune_on, submitted, ALICE, T0, intune_task=True)
    intune.deliver_outbox(intune_on)
    intune.deliver_outbox(intune_on)

    assert again.activity_id == first.activity_id
    assert emulator.calls["graph POST tasks"] == 1
    [task] = created_tasks(emulator)
    sent = emulator.graph_writes[0][2]
    assert (sent["managedDeviceCount"], sent["priority"]) == (3, "high")
    assert sent["creatorNotes"] == (
        f"{NOTES}\nPriority in the dashboard: High\n"
        f"Remediation activity: {first.activity_id}"
    )
    assert (sent["appName"], sent["appPublisher"]) == ("chrome", "google")
    stored = intune.load_task(intune_on, first.activity_id)
    assert (stored["task_id"], stored["label"]) == (task["id"], "Pending")
    assert (stored["kind"], stored["devices_sent"]) == ("appVulnerabilityTask", 3)
    assert stored["queued"] == [] and stored["last_error"] is None
    assert outbox(intune_on) == []


def test_a_missing_permission_keeps_the_create_queued_until_retry(emulator, intune_on):
    emulator.fail_paths = {"deviceAppManagementTasks": 403}

    filed = file_with_task(intune_on)

    message = (
        "Microsoft Graph refused creating the Intune task (403): the app "
        "registration lacks the application permission "
        "DeviceManagementApps.ReadWrite.All; grant it with admin consent, then "
        "press Retry."
    )
    task = intune.load_task(intune_on, filed.activity_id)
    assert (task["label"], task["last_error"], task["can_retry"]) == (
        "Not sent yet (will retry)",
        message,
        True,
    )
    assert outbox(intune_on) == [("create", 1, message, False)]

    emulator.fail_paths = {}
    result = intune.retry(intune_on, filed.activity_id)

    assert (result.sent, result.failed, result.errors) == (1, 0, {})
    assert intune.load_task(intune_on, filed.activity_id)["label"] == "Pending"
    assert emulator.calls["graph POST tasks"] == 2
    assert emulator.calls["graph GET tasks"] == 0
    assert len(created_tasks(emulator)) == 1


def test_throttling_holds_the_create_for_its_retry_after(emulator, intune_on):
    emulator.script(
        "deviceAppManagementTasks$",
        [{"status": 429, "headers": {"Retry-After": "30"}, "body": {}}],
        method="POST",
    )

    filed = file_with_task(intune_on)
    held = intune.deliver_outbox(intune_on)
    later = FakeClock(datetime.now(UTC) + timedelta(seconds=31))
    sent = intune.deliver_outbox(intune_on, clock=later)

    assert (held.sent, held.waiting, held.failed) == (0, 1, 0)
    assert emulator.calls["graph POST tasks"] == 2
    assert (sent.sent, sent.errors) == (1, {})
    task = intune.load_task(intune_on, filed.activity_id)
    assert (task["label"], task["last_error"]) == ("Pending", None)


def test_the_throttling_message_and_hold(emulator, intune_on):
    emulator.script(
        "deviceAppManagementTasks$",
        [{"status": 429, "headers": {"Retry-After": "30"}, "body": {}}],
        method="POST",
    )
    before = datetime.now(UTC)

    filed = file_with_task(intune_on)

    task = intune.load_task(intune_on, filed.activity_id)
    assert task["last_error"] == (
        "Microsoft Graph is throttling creating the Intune task (429): "
        f"{QUEUED}, after waiting 30 s."
    )
    held = (task["not_before"] - before).total_seconds()
    assert 30 <= held < 40


def test_a_server_error_keeps_the_create_and_the_next_delivery_checks_first(
    emulator, intune_on
):
    emulator.fail_paths = {"deviceAppManagementTasks$": 503}

    filed = file_with_task(intune_on)

    message = (
        f"Microsoft Graph answered HTTP 503 to creating the Intune task: {QUEUED}."
    )
    assert outbox(intune_on) == [("create", 1, message, True)]
    emulator.fail_paths = {}
    result = intune.deliver_outbox(intune_on)

    assert (result.sent, result.errors) == (1, {})
    # In doubt after a 5xx: the list is searched before the create is sent again.
    assert emulator.calls["graph GET tasks"] == 1
    assert emulator.calls["graph POST tasks"] == 2
    assert len(created_tasks(emulator)) == 1
    assert intune.load_task(intune_on, filed.activity_id)["label"] == "Pending"


def test_a_create_answered_with_an_unreadable_body_is_not_sent_twice(
    emulator, intune_on
):
    # Graph stores the task, but its answer cannot be read: the create is in
    # doubt, so the next delivery finds the task instead of creating another.
    emulator.invalid_json_paths = {"deviceAppManagementTasks$"}
    filed = file_with_task(intune_on)
    emulator.invalid_json_paths = set()

    waiting = intune.load_task(intune_on, filed.activity_id)
    result = intune.retry(intune_on, filed.activity_id)

    assert waiting["label"] == "Not sent yet (will retry)"
    assert [row[3] for row in outbox(intune_on)] == []
    assert result.sent == 1
    assert emulator.calls["graph POST tasks"] == 1
    [task] = created_tasks(emulator)
    assert intune.load_task(intune_on, filed.activity_id)["task_id"] == task["id"]


def test_a_create_whose_saving_failed_is_found_again_not_sent_twice(
    emulator, intune_on, monkeypatch
):
    filed = remediation.file_request(intune_on, form(), ALICE, T0)
    with store.connect(intune_on.db) as con:
        intune.queue_task(con, filed.activity_id, T0)
    real = intune._record_created

    def locked(*args):
        raise DatabaseLocked("The database stayed locked.")

    monkeypatch.setattr(intune, "_record_created", locked)
    with pytest.raises(DatabaseLocked):
        intune.deliver_outbox(intune_on)
    monkeypatch.setattr(intune, "_record_created", real)

    soon = intune.deliver_outbox(intune_on)
    later = FakeClock(datetime.now(UTC) + timedelta(minutes=11))
    result = intune.deliver_outbox(intune_on, clock=later)

    assert (soon.sent, soon.waiting) == (0, 1)
    assert result.sent == 1
    assert emulator.calls["graph POST tasks"] == 1
    [task] = created_tasks(emulator)
    assert intune.load_task(intune_on, filed.activity_id)["task_id"] == task["id"]


def test_edit_sends_a_patch_and_cancel_closes_the_task_as_rejected(emulator, intune_on):
    filed = file_with_task(intune_on)
    later = T0 + timedelta(hours=2)

    remediation.edit_request(
        intune_on,
        filed.activity_id,
        ALICE,
        later,
        due_on=date(2026, 6, 30),
        priority="High",
        notes="Moved after the freeze.",
    )
    remediation.cancel_request(intune_on, filed.activity_id, ALICE, later)

    writes = [(method, body) for method, _, body in emulator.graph_writes]
    assert [w[0] for w in writes] == ["POST", "PATCH", "POST"]
    assert writes[1][1] == {
        "dueDateTime": "2026-06-30T23:59:59Z",
        "priority": "high",
        "creatorNotes": "Moved after the freeze.\nPriority in the dashboard: High\n"
        f"Remediation activity: {filed.activity_id}",
    }
    assert writes[2][1] == {
        "status": "rejected",
        "note": f"Cancelled by {ALICE} in the remediation dashboard on 04 May 2026: "
        "no action is needed.",
    }
    assert emulator.calls["graph POST updateStatus"] == 1
    [task] = created_tasks(emulator)
    assert (task["status"], task["priority"]) == ("rejected", "high")
    assert intune.load_task(intune_on, filed.activity_id)["label"] == (
        "Closed in Intune (request cancelled)"
    )
    assert outbox(intune_on) == []


def test_an_edit_before_the_create_is_sent_rewrites_it_and_a_cancel_drops_it(
    emulator, intune_on
):
    emulator.fail_paths = {"deviceAppManagementTasks": 403}
    filed = file_with_task(intune_on)

    remediation.edit_request(
        intune_on, filed.activity_id, ALICE, T0, due_on=DUE, priority="Low"
    )
    payload = json.loads(rows(intune_on, "select payload from intune_outbox")[0][0])
    assert payload["priority"] == "low"
    assert payload["creatorNotes"].startswith("Priority in the dashboard: Low")

    remediation.cancel_request(intune_on, filed.activity_id, ALICE, T0)
    assert outbox(intune_on) == []
    assert intune.load_task(intune_on, filed.activity_id) is None
    assert emulator.calls["graph PATCH task"] == 0


def test_delivery_logs_one_line_and_never_the_token(emulator, intune_on, caplog):
    caplog.set_level(logging.INFO)

    file_with_task(intune_on)

    lines = [r.getMessage() for r in caplog.records if r.name == "tvmdata.intune"]
    assert lines[-1].startswith("intune outbox: 1 sent, 0 failed, 0 waiting in ")
    assert not any("Bearer" in r.getMessage() for r in caplog.records)


# Reading IT's answer back in the sync


def test_it_accepting_then_a_sync_shows_accepted_with_the_assignee(emulator, intune_on):
    filed = file_with_task(intune_on)
    [task] = created_tasks(emulator)
    emulator.act_on_task(task["id"], "accept", "it.ops@contoso.test")

    result = sync_tenant(intune_on, clock=FakeClock(T0 + timedelta(days=1)))

    stored = intune.load_task(intune_on, filed.activity_id)
    assert (stored["label"], stored["assigned_to"]) == (
        "Accepted",
        "it.ops@contoso.test",
    )
    assert stored["last_read_at"] == T0 + timedelta(days=1)
    assert (result.graph_outcome, result.graph_error) == ("succeeded", None)
    assert result.graph_calls == {"GET task": 1}
    assert not any("task" in name for name in result.calls)
    recorded = rows(
        intune_on, "select graph_outcome, graph_calls from sync_runs order by run_id"
    )
    assert recorded[-1][0] == "succeeded"
    assert json.loads(recorded[-1][1]) == {"GET task": 1}


def test_it_rejecting_shows_rejected_and_the_task_is_not_read_again(
    emulator, intune_on
):
    filed = file_with_task(intune_on)
    [task] = created_tasks(emulator)
    emulator.act_on_task(task["id"], "reject")

    sync_tenant(intune_on, clock=FakeClock(T0 + timedelta(days=1)))
    sync_tenant(intune_on, clock=FakeClock(T0 + timedelta(days=2)))

    assert intune.load_task(intune_on, filed.activity_id)["label"] == "Rejected"
    assert emulator.calls["graph GET task"] == 1


def test_graph_down_during_a_sync_keeps_the_defender_data_and_says_why(
    emulator,
    intune_on,
    synced,  # noqa: F811
):
    machines, exposed = synced
    filed = file_with_task(intune_on)
    emulator.fail_paths = {"/graph/": 503}
    for machine in machines:
        machine["lastSeen"] = (T0 + timedelta(days=1)).isoformat()
    publish(emulator, machines, {**exposed, CHROME: exposed[CHROME][2:]})

    result = sync_tenant(intune_on, clock=FakeClock(T0 + timedelta(days=1)))

    assert result.outcome == "succeeded"
    assert result.graph_outcome == "failed"
    assert result.graph_error == (
        "Microsoft Graph answered HTTP 503 to reading Intune tasks back: the "
        "Defender data of this sync is kept and the tasks are read again at the "
        "next sync."
    )
    fixed = rows(
        intune_on,
        "select fixed_devices from activities where activity_id = ?",
        [filed.activity_id],
    )
    assert fixed == [(2,)]
    recorded = rows(
        intune_on,
        "select outcome, graph_outcome, graph_error from sync_runs order by run_id",
    )
    assert recorded[-1] == ("succeeded", "failed", result.graph_error)
    assert intune.load_task(intune_on, filed.activity_id)["label"] == "Pending"


def test_a_create_queued_while_graph_was_down_is_sent_by_the_next_sync(
    emulator, intune_on
):
    emulator.fail_paths = {"/graph/": 500}
    filed = file_with_task(intune_on)

    failed = sync_tenant(intune_on, clock=FakeClock(T0 + timedelta(days=1)))
    emulator.fail_paths = {}
    sent = sync_tenant(intune_on, clock=FakeClock(T0 + timedelta(days=2)))

    assert (failed.outcome, failed.graph_outcome) == ("succeeded", "failed")
    assert failed.graph_error == (
        f"Microsoft Graph answered HTTP 500 to creating the Intune task: {QUEUED}."
    )
    assert (sent.graph_outcome, sent.graph_error) == ("succeeded", None)
    assert sent.graph_calls == {"GET tasks": 1, "POST tasks": 1, "GET task": 1}
    assert len(created_tasks(emulator)) == 1
    assert intune.load_task(intune_on, filed.activity_id)["label"] == "Pending"


def test_with_the_connection_off_a_sync_makes_no_graph_call(
    emulator,
    settings,
    synced,  # noqa: F811
):
    result = sync_tenant(settings, clock=FakeClock(T0 + timedelta(days=1)))

    assert (result.graph_outcome, result.graph_calls) == (None, {})
    assert not any(name.startswith("graph") for name in emulator.calls)
    assert rows(settings, "select graph_outcome from sync_runs") == [(None,), (None,)]


def test_the_status_labels():
    created = {"task_id": "t", "cancelled_at": None}
    labels = [
        intune.status_label({**created, "status": s})
        for s in ("pending", "active", "completed", "rejected")
    ]
    assert labels == ["Pending", "Accepted", "Completed", "Rejected"]
    assert intune.status_label({"task_id": None, "create_error": "x"}) == (
        "Not sent yet (will retry)"
    )
    assert intune.status_label({"task_id": None, "create_error": None}) == (
        "Being sent to Intune"
    )
