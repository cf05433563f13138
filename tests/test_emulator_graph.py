"""The emulator's Microsoft Graph Intune task endpoints over real HTTPS, and the
demo controls that play IT answering a task."""

from __future__ import annotations

import json
import os
import re

import pytest
import requests

from tests.conftest import shared_file
from tests.test_cli import cli, cli_env, one_line
from tvmdata import demo
from tvmdata.emulator import (
    CONTROL_HEADER,
    DEFENDER_AUDIENCES,
    GRAPH_AUDIENCE,
    Emulator,
    sample_tenant,
)
from tvmdata.errors import ConfigError

DOCS = ("graph-intune-docs-examples",)
TASKS = "/deviceAppManagement/deviceAppManagementTasks"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def docs_example(name: str) -> dict:
    return json.loads(shared_file("data", *DOCS, name).read_text(encoding="utf-8"))


def token(emu, audience=GRAPH_AUDIENCE) -> str:
    response = requests.post(
        f"{emu.authority_host}/{emu.tenant_id}/oauth2/v2.0/token",
        data={
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "scope": f"{audience}/.default",
            "grant_type": "client_credentials",
        },
        verify=str(emu.ca_path),
        timeout=10,
    )
    return response.json()["access_token"]


def graph(emu, method, path="", body=None, audience=GRAPH_AUDIENCE, **params):
    return requests.request(
        method,
        f"{emu.graph_base}{TASKS}{path}",
        json=body,
        params=params or None,
        headers={"Authorization": f"Bearer {token(emu, audience)}"},
        verify=str(emu.ca_path),
        timeout=10,
    )


def new_task(**changes) -> dict:
    body = {
        "@odata.type": "#microsoft.graph.appVulnerabilityTask",
        "displayName": "Update Google Chrome",
        "dueDateTime": "2026-05-18T23:59:59Z",
        "priority": "high",
        "status": "pending",
        "managedDeviceCount": 5,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def info_of(emu) -> dict:
    return {
        "base_url": emu.base_url,
        "client_secret": emu.client_secret,
        "ca_path": str(emu.ca_path),
    }


@pytest.fixture
def emu():
    with Emulator(sample_tenant()) as emulator:
        yield emulator


@pytest.mark.parametrize("name", ["appVulnerabilityTask", "securityConfigurationTask"])
def test_the_documented_create_requests_are_accepted(emu, name):
    documented = docs_example(f"{name}_create_request.json")

    response = graph(emu, "POST", body=documented)

    assert response.status_code == 201
    created = response.json()
    assert GUID.match(created["id"])
    assert created["status"] == "pending"
    assert created["createdDateTime"].endswith("Z")
    expected = docs_example(f"{name}_create_response.json")
    for key in set(expected) - {"id", "createdDateTime"}:
        assert created[key] == expected[key], key
    assert emu.calls["graph POST tasks"] == 1
    assert [t["id"] for t in emu.tenant()["intuneTasks"]] == [created["id"]]


def test_a_defender_token_is_refused_with_graphs_error_shape(emu):
    response = graph(emu, "GET", audience=DEFENDER_AUDIENCES[0])

    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert error["code"] == "Unauthorized"
    assert f"audience '{DEFENDER_AUDIENCES[0]}' is wrong" in error["message"]
    assert emu.calls["graph GET tasks"] == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"displayName": None}, "The property 'displayName' is required."),
        ({"dueDateTime": "soon"}, "Cannot convert 'soon' to Edm.DateTimeOffset."),
        (
            {"priority": "medium"},
            "The value 'medium' is not valid for 'priority': use one of none, "
            "high, low.",
        ),
        (
            {"status": "cancelled"},
            "The value 'cancelled' is not valid for 'status': use one of "
            "unknown, pending, active, completed, rejected.",
        ),
        (
            {"machineIds": ["m1"]},
            "Property 'machineIds' does not exist on type "
            "'microsoft.graph.appVulnerabilityTask'.",
        ),
        (
            {"@odata.type": "#microsoft.graph.deviceAppManagementTask"},
            "@odata.type must be #microsoft.graph.appVulnerabilityTask or "
            "#microsoft.graph.securityConfigurationTask, not "
            "'#microsoft.graph.deviceAppManagementTask'.",
        ),
    ],
)
def test_create_refuses_bodies_graph_would_refuse(emu, changes, message):
    response = graph(emu, "POST", body=new_task(**changes))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert response.json()["error"]["message"] == message
    assert emu.tenant().get("intuneTasks", []) == []


def test_list_top_get_patch_and_update_status(emu):
    ids = [graph(emu, "POST", body=new_task()).json()["id"] for _ in range(3)]

    listed = graph(emu, "GET", **{"$top": "2"}).json()["value"]
    assert [t["id"] for t in listed] == ids[:2]

    patched = graph(emu, "PATCH", f"/{ids[1]}", {"priority": "low"})
    assert (patched.status_code, patched.content) == (204, b"")
    assert graph(emu, "GET", f"/{ids[1]}").json()["priority"] == "low"

    closed = graph(
        emu, "POST", f"/{ids[1]}/updateStatus", {"status": "rejected", "note": "No"}
    )
    assert closed.status_code == 204
    assert graph(emu, "GET", f"/{ids[1]}").json()["status"] == "rejected"
    assert emu.graph_writes[-1][2] == {"status": "rejected", "note": "No"}

    missing = graph(emu, "GET", "/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No deviceAppManagementTask 'nope'."
    assert (emu.calls["graph POST tasks"], emu.calls["graph GET tasks"]) == (3, 1)
    assert (emu.calls["graph GET task"], emu.calls["graph PATCH task"]) == (3, 1)
    assert emu.calls["graph POST updateStatus"] == 1


def test_fail_paths_and_scripts_apply_to_graph(emu):
    emu.fail_paths = {"deviceAppManagementTasks": 403}
    refused = graph(emu, "POST", body=new_task())
    assert refused.status_code == 403
    assert "DeviceManagementApps.ReadWrite.All" in refused.json()["error"]["message"]

    emu.fail_paths = {}
    emu.script(
        "deviceAppManagementTasks$",
        [{"status": 429, "headers": {"Retry-After": "30"}, "body": {}}],
        method="POST",
    )
    throttled = graph(emu, "POST", body=new_task())
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "30")
    assert graph(emu, "POST", body=new_task()).status_code == 201
    assert len(emu.tenant()["intuneTasks"]) == 1


def test_tasks_persist_in_the_state_file(tmp_path):
    state = tmp_path / "state.json"
    with Emulator(sample_tenant(), state_path=state) as first:
        task_id = graph(first, "POST", body=new_task()).json()["id"]
        first.act_on_task(task_id, "accept", "it.ops@contoso.test")

    with Emulator(state_path=state) as second:
        task = graph(second, "GET", f"/{task_id}").json()
    assert (task["status"], task["assignedTo"]) == ("active", "it.ops@contoso.test")


def test_playing_it_moves_a_task_through_its_statuses(emu):
    task_id = graph(emu, "POST", body=new_task()).json()["id"]

    assert emu.act_on_task(task_id, "accept", "ann@contoso.test")["status"] == "active"
    assert emu.act_on_task(task_id, "complete")["status"] == "completed"
    assert emu.act_on_task(task_id, "reject")["assignedTo"] == "ann@contoso.test"
    with pytest.raises(KeyError):
        emu.act_on_task("nope", "accept")
    with pytest.raises(ValueError, match="not 'approve'"):
        emu.act_on_task(task_id, "approve")


def test_the_task_status_control_needs_the_secret_and_a_known_task(emu):
    task_id = graph(emu, "POST", body=new_task()).json()["id"]
    url = f"{emu.base_url}/_emulator/task-status"
    order = {"taskId": task_id, "status": "accept"}

    guessed = requests.post(
        url, json=order, headers={CONTROL_HEADER: "guess"},
        verify=str(emu.ca_path), timeout=10,
    )  # fmt: skip
    assert guessed.status_code == 403
    assert emu.tenant()["intuneTasks"][0]["status"] == "pending"

    task = demo.set_task_status(task_id, "accept", "bo@contoso.test", info_of(emu))
    assert (task["status"], task["assignedTo"]) == ("active", "bo@contoso.test")
    with pytest.raises(ConfigError, match="No Intune task 'nope'"):
        demo.set_task_status("nope", "reject", info=info_of(emu))
    with pytest.raises(ConfigError, match="status must be one of accept"):
        demo.set_task_status(task_id, "approve", info=info_of(emu))


def test_demo_it_on_the_command_line(emu, tmp_path):
    task_id = graph(emu, "POST", body=new_task()).json()["id"]
    info = tmp_path / "data" / "emulator" / "info.json"
    info.parent.mkdir(parents=True)
    info.write_text(json.dumps({**info_of(emu), "pid": os.getpid()}))

    done = cli("demo", "it", task_id, "reject", env=cli_env(), cwd=tmp_path)
    missing = cli("demo", "it", task_id, env=cli_env(), cwd=tmp_path)
    unknown = cli("demo", "it", "nope", "accept", env=cli_env(), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"Intune task {task_id} is now rejected: run a sync (or Sync now) to see "
        "IT's answer"
    )
    assert emu.tenant()["intuneTasks"][0]["status"] == "rejected"
    assert one_line(missing) == (
        "error: Name the Intune task and IT's answer: python -m tvmdata demo it "
        "TASK_ID accept|reject|complete (the task id is on the activity's detail)."
    )
    assert one_line(unknown) == (
        "error: The demo emulator refused: No Intune task 'nope'."
    )


def test_demo_it_without_a_running_emulator_says_how_to_start_it(tmp_path):
    done = cli("demo", "it", "some-task", "accept", env=cli_env(), cwd=tmp_path)

    assert "python -m tvmdata demo up" in one_line(done)
