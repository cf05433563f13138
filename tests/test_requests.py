"""Remediation requests filed here: form rules, filing, edits, and tracking by sync.

The store is filled by the real sync from the emulator; the emulator then
plays Defender fixing devices, and later syncs move the request's progress.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tests.test_sync import machine, ref, rows
from tvmdata import audit, completion, remediation, store, views
from tvmdata.clock import FakeClock
from tvmdata.remediation import RequestForm, RequestRefused
from tvmdata.sync import sync_tenant

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
TODAY = T0.date()
CHROME = "va-_-google-_-chrome"
FIREWALL = "sca-_-scid-2070"
ALICE = "alice@contoso.test"


def recommendation(rec_id, name, kind, exposed, **extra):
    return {
        "id": rec_id,
        "recommendationName": name,
        "productName": name.split()[-1].lower(),
        "vendor": "google" if "chrome" in rec_id else "microsoft",
        "recommendationCategory": "Application",
        "remediationType": kind,
        "status": "Active",
        "exposedMachinesCount": exposed,
        "nonProductivityImpactedAssets": 2,
        "severityScore": 7.5,
        "publicExploit": True,
        "activeAlert": False,
        **extra,
    }


def estate():
    """Six machines in Finance (1) and HR (2); Chrome exposed on five, the
    firewall setting on two."""
    machines = [machine(f"m{n}", 1, "Finance") for n in range(1, 4)]
    machines += [machine(f"m{n}", 2, "HR") for n in range(4, 7)]
    exposed = {
        CHROME: [ref(m) for m in machines[:5]],
        FIREWALL: [ref(m) for m in machines[3:5]],
    }
    return machines, exposed


def publish(emulator, machines, exposed):
    data = emulator.tenant()
    recs = [
        recommendation(
            CHROME, "Update Google Chrome", "Update", len(exposed.get(CHROME, []))
        ),
        recommendation(
            FIREWALL,
            "Turn on the firewall",
            "ConfigurationChange",
            len(exposed.get(FIREWALL, [])),
        ),
    ]
    data.update(
        machines=machines,
        remediationTasks=[],
        taskMachines={},
        recommendations=[r for r in recs if r["id"] in exposed],
        recommendationMachines=exposed,
    )
    emulator.set_tenant(data)


@pytest.fixture
def synced(emulator, settings):
    machines, exposed = estate()
    publish(emulator, machines, exposed)
    sync_tenant(settings, clock=FakeClock(T0))
    return machines, exposed


def form(**changes) -> RequestForm:
    values = dict(
        form_token=remediation.new_form_token(),
        recommendation_id=CHROME,
        remediation_type="Update",
        group_ids=(1, 2),
        priority="High",
        due_on=TODAY + timedelta(days=14),
        notes="Please patch before the audit.",
    )
    values.update(changes)
    return RequestForm(**values)


# Form rules as plain functions.


def test_remediation_options_follow_the_recommendation_type():
    assert remediation.remediation_options({"remediation_type": "Update"}) == [
        "Update",
        "Uninstall",
        "AttentionRequired",
    ]
    assert remediation.remediation_options(
        {"remediation_type": "ConfigurationChange"}
    ) == ["ConfigurationChange", "AttentionRequired"]


def test_a_past_due_date_and_no_group_are_refused_with_their_messages():
    errors = remediation.validate_request(
        form(group_ids=(), due_on=TODAY - timedelta(days=1)), TODAY, [1, 2]
    )

    assert set(errors) == {"group_ids", "due_on"}
    assert errors["group_ids"] == "Choose at least one device group."
    assert "is in the past" in errors["due_on"]
    assert remediation.validate_request(form(due_on=TODAY), TODAY, [1, 2]) == {}


def test_attention_required_needs_no_due_date_but_others_do():
    assert (
        remediation.validate_request(
            form(remediation_type="AttentionRequired", due_on=None), TODAY, [1, 2]
        )
        == {}
    )
    errors = remediation.validate_request(form(due_on=None), TODAY, [1, 2])
    assert errors == {"due_on": "Choose a due date."}


def test_notes_over_1000_characters_priority_and_scope_are_checked():
    errors = remediation.validate_request(
        form(notes="x" * 1001, priority="Urgent", target_scope="NoUserImpact"),
        TODAY,
        [1, 2],
    )

    assert set(errors) == {"notes", "priority", "target_scope"}
    assert "1001 characters" in errors["notes"]


def test_groups_without_exposed_devices_are_refused():
    errors = remediation.validate_request(form(group_ids=(1, 9)), TODAY, [1, 2])

    assert set(errors) == {"group_ids"}
    assert "9" in errors["group_ids"]


# Filing against a synced store.


def test_filing_creates_one_active_activity_with_captured_targets(settings, synced):
    filed = remediation.file_request(settings, form(group_ids=(1,)), ALICE, T0)

    assert filed.created and filed.target_devices == 3
    detail = views.load_activity_detail(settings, filed.activity_id, today=TODAY)
    assert detail["status"] == "Active"
    assert detail["source"] == "dashboard"
    assert detail["requester_email"] == ALICE
    assert detail["target_devices"] == 3 and detail["fixed_devices"] == 0
    assert detail["due_on"] == TODAY + timedelta(days=14)
    assert detail["requester_notes"] == "Please patch before the audit."
    assert list(detail["device_groups"]) == ["Finance"]
    targets = rows(
        settings,
        "select machine_id from request_targets where activity_id = ? order by 1",
        [filed.activity_id],
    )
    assert [t[0] for t in targets] == ["m1", "m2", "m3"]


def test_a_double_submit_files_once(settings, synced):
    submitted = form()

    first = remediation.file_request(settings, submitted, ALICE, T0)
    second = remediation.file_request(settings, submitted, ALICE, T0)

    assert first.created and not second.created
    assert second.activity_id == first.activity_id
    count = rows(settings, "select count(*) from activities where source = 'dashboard'")
    assert count == [(1,)]


def test_attention_required_stores_no_due_date(settings, synced):
    filed = remediation.file_request(
        settings,
        form(remediation_type="AttentionRequired", due_on=TODAY + timedelta(days=3)),
        ALICE,
        T0,
    )

    stored = rows(
        settings,
        "select q.due_on, a.due_on from requests q join activities a "
        "using (activity_id) where activity_id = ?",
        [filed.activity_id],
    )
    assert stored == [(None, None)]


def test_no_user_impact_is_stored_and_explained_but_targets_stay_all_exposed(
    settings, synced
):
    filed = remediation.file_request(
        settings,
        form(
            recommendation_id=FIREWALL,
            remediation_type="ConfigurationChange",
            group_ids=(2,),
            target_scope="NoUserImpact",
        ),
        ALICE,
        T0,
    )

    detail = views.load_activity_detail(settings, filed.activity_id, today=TODAY)
    assert detail["target_scope"] == "NoUserImpact"
    assert detail["target_devices"] == 2
    assert "no user impact (2 such devices reported)" in detail["description"]


def test_nothing_is_written_when_the_form_is_refused(settings, synced):
    with pytest.raises(RequestRefused) as refused:
        remediation.file_request(
            settings, form(due_on=TODAY - timedelta(days=2)), ALICE, T0
        )

    assert set(refused.value.errors) == {"due_on"}
    assert rows(settings, "select count(*) from requests") == [(0,)]
    assert rows(settings, "select count(*) from audit_log") == [(0,)]


def test_without_a_signed_in_user_the_operator_email_files(settings, synced):
    with pytest.raises(RequestRefused) as refused:
        remediation.file_request(settings, form(), None, T0)
    assert set(refused.value.errors) == {"requester"}

    demo = settings.with_overrides(demo=True)
    filed = remediation.file_request(demo, form(), None, T0)
    request = remediation.load_request(settings, filed.activity_id)
    assert request["requested_by"] == "operator@demo.example"


def test_covering_activities_name_the_active_one_for_overlapping_groups(
    settings, synced
):
    filed = remediation.file_request(settings, form(group_ids=(1,)), ALICE, T0)

    covering = remediation.covering_activities(settings, CHROME, [1, 2])
    assert [c["activity_id"] for c in covering] == [filed.activity_id]
    assert remediation.covering_activities(settings, CHROME, [2]) == []
    assert remediation.covering_activities(settings, FIREWALL, [1]) == []


def test_the_requester_edits_and_cancels_and_both_are_audited(settings, synced):
    filed = remediation.file_request(settings, form(), ALICE, T0)
    later = T0 + timedelta(hours=1)

    with pytest.raises(RequestRefused) as refused:
        remediation.edit_request(
            settings,
            filed.activity_id,
            "bob@contoso.test",
            later,
            due_on=TODAY + timedelta(days=30),
            priority="Low",
        )
    assert "Only alice@contoso.test" in refused.value.errors["requester"]

    remediation.edit_request(
        settings,
        filed.activity_id,
        ALICE,
        later,
        due_on=TODAY + timedelta(days=30),
        priority="Low",
        notes="Moved after the freeze.",
    )
    detail = views.load_activity_detail(settings, filed.activity_id, today=TODAY)
    assert (detail["priority"], detail["due_on"], detail["requester_notes"]) == (
        "Low",
        TODAY + timedelta(days=30),
        "Moved after the freeze.",
    )

    remediation.cancel_request(settings, filed.activity_id, ALICE, later)
    detail = views.load_activity_detail(settings, filed.activity_id, today=TODAY)
    assert detail["status"] == "Cancelled"
    with pytest.raises(RequestRefused):
        remediation.cancel_request(settings, filed.activity_id, ALICE, later)

    log = audit.load_entries(settings)
    assert list(log["action"]) == [
        "request cancelled",
        "request edited",
        "request filed",
    ]
    assert set(log["actor"]) == {ALICE}


# Tracking by sync, end to end against the emulator.


def test_sync_moves_progress_and_completes_by_system_confirmation(
    emulator, settings, synced
):
    machines, exposed = synced
    filed = remediation.file_request(settings, form(group_ids=(1,)), ALICE, T0)

    def sync_at(days, chrome_devices):
        exposed[CHROME] = [ref(m) for m in machines if m["id"] in chrome_devices]
        for m in machines:
            m["lastSeen"] = (T0 + timedelta(days=days)).isoformat()
        publish(emulator, machines, exposed)
        sync_tenant(settings, clock=FakeClock(T0 + timedelta(days=days)))
        return views.load_activity_detail(settings, filed.activity_id, today=TODAY)

    detail = sync_at(1, {"m1", "m2", "m3", "m4", "m5"})
    assert (detail["fixed_devices"], detail["target_devices"]) == (0, 3)

    detail = sync_at(2, {"m2", "m3", "m4"})
    assert (detail["fixed_devices"], detail["status"]) == (1, "Active")

    detail = sync_at(3, {"m4"})
    assert (detail["fixed_devices"], detail["status"]) == (3, "Completed")
    assert detail["completed_by"] == "System confirmation"

    progress = rows(
        settings,
        "select fixed_devices from activity_progress where activity_id = ? "
        "order by run_id",
        [filed.activity_id],
    )
    assert [p[0] for p in progress] == [0, 1, 3]


def test_a_device_exposed_again_counts_as_not_fixed(emulator, settings, synced):
    machines, exposed = synced
    filed = remediation.file_request(settings, form(group_ids=(1,)), ALICE, T0)
    chrome = exposed[CHROME]

    publish(emulator, machines, {**exposed, CHROME: chrome[1:]})
    sync_tenant(settings, clock=FakeClock(T0 + timedelta(days=1)))
    publish(emulator, machines, {**exposed, CHROME: chrome})
    sync_tenant(settings, clock=FakeClock(T0 + timedelta(days=2)))

    detail = views.load_activity_detail(settings, filed.activity_id, today=TODAY)
    assert detail["fixed_devices"] == 0
    intervals = rows(
        settings,
        "select count(*) from exposure_intervals where activity_id = ? "
        "and machine_id = 'm1'",
        [filed.activity_id],
    )
    assert intervals == [(2,)]


def test_a_recommendation_leaving_defender_fixes_the_rest_and_flags(
    emulator, settings, synced
):
    machines, exposed = synced
    filed = remediation.file_request(
        settings,
        form(
            recommendation_id=FIREWALL,
            remediation_type="ConfigurationChange",
            group_ids=(2,),
        ),
        ALICE,
        T0,
    )
    # m4 is offboarded; the recommendation then disappears from Defender.
    machines = [m for m in machines if m["id"] != "m4"]
    publish(emulator, machines, {CHROME: exposed[CHROME]})
    sync_tenant(settings, clock=FakeClock(T0 + timedelta(days=1)))

    detail = views.load_activity_detail(settings, filed.activity_id, today=TODAY)
    assert detail["recommendation_gone_since"] is not None
    assert (detail["fixed_devices"], detail["target_devices"]) == (2, 2)
    assert detail["status"] == "Completed"


def test_a_cancelled_or_locally_completed_request_is_no_longer_tracked(
    emulator, settings, synced
):
    machines, exposed = synced
    cancelled = remediation.file_request(settings, form(group_ids=(1,)), ALICE, T0)
    remediation.cancel_request(settings, cancelled.activity_id, ALICE, T0)

    publish(emulator, machines, {**exposed, CHROME: []})
    sync_tenant(settings, clock=FakeClock(T0 + timedelta(days=1)))

    detail = views.load_activity_detail(settings, cancelled.activity_id, today=TODAY)
    assert (detail["status"], detail["fixed_devices"]) == ("Cancelled", 0)


def test_the_sync_keeps_requests_filed_between_runs(emulator, settings, synced):
    filed = remediation.file_request(settings, form(), ALICE, T0)
    before = rows(settings, "select * from requests")

    sync_tenant(settings, clock=FakeClock(T0 + timedelta(days=1)))

    assert rows(settings, "select * from requests") == before
    with store.connect(settings.db) as con:
        kept = con.execute(
            "select source, missing_since from activities where activity_id = ?",
            [filed.activity_id],
        ).fetchall()
    assert kept == [("dashboard", None)]


def test_the_due_date_is_judged_in_utc(settings, synced):
    # 23:30 on 3 May at UTC-5 is already 4 May in UTC: 3 May is in the past.
    evening = datetime(2026, 5, 3, 23, 30, tzinfo=timezone(timedelta(hours=-5)))

    with pytest.raises(RequestRefused) as refused:
        remediation.file_request(
            settings, form(due_on=date(2026, 5, 3)), ALICE, evening
        )

    assert "choose today (4 May 2026, UTC)" in refused.value.errors["due_on"]


def test_marking_a_request_complete_stops_tracking_and_is_audited(
    emulator, settings, synced
):
    machines, exposed = synced
    filed = remediation.file_request(settings, form(group_ids=(1,)), ALICE, T0)

    completion.complete_activity(settings, filed.activity_id, "bob@contoso.test", T0)
    publish(emulator, machines, {**exposed, CHROME: []})
    sync_tenant(settings, clock=FakeClock(T0 + timedelta(days=1)))

    detail = views.load_activity_detail(settings, filed.activity_id, today=TODAY)
    assert (detail["status"], detail["completed_by"]) == (
        "Completed",
        "bob@contoso.test",
    )
    assert detail["fixed_devices"] == 0
    log = audit.load_entries(settings)
    assert list(log["action"]) == ["activity marked complete", "request filed"]
    assert log["actor"].iloc[0] == "bob@contoso.test"


def test_a_cancelled_request_cannot_be_marked_complete(settings, synced):
    filed = remediation.file_request(settings, form(), ALICE, T0)
    remediation.cancel_request(settings, filed.activity_id, ALICE, T0)

    with pytest.raises(completion.CompletionRefused, match="was cancelled"):
        completion.complete_activity(settings, filed.activity_id, ALICE, T0)

    detail = views.load_activity_detail(settings, filed.activity_id, today=TODAY)
    assert detail["status"] == "Cancelled"
