"""The demo tenant: deterministic, realistic, and consistent at every moment.

The tenant is read the way demo mode reads it: at each sync moment of its history.
Properties are checked on what `at` returns, the same JSON the emulator serves.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import shared_file
from tvmdata import demo_tenant

NOW = datetime(2026, 3, 1, 6, tzinfo=UTC)
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
DUE = re.compile(r"^\d{4}-\d\d-\d\dT00:00:00Z$")
TYPES = {"Update", "Upgrade", "Uninstall", "ConfigurationChange", "AttentionRequired"}


@pytest.fixture(scope="module")
def tenant():
    return demo_tenant.generate(now=NOW)


@pytest.fixture(scope="module")
def history(tenant):
    """The tenant at every sync moment of its history, oldest first."""
    return [(moment, tenant.at(moment)) for moment in tenant.history_dates()]


def parse(stamp: str) -> datetime:
    # Python keeps six fractional digits; Defender prints seven.
    return datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00")


def machines_by_id(snapshot: dict) -> dict[str, dict]:
    return {machine["id"]: machine for machine in snapshot["machines"]}


def reporting(machine: dict, moment: datetime) -> bool:
    return moment - parse(machine["lastSeen"]) < timedelta(days=30)


def recommendation_id(task: dict) -> str:
    if task["category"] == "Software":
        return f"va-_-{task['productId']}"
    return f"sca-_-{task['scid']}"


def group_name(machine: dict) -> str:
    return machine["rbacGroupName"] or "UnassignedGroup"


def group_changes(history) -> dict[str, int]:
    """How many times each device that ever changed group did so."""
    groups: dict[str, list[int]] = defaultdict(list)
    for _, snapshot in history:
        for machine in snapshot["machines"]:
            groups[machine["id"]].append(machine["rbacGroupId"])
    changes = {
        device: sum(a != b for a, b in zip(seq, seq[1:], strict=False))
        for device, seq in groups.items()
    }
    return {device: count for device, count in changes.items() if count}


def regressions(history) -> list[tuple[str, str, datetime, datetime]]:
    """(activity, device, a sync it was gone at, the next sync it was back at)."""
    seen: dict[tuple[str, str], list[tuple[datetime, bool]]] = defaultdict(list)
    for moment, snapshot in history:
        for task in snapshot["remediationTasks"]:
            if task["status"] != "Active":
                continue
            listed = {ref["id"] for ref in snapshot["taskMachines"][task["id"]]}
            for device in listed:
                seen[task["id"], device]
            for key in [key for key in seen if key[0] == task["id"]]:
                seen[key].append((moment, key[1] in listed))
    found = []
    for (task_id, device), marks in seen.items():
        for (gone, was), (back, now) in zip(marks, marks[1:], strict=False):
            if not was and now:
                found.append((task_id, device, gone, back))
    return found


def fixes_by_group(history) -> Counter:
    """Devices that left a recommendation's exposed list while still reporting."""
    fixes = Counter()
    for (_, before), (moment, after) in zip(history, history[1:], strict=False):
        machines = machines_by_id(after)
        for rec_id, refs in before["recommendationMachines"].items():
            still = {ref["id"] for ref in after["recommendationMachines"][rec_id]}
            for ref in refs:
                machine = machines[ref["id"]]
                if ref["id"] not in still and reporting(machine, moment):
                    fixes[group_name(machine)] += 1
    return fixes


# -- determinism and the clock ---------------------------------------------------


def test_the_same_arguments_give_identical_json_at_every_moment():
    first = demo_tenant.generate(seed=11, devices=400, now=NOW)
    second = demo_tenant.generate(seed=11, devices=400, now=NOW)

    for moment in (NOW - timedelta(days=90), NOW - timedelta(days=3), NOW):
        assert json.dumps(first.at(moment)) == json.dumps(second.at(moment))


def test_another_seed_gives_another_tenant():
    first = demo_tenant.generate(seed=11, devices=400, now=NOW)
    other = demo_tenant.generate(seed=12, devices=400, now=NOW)

    assert json.dumps(first.at(NOW)) != json.dumps(other.at(NOW))


def test_reading_a_moment_twice_gives_the_same_answer(tenant):
    moment = NOW - timedelta(days=33, hours=5)

    assert json.dumps(tenant.at(moment)) == json.dumps(tenant.at(moment))


def test_now_defaults_to_six_o_clock_utc_today():
    before = datetime.now(UTC).date()
    tenant = demo_tenant.generate(devices=200)
    after = datetime.now(UTC).date()

    assert tenant.now.date() in (before, after)
    assert (tenant.now.hour, tenant.now.minute, tenant.now.second) == (6, 0, 0)
    assert tenant.now.utcoffset() == timedelta(0)


def test_history_is_weekly_then_daily_for_the_last_two_weeks(tenant):
    dates = tenant.history_dates()
    weekly = [moment for moment in dates if moment < NOW - timedelta(days=14)]
    daily = dates[len(weekly) :]

    assert dates == sorted(dates)
    assert weekly[0] == NOW - timedelta(days=120)
    assert {b - a for a, b in zip(weekly, weekly[1:], strict=False)} == {
        timedelta(days=7)
    }
    assert daily == [NOW - timedelta(days=14 - n) for n in range(15)]
    assert all(moment.hour == 6 and moment.minute == 0 for moment in dates)


def test_the_tenant_carries_the_demo_ids_and_credentials(tenant):
    snapshot = tenant.at(NOW)

    assert snapshot["tenant_id"] == tenant.tenant_id
    assert snapshot["clients"] == {tenant.client_id: tenant.client_secret}
    assert tenant.client_secret


# -- what the tenant contains ----------------------------------------------------


def test_there_are_eight_to_twelve_device_groups_including_unassigned(tenant):
    machines = tenant.at(NOW)["machines"]
    groups = {(m["rbacGroupId"], m["rbacGroupName"]) for m in machines}

    assert 8 <= len(groups) <= 12
    assert (0, None) in groups
    assert all(isinstance(gid, int) for gid, _ in groups)
    names = [name for _, name in groups if name]
    assert any(name.startswith("Servers") for name in names)
    assert any(name.startswith("Workstations") for name in names)


def test_devices_spread_unevenly_over_groups_with_fitting_systems(tenant):
    machines = tenant.at(NOW)["machines"]
    sizes = Counter(m["rbacGroupId"] for m in machines)
    servers = [m for m in machines if (m["rbacGroupName"] or "").startswith("Servers")]

    assert max(sizes.values()) >= 2 * min(sizes.values())
    assert {m["osPlatform"] for m in servers} <= {
        "WindowsServer2019",
        "WindowsServer2022",
        "Linux",
    }
    assert {m["osPlatform"] for m in machines} >= {
        "Windows11",
        "Windows10",
        "macOS",
        "Linux",
    }


@pytest.mark.parametrize("seed", [7, 1, 2, 3])
def test_counts_stay_in_their_ranges(seed):
    snapshot = demo_tenant.generate(seed=seed, now=NOW).at(NOW)

    assert 60 <= len(snapshot["recommendations"]) <= 120
    assert 40 <= len(snapshot["remediationTasks"]) <= 80
    assert len(snapshot["machines"]) == 1500


@pytest.mark.parametrize("seed", [7, 1, 2, 3])
def test_every_type_priority_and_way_of_completion_is_present(seed):
    tasks = demo_tenant.generate(seed=seed, now=NOW).at(NOW)["remediationTasks"]
    completions = Counter(
        (t["status"], t["completionMethod"], t["completerEmail"] is not None)
        for t in tasks
    )

    assert {t["type"] for t in tasks} == TYPES
    assert {t["priority"] for t in tasks} == {"High", "Medium", "Low"}
    assert completions[("Active", None, False)] > 0
    assert completions[("Completed", "Automatic", False)] > 0
    assert completions[("Completed", "Manual", True)] > 0
    assert completions[("Completed", None, False)] > 0
    assert set(completions) == {
        ("Active", None, False),
        ("Completed", "Automatic", False),
        ("Completed", "Manual", True),
        ("Completed", None, False),
    }


def test_recommendations_name_real_software_and_settings(tenant):
    names = {r["recommendationName"] for r in tenant.at(NOW)["recommendations"]}

    for expected in ("Update Google Chrome", "Update Microsoft Edge", "Update OpenSSL"):
        assert expected in names
    assert "Turn on Microsoft Defender Antivirus PUA protection" in names
    assert "Disable SMBv1" in names or "Enable BitLocker" in names


def test_due_dates_are_overdue_on_time_and_due_soon(tenant):
    today = NOW.date()
    active = [
        t
        for t in tenant.at(NOW)["remediationTasks"]
        if t["status"] == "Active" and t["dueOn"]
    ]
    due = [parse(t["dueOn"]).date() for t in active]

    assert any(day < today for day in due)
    assert any(today <= day <= today + timedelta(days=7) for day in due)
    assert any(day > today + timedelta(days=7) for day in due)


def test_some_activities_predate_the_history(tenant):
    start = tenant.history_dates()[0]
    created = [parse(t["createdOn"]) for t in tenant.at(NOW)["remediationTasks"]]

    assert any(moment < start for moment in created)
    assert any(moment > NOW - timedelta(days=14) for moment in created)


def test_activities_cover_one_to_all_groups_of_their_recommendation(tenant):
    snapshot = tenant.at(NOW)
    all_groups = {group_name(m) for m in snapshot["machines"]}
    spans = Counter(len(t["rbacGroupNames"]) for t in snapshot["remediationTasks"])

    assert spans[1] > 0
    assert max(spans) >= 3
    for task in snapshot["remediationTasks"]:
        assert set(task["rbacGroupNames"]) <= all_groups
        assert len(set(task["rbacGroupNames"])) == len(task["rbacGroupNames"])


# -- field shapes ----------------------------------------------------------------


def test_activities_have_exactly_the_fields_of_defenders_example(tenant):
    example = json.loads(
        shared_file(
            "data", "mde-docs-examples", "remediationTasks_list.json"
        ).read_text(encoding="utf-8")
    )["value"][0]

    for task in tenant.at(NOW)["remediationTasks"]:
        assert set(task) == set(example)


def test_recommendations_have_the_fields_of_defenders_example(tenant):
    example = json.loads(
        shared_file(
            "data", "mde-docs-examples", "recommendations_get_by_id.json"
        ).read_text(encoding="utf-8")
    )
    expected = set(example) - {"@odata.context", "exposedCriticalDevices"}

    for recommendation in tenant.at(NOW)["recommendations"]:
        assert set(recommendation) >= expected


def test_machine_fields_match_a_real_export_in_name_and_type(tenant):
    real = json.loads(
        shared_file("data", "defender-export-one-device", "machines.json").read_text(
            encoding="utf-8"
        )
    )["value"][0]

    for machine in tenant.at(NOW)["machines"][:300]:
        assert set(machine) <= set(real)
        for key, value in machine.items():
            if value is not None and real[key] is not None:
                assert type(value) is type(real[key]), key


def test_values_are_formatted_like_defender(tenant):
    snapshot = tenant.at(NOW)

    for task in snapshot["remediationTasks"]:
        assert STAMP.match(task["createdOn"]) and STAMP.match(
            task["statusLastModifiedOn"]
        )
        assert task["dueOn"] is None or DUE.match(task["dueOn"])
        assert task["status"] in ("Active", "Completed")
        assert task["category"] in ("Software", "SecurityConfiguration")
        assert task["type"] in TYPES
        assert isinstance(task["rbacGroupNames"], list) and task["rbacGroupNames"]
    for machine in snapshot["machines"]:
        assert re.fullmatch(r"[0-9a-f]{40}", machine["id"])
        assert STAMP.match(machine["firstSeen"]) and STAMP.match(machine["lastSeen"])
        assert machine["onboardingStatus"] == "Onboarded"
        assert (machine["rbacGroupId"] == 0) == (machine["rbacGroupName"] is None)
    for rec in snapshot["recommendations"]:
        assert re.fullmatch(r"va-_-[^ ]+-_-[^ ]+|sca-_-scid-\d+", rec["id"])


def test_software_and_configuration_activities_carry_their_own_fields(tenant):
    for task in tenant.at(NOW)["remediationTasks"]:
        if task["category"] == "Software":
            assert task["productId"] == f"{task['vendorId']}-_-{task['nameId']}"
            assert task["scid"] is None
            assert task["productivityImpactRemediationType"] is None
            assert task["type"] != "ConfigurationChange"
        else:
            assert re.fullmatch(r"scid-\d+", task["scid"])
            assert task["productId"] is None
            assert task["productivityImpactRemediationType"] in (
                "AllExposedAssets",
                "NonProductivityImpactedAssets",
            )
            assert task["type"] == "ConfigurationChange"


def test_attention_required_activities_have_no_due_date(history):
    for _, snapshot in history:
        for task in snapshot["remediationTasks"]:
            assert (task["dueOn"] is None) == (task["type"] == "AttentionRequired")


def test_completion_names_a_person_only_when_completed_by_hand(tenant):
    for task in tenant.at(NOW)["remediationTasks"]:
        manual = task["completionMethod"] == "Manual"
        assert (task["completerEmail"] is not None) == manual
        assert (task["completerId"] is not None) == manual
        if manual:
            assert re.fullmatch(r"[a-z]+\.[a-z]+@[a-z.]+", task["completerEmail"])
        if task["status"] == "Active":
            assert task["completionMethod"] is None


# -- consistency at every moment -------------------------------------------------


def test_progress_counts_are_consistent_at_every_sync(history):
    for _, snapshot in history:
        exposed = snapshot["taskMachines"]
        for task in snapshot["remediationTasks"]:
            fixed, target = task["fixedDevices"], task["targetDevices"]
            assert 0 <= fixed <= target and target > 0
            if task["status"] == "Active":
                assert fixed + len(exposed[task["id"]]) <= target
                assert fixed < target
            else:
                assert exposed[task["id"]] == []
            if task["completionMethod"] == "Automatic":
                assert fixed == target


def test_every_device_reference_is_a_machine_as_it_is_then(history):
    for _, snapshot in history:
        machines = machines_by_id(snapshot)
        lists = [*snapshot["taskMachines"].values()]
        lists += snapshot["recommendationMachines"].values()
        for refs in lists:
            for ref in refs:
                machine = machines[ref["id"]]
                assert ref["computerDnsName"] == machine["computerDnsName"]
                assert ref["osPlatform"] == machine["osPlatform"]
                assert ref["rbacGroupName"] == group_name(machine)
            assert len({ref["id"] for ref in refs}) == len(refs)


def test_exposed_counts_match_the_exposed_device_lists(history):
    for _, snapshot in history:
        lists = snapshot["recommendationMachines"]
        for rec in snapshot["recommendations"]:
            assert rec["exposedMachinesCount"] == len(lists[rec["id"]])
            assert rec["totalMachineCount"] >= rec["exposedMachinesCount"]


def test_an_activitys_exposed_devices_are_exposed_to_its_recommendation(history):
    for _, snapshot in history:
        lists = snapshot["recommendationMachines"]
        for task in snapshot["remediationTasks"]:
            on_task = {ref["id"] for ref in snapshot["taskMachines"][task["id"]]}
            on_rec = {ref["id"] for ref in lists[recommendation_id(task)]}
            assert on_task <= on_rec


def test_devices_listed_outside_an_activitys_groups_are_ones_that_moved(history):
    moved = set(group_changes(history))
    outside = set()
    for _, snapshot in history:
        for task in snapshot["remediationTasks"]:
            for ref in snapshot["taskMachines"][task["id"]]:
                if ref["rbacGroupName"] not in task["rbacGroupNames"]:
                    outside.add(ref["id"])

    assert outside <= moved


def test_nothing_is_stamped_after_the_moment_read(history):
    for moment, snapshot in history:
        for task in snapshot["remediationTasks"]:
            assert parse(task["createdOn"]) <= moment
            assert parse(task["createdOn"]) <= parse(task["statusLastModifiedOn"])
            assert parse(task["statusLastModifiedOn"]) <= moment
        for machine in snapshot["machines"]:
            assert parse(machine["firstSeen"]) <= parse(machine["lastSeen"]) <= moment


def test_an_activity_appears_from_the_moment_it_is_created(tenant):
    task = tenant.at(NOW)["remediationTasks"][-1]
    created = parse(task["createdOn"])

    before = tenant.at(created - timedelta(seconds=1))["remediationTasks"]
    after = tenant.at(created + timedelta(microseconds=1))["remediationTasks"]
    assert task["id"] not in {t["id"] for t in before}
    assert task["id"] in {t["id"] for t in after}


def test_a_new_activity_lists_every_target_as_exposed_and_none_fixed(tenant):
    tasks = tenant.at(NOW)["remediationTasks"]
    for task in tasks[:: max(1, len(tasks) // 12)]:
        created = parse(task["createdOn"]) + timedelta(microseconds=1)
        snapshot = tenant.at(created)
        fresh = next(t for t in snapshot["remediationTasks"] if t["id"] == task["id"])
        assert fresh["fixedDevices"] == 0
        assert len(snapshot["taskMachines"][task["id"]]) == fresh["targetDevices"]
        assert fresh["targetDevices"] == task["targetDevices"]


# -- behaviour over time ---------------------------------------------------------


def test_activities_never_disappear_between_syncs(history):
    for (_, before), (_, after) in zip(history, history[1:], strict=False):
        earlier = {t["id"] for t in before["remediationTasks"]}
        assert earlier <= {t["id"] for t in after["remediationTasks"]}


def test_a_completed_activity_stays_completed_as_it_was(history):
    seen: dict[str, dict] = {}
    for _, snapshot in history:
        for task in snapshot["remediationTasks"]:
            if task["id"] in seen:
                assert task == seen[task["id"]]
            elif task["status"] == "Completed":
                seen[task["id"]] = task


def test_fixed_devices_only_drop_when_a_device_is_exposed_again(history):
    for (_, before), (_, after) in zip(history, history[1:], strict=False):
        old = {
            t["id"]: t for t in before["remediationTasks"] if t["status"] == "Active"
        }
        for task in after["remediationTasks"]:
            previous = old.get(task["id"])
            if task["status"] != "Active" or previous is None:
                continue
            if task["fixedDevices"] < previous["fixedDevices"]:
                was = {r["id"] for r in before["taskMachines"][task["id"]]}
                now = {r["id"] for r in after["taskMachines"][task["id"]]}
                assert now - was, task["title"]


def test_a_device_exposed_again_takes_one_off_fixed_devices(tenant, history):
    task_id, device, gone, back = regressions(history)[0]

    def state(moment):
        snapshot = tenant.at(moment)
        task = next(t for t in snapshot["remediationTasks"] if t["id"] == task_id)
        listed = {ref["id"] for ref in snapshot["taskMachines"][task_id]}
        return task["fixedDevices"], device in listed

    # narrow down the moment the device came back, to the second
    while back - gone > timedelta(seconds=1):
        middle = gone + (back - gone) / 2
        gone, back = (gone, middle) if state(middle)[1] else (middle, back)

    fixed_before, listed_before = state(gone)
    fixed_after, listed_after = state(back)
    assert (listed_before, listed_after) == (False, True)
    assert fixed_after == fixed_before - 1


def test_status_last_modified_moves_with_progress(history):
    for (_, before), (_, after) in zip(history, history[1:], strict=False):
        old = {t["id"]: t for t in before["remediationTasks"]}
        for task in after["remediationTasks"]:
            previous = old.get(task["id"])
            if not previous:
                continue
            changed = (task["fixedDevices"], task["status"]) != (
                previous["fixedDevices"],
                previous["status"],
            )
            if changed:
                assert task["statusLastModifiedOn"] > previous["statusLastModifiedOn"]
            elif previous["status"] == "Completed":
                assert task["statusLastModifiedOn"] == previous["statusLastModifiedOn"]


def test_a_regressed_device_comes_back_to_its_activity(history):
    assert regressions(history)


def test_exactly_one_group_has_fixed_nothing_for_two_weeks(tenant, history):
    last_two_weeks = [h for h in history if h[0] >= NOW - timedelta(days=14)]
    recent = fixes_by_group(last_two_weeks)
    earlier = fixes_by_group([h for h in history if h[0] <= NOW - timedelta(days=14)])
    snapshot = tenant.at(NOW)
    waiting = Counter(
        ref["rbacGroupName"]
        for task in snapshot["remediationTasks"]
        for ref in snapshot["taskMachines"][task["id"]]
    )
    groups = {group_name(m) for m in snapshot["machines"]}

    stalled = [g for g in groups if recent[g] == 0]
    assert len(stalled) == 1
    assert waiting[stalled[0]] > 0
    assert earlier[stalled[0]] > 0


def test_servers_fix_more_slowly_than_the_fastest_workstations(history):
    # share of devices gone from an active activity a week after first listed
    first: dict[tuple[str, str], tuple[datetime, str]] = {}
    for moment, snapshot in history:
        for task_id, refs in snapshot["taskMachines"].items():
            for ref in refs:
                first.setdefault((task_id, ref["id"]), (moment, ref["rbacGroupName"]))
    listed: Counter = Counter()
    fixed: Counter = Counter()
    by_moment = dict(history)
    for (task_id, device), (moment, group) in first.items():
        later = by_moment.get(moment + timedelta(days=7))
        states = {
            t["id"]: t["status"] for t in (later or {}).get("remediationTasks", [])
        }
        if states.get(task_id) != "Active":
            continue
        group = group if group.startswith("Workstations") else group.split(" - ")[0]
        listed[group] += 1
        fixed[group] += device not in {r["id"] for r in later["taskMachines"][task_id]}
    rate = {group: fixed[group] / listed[group] for group in listed}
    workstations = [r for g, r in rate.items() if g.startswith("Workstations")]

    assert max(workstations) > 2 * rate["Servers"]
    assert max(workstations) - min(workstations) > 0.3


def test_quiet_devices_go_inactive_and_are_never_counted_as_fixed(tenant, history):
    snapshot = tenant.at(NOW)
    quiet = [m for m in snapshot["machines"] if not reporting(m, NOW)]
    listed = {
        ref["id"]
        for refs in snapshot["recommendationMachines"].values()
        for ref in refs
    }

    assert quiet
    assert all(m["healthStatus"] == "Inactive" for m in quiet)
    assert not listed & {m["id"] for m in quiet}
    # The gap between targets and fixed-plus-exposed is the devices no longer
    # reported: none at the start of the history, some by now.
    gaps = []
    for _, at in (history[0], history[-1]):
        gaps.append(
            sum(
                t["targetDevices"]
                - t["fixedDevices"]
                - len(at["taskMachines"][t["id"]])
                for t in at["remediationTasks"]
                if t["status"] == "Active"
            )
        )
    assert gaps[0] == 0 < gaps[1]


def test_active_devices_were_seen_within_the_week_nearly_all_within_hours(history):
    for moment, snapshot in history:
        active = [m for m in snapshot["machines"] if m["healthStatus"] == "Active"]
        ages = [moment - parse(m["lastSeen"]) for m in active]

        assert all(age < timedelta(days=7) for age in ages)
        recent = sum(age < timedelta(hours=6) for age in ages)
        assert recent >= 0.98 * len(active)


def test_a_couple_of_devices_change_group_once(history):
    changes = group_changes(history)

    assert 1 <= len(changes) <= 4
    assert all(count == 1 for count in changes.values())


def test_exposure_to_a_recommendation_changes_over_time(history):
    counts = defaultdict(list)
    for _, snapshot in history:
        for rec in snapshot["recommendations"]:
            counts[rec["id"]].append(rec["exposedMachinesCount"])
    changing = [rec for rec, seq in counts.items() if len(set(seq)) > 1]

    assert len(changing) >= len(counts) // 2


# -- size ------------------------------------------------------------------------


def test_a_large_tenant_generates_and_reads_now():
    tenant = demo_tenant.generate(devices=50_000, activities=2_000, now=NOW)
    snapshot = tenant.at(NOW)

    assert len(snapshot["machines"]) == 50_000
    assert len(snapshot["remediationTasks"]) == 2_000
    assert 60 <= len(snapshot["recommendations"]) <= 120
    assert sum(map(len, snapshot["taskMachines"].values())) > 50_000
