"""The Security recommendations page's reads over a small hand-made tenant.

Six recommendations are synced through the emulator and the real sync, then
remediation activities that name them are written beside Defender's, as a
request filed from the dashboard would be. Ties are there on purpose: two
recommendations share 4 exposed devices, three share 2 devices and a severity
of 7.5, and two of those share a name, so every order is checked down to its
last key.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import store_built_by
from tests.test_sync import machine, ref, task
from tvmdata import recommendations, store
from tvmdata.clock import FakeClock
from tvmdata.emulator import Emulator
from tvmdata.sync import sync_tenant

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
FINANCE, HR, ENGINEERING, UNASSIGNED = 101, 102, 103, 0

READER = "va-_-contoso-_-reader"
AGENT = "va-_-fabrikam-_-agent"
ZULU = "va-_-zulu-_-tools"
FIREWALL = "scid-2000"
FIREWALL_TOO = "scid-2011"
VIEWER = "va-_-old-_-viewer"

# Exposed devices, then severity, then name, then id.
MOST_EXPOSED_FIRST = [AGENT, READER, FIREWALL, FIREWALL_TOO, ZULU, VIEWER]
# Severity, then exposed devices, then name, then id.
MOST_SEVERE_FIRST = [VIEWER, AGENT, READER, FIREWALL, FIREWALL_TOO, ZULU]


def machines() -> list[dict]:
    return [
        machine("f1", FINANCE, "Finance"),
        machine("f2", FINANCE, "Finance", osPlatform="Windows10"),
        machine("f3", FINANCE, "Finance"),
        machine("h1", HR, "HR"),
        machine("h2", HR, "HR", osPlatform="macOS"),
        machine("e1", ENGINEERING, "Engineering", osPlatform="Linux"),
        machine("u1", UNASSIGNED, None),
    ]


def recommendation(rec_id, name, exposed, severity=7.5, **extra) -> dict:
    _, vendor, product = (rec_id.split("-_-") + ["", ""])[:3]
    return {
        "id": rec_id,
        "recommendationName": name,
        "productName": product or None,
        "vendor": vendor or None,
        "recommendedVersion": "",
        "recommendationCategory": "Application",
        "remediationType": "Update",
        "status": "Active",
        "weaknesses": 3,
        "severityScore": severity,
        "publicExploit": False,
        "activeAlert": False,
        "exposedMachinesCount": len(exposed),
        "nonProductivityImpactedAssets": 0,
        "totalMachineCount": 7,
        **extra,
    }


# Recommendation → names of its exposed machines.
EXPOSED = {
    READER: ["f1", "f2", "h1", "u1"],
    AGENT: ["f3", "h1", "h2", "e1"],
    ZULU: ["f1", "e1"],
    FIREWALL: ["h1", "h2"],
    FIREWALL_TOO: ["f2", "u1"],
    VIEWER: [],
}


def recommendations_list() -> list[dict]:
    config = {
        "productName": None,
        "vendor": None,
        "remediationType": "ConfigurationChange",
    }
    return [
        recommendation(
            READER, "Update Contoso Reader", EXPOSED[READER], publicExploit=True,
            recommendedVersion="24.1",
        ),
        recommendation(
            AGENT, "Update Fabrikam Agent", EXPOSED[AGENT], 9.8, activeAlert=True
        ),
        recommendation(
            ZULU, "Uninstall Zulu Tools", EXPOSED[ZULU], remediationType="Uninstall",
            status="Exception",
        ),
        recommendation(
            FIREWALL, "Turn on the firewall", EXPOSED[FIREWALL], **config,
            recommendationCategory="Network", nonProductivityImpactedAssets=1,
        ),
        recommendation(
            FIREWALL_TOO, "Turn on the firewall", EXPOSED[FIREWALL_TOO], **config,
            recommendationCategory="Security controls",
        ),
        recommendation(VIEWER, "Update Old Viewer", EXPOSED[VIEWER], 10.0),
    ]  # fmt: skip


# Activities naming a recommendation: (id, recommendation, status, completed here).
ACTIVITIES = [
    ("req-reader", READER, "Active", False),
    ("req-zulu", ZULU, "Active", False),
    ("req-done-here", FIREWALL_TOO, "Active", True),
    ("defender-done", AGENT, "Completed", False),
]


def build_tenant(emulator: Emulator, settings) -> None:
    by_id = {m["id"]: m for m in machines()}
    data = emulator.tenant()
    data.update(
        machines=machines(),
        remediationTasks=[task("defender-done", 4, 4, status="Completed")],
        taskMachines={"defender-done": []},
        recommendations=recommendations_list(),
        recommendationMachines={
            rec_id: [ref(by_id[name]) for name in names]
            for rec_id, names in EXPOSED.items()
        },
    )
    emulator.set_tenant(data)
    sync_tenant(settings, clock=FakeClock(T0))
    _write_activities(settings)


def _write_activities(settings) -> None:
    with store.connect(settings.db) as con:
        for activity_id, rec_id, status, done_here in ACTIVITIES:
            con.execute(
                "insert into activities (activity_id, title, status, source, "
                "recommendation_id) values (?, ?, ?, 'dashboard', ?) "
                "on conflict do update set recommendation_id = excluded."
                "recommendation_id",
                [activity_id, f"Request for {rec_id}", status, rec_id],
            )
            if done_here:
                con.execute(
                    "insert into completions values (?, 'lead@contoso.test', ?, null)",
                    [activity_id, T0],
                )


def build_store(folder):
    """Settings of a store in `folder` holding this module's tenant."""
    return store_built_by(folder, build_tenant)


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """Settings of a store holding the tenant. Built once: the tests only read."""
    return build_store(tmp_path_factory.mktemp("recommendations"))


def listed(settings, **filters) -> list[str]:
    frame = recommendations.list_recommendations(settings, **filters)
    return frame["recommendation_id"].tolist()


# The list


def test_recommendations_are_listed_most_exposed_first_down_to_the_last_tie(synced):
    frame = recommendations.list_recommendations(synced)

    assert frame["recommendation_id"].tolist() == MOST_EXPOSED_FIRST
    assert frame["exposed_devices"].tolist() == [4, 4, 2, 2, 2, 0]


def test_sorting_by_severity_puts_the_most_severe_first(synced):
    frame = recommendations.list_recommendations(synced, sort="severity_score")

    assert frame["recommendation_id"].tolist() == MOST_SEVERE_FIRST
    assert frame["severity_score"].tolist() == [10.0, 9.8, 7.5, 7.5, 7.5, 7.5]


def test_an_unknown_sort_is_refused(synced):
    with pytest.raises(ValueError, match="sort must be one of"):
        recommendations.list_recommendations(synced, sort="name")


def test_list_columns_carry_defenders_fields_and_a_readable_type(synced):
    frame = recommendations.list_recommendations(synced).set_index("recommendation_id")

    firewall = frame.loc[FIREWALL]
    assert firewall["name"] == "Turn on the firewall"
    assert firewall["category"] == "Network"
    assert firewall["remediation_type"] == "ConfigurationChange"
    assert firewall["remediation_type_label"] == "Configuration change"
    assert firewall["status"] == "Active"
    reader = frame.loc[READER]
    assert (reader["product_name"], reader["vendor"]) == ("reader", "contoso")
    assert reader["remediation_type_label"] == "Software update"
    assert frame.loc[ZULU, "remediation_type_label"] == "Software uninstall"
    assert frame.loc[ZULU, "status"] == "Exception"


@pytest.mark.parametrize(
    ("groups", "expected", "exposed"),
    [
        # Finance: the reader has 2 there; three share 1 and break by severity,
        # then name. The firewall (HR only) and the viewer (none) drop out.
        ([FINANCE], [READER, AGENT, FIREWALL_TOO, ZULU], [2, 1, 1, 1]),
        ([HR], [AGENT, FIREWALL, READER], [2, 2, 1]),
        ([UNASSIGNED], [FIREWALL_TOO, READER], [1, 1]),
        ([ENGINEERING, UNASSIGNED], [AGENT, FIREWALL_TOO, ZULU, READER], [1] * 4),
        ([], [], []),
    ],
)
def test_exposed_devices_are_counted_within_the_chosen_device_groups(
    synced, groups, expected, exposed
):
    frame = recommendations.list_recommendations(synced, groups=groups)

    assert frame["recommendation_id"].tolist() == expected
    assert frame["exposed_devices"].tolist() == exposed


def test_covered_means_an_active_activity_names_the_recommendation(synced):
    frame = recommendations.list_recommendations(synced)

    covered = frame.set_index("recommendation_id")["covered"].to_dict()
    # The firewall's activity was marked complete here; the agent's is completed
    # in Defender: neither covers any more.
    assert covered == {
        AGENT: False,
        READER: True,
        FIREWALL: False,
        FIREWALL_TOO: False,
        ZULU: True,
        VIEWER: False,
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"search": "contoso"}, [READER]),
        ({"search": "FABRIKAM"}, [AGENT]),
        ({"search": " agent "}, [AGENT]),
        ({"search": "firewall"}, [FIREWALL, FIREWALL_TOO]),
        ({"search": "update"}, [AGENT, READER, VIEWER]),
        ({"search": "%"}, []),
        ({"search": "  "}, MOST_EXPOSED_FIRST),
        ({"categories": ["Network"]}, [FIREWALL]),
        ({"categories": ["Network", "Security controls"]}, [FIREWALL, FIREWALL_TOO]),
        ({"categories": []}, []),
        ({"types": ["ConfigurationChange"]}, [FIREWALL, FIREWALL_TOO]),
        ({"types": ["Update", "Uninstall"]}, [AGENT, READER, ZULU, VIEWER]),
        ({"statuses": ["Exception"]}, [ZULU]),
        ({"statuses": ["Active"]}, [AGENT, READER, FIREWALL, FIREWALL_TOO, VIEWER]),
        ({"public_exploit": True}, [READER]),
        ({"public_exploit": False}, [AGENT, FIREWALL, FIREWALL_TOO, ZULU, VIEWER]),
        ({"active_alert": True}, [AGENT]),
        ({"covered": True}, [READER, ZULU]),
        ({"covered": False}, [AGENT, FIREWALL, FIREWALL_TOO, VIEWER]),
        ({"covered": False, "groups": [FINANCE]}, [AGENT, FIREWALL_TOO]),
        ({"search": "turn", "sort": "severity_score"}, [FIREWALL, FIREWALL_TOO]),
    ],
)
def test_each_filter_narrows_the_list(synced, filters, expected):
    assert listed(synced, **filters) == expected


def test_categories_are_offered_by_name(synced):
    assert recommendations.list_categories(synced) == [
        "Application",
        "Network",
        "Security controls",
    ]


# One recommendation


def test_a_recommendation_is_loaded_with_every_stored_field(synced):
    row = recommendations.load_recommendation(synced, READER)

    assert row["name"] == "Update Contoso Reader"
    assert row["recommended_version"] == "24.1"
    assert row["weaknesses"] == 3
    assert row["severity_score"] == 7.5
    assert row["exposed_devices"] == 4
    assert row["covered"] is True and row["covering_activities"] == 1
    assert row["remediation_type_label"] == "Software update"


def test_a_configuration_change_carries_its_no_user_impact_count(synced):
    row = recommendations.load_recommendation(synced, FIREWALL)

    assert row["no_user_impact_devices"] == 1
    assert row["covered"] is False


def test_an_unknown_recommendation_is_none(synced):
    assert recommendations.load_recommendation(synced, "va-_-nobody-_-nothing") is None


@pytest.mark.parametrize(
    ("rec_id", "groups", "expected"),
    [
        # Most exposed first, then by name, Unassigned last.
        (READER, None, [(FINANCE, "Finance", 2), (HR, "HR", 1),
                        (UNASSIGNED, "Unassigned", 1)]),
        (AGENT, None, [(HR, "HR", 2), (ENGINEERING, "Engineering", 1),
                       (FINANCE, "Finance", 1)]),
        (AGENT, [FINANCE, ENGINEERING], [(ENGINEERING, "Engineering", 1),
                                         (FINANCE, "Finance", 1)]),
        (FIREWALL, [FINANCE], []),
        (VIEWER, None, []),
    ],
)  # fmt: skip
def test_exposed_devices_are_counted_per_device_group(synced, rec_id, groups, expected):
    frame = recommendations.load_exposure_by_group(synced, rec_id, groups)

    assert list(frame.itertuples(index=False, name=None)) == expected


def test_the_exposed_devices_are_listed_by_name_with_os_and_group(synced):
    frame = recommendations.load_exposed_devices(synced, READER)

    assert frame[["computer_dns_name", "os_platform", "group_name"]].to_dict("split")[
        "data"
    ] == [
        ["f1.contoso.test", "Windows11", "Finance"],
        ["f2.contoso.test", "Windows10", "Finance"],
        ["h1.contoso.test", "Windows11", "HR"],
        ["u1.contoso.test", "Windows11", "Unassigned"],
    ]
    assert frame["machine_id"].tolist() == ["f1", "f2", "h1", "u1"]


def test_the_exposed_devices_keep_to_the_chosen_device_groups(synced):
    frame = recommendations.load_exposed_devices(synced, AGENT, [HR, UNASSIGNED])

    assert frame["machine_id"].tolist() == ["h1", "h2"]
    assert frame["os_platform"].tolist() == ["Windows11", "macOS"]
