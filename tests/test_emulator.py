"""The emulator over real HTTPS: sign-in, the Defender endpoints and the test knobs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from tests.conftest import shared_file
from tvmdata.clock import FakeClock
from tvmdata.emulator import (
    GRAPH_AUDIENCE,
    SAMPLE_CLIENT_ID,
    SAMPLE_CLIENT_SECRET,
    Emulator,
    main,
    sample_tenant,
)

DEFENDER_SCOPE = "https://api.securitycenter.microsoft.com/.default"
ROOT = Path(__file__).resolve().parents[1]


def make_tenant(task_count: int = 5) -> dict:
    tenant = sample_tenant()
    tenant["remediationTasks"] = [
        {
            "id": f"t{n}",
            "title": f"Update product {n}",
            "status": "Completed" if n % 2 else "Active",
            "createdOn": f"2025-0{n % 9 + 1}-01T10:00:00.{n}Z",
        }
        for n in range(1, task_count + 1)
    ]
    return tenant


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def emu(clock):
    with Emulator(make_tenant(), clock=clock) as emulator:
        yield emulator


def post_token(emu, secret=SAMPLE_CLIENT_SECRET, scope=DEFENDER_SCOPE, tenant=None):
    return requests.post(
        f"{emu.authority_host}/{tenant or emu.tenant_id}/oauth2/v2.0/token",
        data={
            "client_id": SAMPLE_CLIENT_ID,
            "client_secret": secret,
            "scope": scope,
            "grant_type": "client_credentials",
        },
        verify=str(emu.ca_path),
        timeout=10,
    )


def token_for(emu, scope=DEFENDER_SCOPE) -> str:
    return post_token(emu, scope=scope).json()["access_token"]


def api_get(emu, path, token=None, *, url=None, **params):
    headers = {"Authorization": f"Bearer {token or token_for(emu)}"}
    return requests.get(
        url or f"{emu.api_base}{path}",
        params=params or None,
        headers=headers,
        verify=str(emu.ca_path),
        timeout=10,
    )


def ids(response) -> list[str]:
    return [item["id"] for item in response.json()["value"]]


# -- sign-in ------------------------------------------------------------------------


def test_token_is_issued_for_the_right_client_secret(emu):
    response = post_token(emu)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert body["ext_expires_in"] == 3599
    assert len(body["access_token"]) > 30


def test_token_request_with_a_wrong_secret_is_refused_as_invalid_client(emu):
    response = post_token(emu, secret="not-the-secret")

    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret")


def test_token_request_from_an_unknown_client_is_refused_as_invalid_client(emu):
    response = requests.post(
        f"{emu.authority_host}/{emu.tenant_id}/oauth2/v2.0/token",
        data={
            "client_id": "someone-else",
            "client_secret": SAMPLE_CLIENT_SECRET,
            "scope": DEFENDER_SCOPE,
            "grant_type": "client_credentials",
        },
        verify=str(emu.ca_path),
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_codes"] == [700016]


def test_token_request_for_an_unknown_tenant_is_refused(emu):
    response = post_token(emu, tenant="11111111-2222-3333-4444-555555555555")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].startswith("AADSTS90002:")


@pytest.mark.parametrize("scope", ["", "https://api.securitycenter.microsoft.com"])
def test_token_request_without_a_default_scope_is_refused(emu, scope):
    response = post_token(emu, scope=scope)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_openid_configuration_points_msal_at_the_token_endpoint(emu):
    response = requests.get(
        f"{emu.authority_host}/{emu.tenant_id}/v2.0/.well-known/openid-configuration",
        verify=str(emu.ca_path),
        timeout=10,
    )

    assert response.status_code == 200
    expected = f"{emu.base_url}/{emu.tenant_id}/oauth2/v2.0/token"
    assert response.json()["token_endpoint"] == expected


def test_openid_configuration_of_an_unknown_tenant_is_refused(emu):
    response = requests.get(
        f"{emu.authority_host}/contoso.test/v2.0/.well-known/openid-configuration",
        verify=str(emu.ca_path),
        timeout=10,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_tenant"
    assert response.json()["error_description"].startswith("AADSTS90002:")


def test_msal_obtains_a_token_from_the_emulator(emu):
    class TrustingSession(requests.Session):
        def request(self, *args, **kwargs):
            kwargs["verify"] = str(emu.ca_path)
            return super().request(*args, **kwargs)

    app = msal.ConfidentialClientApplication(
        SAMPLE_CLIENT_ID,
        client_credential=SAMPLE_CLIENT_SECRET,
        authority=f"{emu.authority_host}/{emu.tenant_id}",
        instance_discovery=False,
        http_client=TrustingSession(),
    )
    result = app.acquire_token_for_client([DEFENDER_SCOPE])

    assert result.get("token_type") == "Bearer", result.get("error_description")
    assert api_get(emu, "/api/machines", result["access_token"]).status_code == 200
    assert emu.requests[:2] == [
        ("GET", f"/{emu.tenant_id}/v2.0/.well-known/openid-configuration"),
        ("POST", f"/{emu.tenant_id}/oauth2/v2.0/token"),
    ]


# -- the Bearer token ---------------------------------------------------------------


def test_api_call_without_a_bearer_token_is_unauthorized(emu):
    response = requests.get(
        f"{emu.api_base}/api/remediationTasks", verify=str(emu.ca_path), timeout=10
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Unauthorized"


def test_api_call_with_an_unknown_token_is_unauthorized(emu):
    response = api_get(emu, "/api/remediationTasks", "made-up-token")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Unauthorized"


def test_api_call_with_a_graph_token_is_refused_for_its_audience(emu):
    token = token_for(emu, scope=f"{GRAPH_AUDIENCE}/.default")

    response = api_get(emu, "/api/remediationTasks", token)

    assert response.status_code == 401
    assert "audience" in response.json()["error"]["message"]
    assert GRAPH_AUDIENCE in response.json()["error"]["message"]


def test_api_accepts_tokens_for_the_newer_defender_host(emu):
    token = token_for(emu, scope="https://api.security.microsoft.com/.default")

    assert api_get(emu, "/api/machines", token).status_code == 200


def test_token_expires_by_the_injected_clock(emu, clock):
    token = token_for(emu)
    clock.advance(3598)
    assert api_get(emu, "/api/machines", token).status_code == 200

    clock.advance(2)
    response = api_get(emu, "/api/machines", token)

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


# -- paging and filters -------------------------------------------------------------


def test_top_and_skip_page_through_exact_ids(emu):
    token = token_for(emu)

    pages = [
        ids(api_get(emu, "/api/remediationTasks", token, **{"$top": 2, "$skip": s}))
        for s in (0, 2, 4, 6)
    ]

    assert pages == [["t1", "t2"], ["t3", "t4"], ["t5"], []]


def test_page_size_knob_caps_pages_below_top(emu):
    emu.page_size = 3

    response = api_get(emu, "/api/remediationTasks", **{"$top": 10000})

    assert ids(response) == ["t1", "t2", "t3"]
    assert "@odata.nextLink" not in response.json()


@pytest.mark.parametrize("top", ["10001", "ten", "0", "-1"])
def test_top_outside_one_to_ten_thousand_is_refused(emu, top):
    response = api_get(emu, "/api/remediationTasks", **{"$top": top})

    assert response.status_code == 400
    assert "$top" in response.json()["error"]["message"]
    assert "10000" in response.json()["error"]["message"]


def test_nextlink_mode_followed_verbatim_returns_every_item(emu):
    emu.nextlink = True
    emu.page_size = 2
    token = token_for(emu)
    emu.reset_counts()

    response = api_get(emu, "/api/remediationTasks", token)
    collected, links = ids(response), []
    while link := response.json().get("@odata.nextLink"):
        links.append(link)
        response = api_get(emu, "", token, url=link)
        collected += ids(response)

    assert collected == ["t1", "t2", "t3", "t4", "t5"]
    assert len(links) == 2
    for link in links:
        query = parse_qs(urlsplit(link).query)
        assert link.startswith(f"{emu.api_base}/api/remediationTasks?")
        assert "$skiptoken" in query and "$skip" not in query
    followed = [path for _, path in emu.requests[1:]]
    assert followed == [link.removeprefix(emu.api_base) for link in links]


def test_nextlink_keeps_the_filter_of_the_first_request(emu):
    emu.nextlink = True
    emu.page_size = 1
    token = token_for(emu)

    response = api_get(emu, "/api/remediationTasks", token, **{"$filter": "x"})
    assert response.status_code == 400
    response = api_get(
        emu, "/api/remediationTasks", token, **{"$filter": "status eq 'Completed'"}
    )
    collected = ids(response)
    while link := response.json().get("@odata.nextLink"):
        response = api_get(emu, "", token, url=link)
        collected += ids(response)

    assert collected == ["t1", "t3", "t5"]


def test_made_up_skiptoken_is_refused(emu):
    emu.nextlink = True

    response = api_get(emu, "/api/machines", **{"$skiptoken": "MTA"})

    assert response.status_code == 400
    assert "@odata.nextLink" in response.json()["error"]["message"]


def test_filter_on_status_returns_only_matching_tasks(emu):
    response = api_get(
        emu, "/api/remediationTasks", **{"$filter": "status eq 'Active'"}
    )

    assert ids(response) == ["t2", "t4"]


@pytest.mark.parametrize(
    "created, expected",
    [
        (
            "createdOn ge 2025-04-01T10:00:00.3Z "
            "and createdOn le 2025-05-01T10:00:00.4Z",
            ["t3", "t4"],
        ),
        (
            "createdOn gt 2025-04-01T10:00:00.3Z "
            "and createdOn lt 2025-06-01T10:00:00.5Z",
            ["t4"],
        ),
        ("createdOn le 2025-02-01 10:00:00.1000000", ["t1"]),
        ("CreatedOn GT 2025-05-01T11:00:00+01:00", ["t4", "t5"]),
    ],
)
def test_filter_on_created_on_compares_instants(emu, created, expected):
    response = api_get(emu, "/api/remediationTasks", **{"$filter": created})

    assert ids(response) == expected


def test_unsupported_filter_is_refused_naming_it(emu):
    response = api_get(emu, "/api/remediationTasks", **{"$filter": "title eq 'x'"})

    assert response.status_code == 400
    assert "title eq 'x'" in response.json()["error"]["message"]


# -- entities -----------------------------------------------------------------------


def test_single_entities_carry_their_odata_context(emu):
    task = api_get(emu, "/api/remediationTasks/t2").json()

    assert task["id"] == "t2"
    assert task["@odata.context"].endswith("#RemediationTasks/$entity")


def test_machine_references_of_a_recommendation_are_served(emu):
    response = api_get(
        emu, "/api/recommendations/va-_-contoso-_-reader/machineReferences"
    )

    names = [m["computerDnsName"] for m in response.json()["value"]]
    assert names == ["fin-ws-01.contoso.test", "fin-ws-02.contoso.test"]
    assert response.json()["@odata.context"].endswith("#MachineReferences")


@pytest.mark.parametrize(
    "path",
    [
        "/api/remediationTasks/nope",
        "/api/remediationTasks/nope/machineReferences",
        "/api/recommendations/nope",
        "/api/machines/nope",
    ],
)
def test_unknown_id_answers_404(emu, path):
    response = api_get(emu, path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"
    assert "nope" in response.json()["error"]["message"]


def test_graph_endpoints_need_a_bearer_token(emu):
    # The Graph endpoints themselves are tested in test_emulator_graph.py.
    response = requests.get(
        f"{emu.graph_base}/deviceAppManagement/deviceAppManagementTasks",
        verify=str(emu.ca_path),
        timeout=10,
    )

    assert response.status_code == 401


def test_set_tenant_swaps_the_served_data(emu):
    token = token_for(emu)
    tenant = emu.tenant()
    tenant["machines"] = [{"id": "m-new", "rbacGroupId": 7}]

    emu.set_tenant(tenant)

    assert ids(api_get(emu, "/api/machines", token)) == ["m-new"]


# -- knobs --------------------------------------------------------------------------


def test_every_nth_call_is_throttled_with_retry_after(emu):
    token = token_for(emu)
    emu.throttle_every = 3

    statuses = [api_get(emu, "/api/machines", token) for _ in range(6)]

    assert [r.status_code for r in statuses] == [200, 200, 429, 200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "7"
    assert statuses[2].json()["error"]["code"] == "TooManyRequests"
    assert emu.calls["token"] == 1


def test_throttling_without_retry_after_sends_no_header(emu):
    emu.throttle_every = 1
    emu.retry_after = None

    response = api_get(emu, "/api/machines")

    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_fail_401_at_revokes_the_token_of_that_call_once(emu):
    token = token_for(emu)
    emu.fail_401_at = 2

    first, second, third = (api_get(emu, "/api/machines", token) for _ in range(3))

    assert [first.status_code, second.status_code] == [200, 401]
    assert third.status_code == 401
    assert api_get(emu, "/api/machines").status_code == 200


def test_fail_paths_answer_the_given_status_every_time(emu):
    token = token_for(emu)
    emu.fail_paths = {r"^/api/remediationTasks$": 403, r"machineReferences$": 500}

    tasks = [api_get(emu, "/api/remediationTasks", token) for _ in range(2)]
    refs = api_get(emu, "/api/recommendations/scid-2000/machineReferences", token)

    assert [r.status_code for r in tasks] == [403, 403]
    assert "RemediationTasks.Read.All" in tasks[0].json()["error"]["message"]
    assert refs.status_code == 500
    assert api_get(emu, "/api/machines", token).status_code == 200


def test_invalid_json_paths_answer_200_with_unparseable_json(emu):
    emu.invalid_json_paths = {r"/machineReferences$"}

    response = api_get(
        emu, "/api/recommendations/va-_-google-_-chrome/machineReferences"
    )

    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    assert ",\n}" in response.text


def test_scripted_responses_come_in_order_then_normal_handling_resumes(emu):
    token = token_for(emu)
    emu.script(
        r"^/api/machines$",
        [
            {"status": 429, "headers": {"Retry-After": "7"}, "body": {"error": {}}},
            {"status": 200, "body_text": '{"value": [{"id": "m1",}]}'},
            {"status": 200, "body": {"value": [{"id": "t1"}]}},
        ],
    )

    answers = [api_get(emu, "/api/machines", token) for _ in range(4)]

    assert [a.status_code for a in answers] == [429, 200, 200, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert answers[1].text == '{"value": [{"id": "m1",}]}'
    assert ids(answers[2]) == ["t1"]
    assert len(ids(answers[3])) == 6


def test_scripts_still_require_a_valid_token(emu):
    emu.script(r"^/api/machines$", [{"status": 200, "body": {"value": []}}])

    assert api_get(emu, "/api/machines", "made-up-token").status_code == 401
    assert ids(api_get(emu, "/api/machines")) == []


def test_delay_holds_each_api_answer_back(emu):
    token = token_for(emu)
    emu.delay = 0.2

    started = time.monotonic()
    api_get(emu, "/api/machines", token)

    assert time.monotonic() - started >= 0.2


def test_calls_are_counted_by_endpoint_and_requests_kept_raw(emu):
    token = token_for(emu)
    api_get(emu, "/api/remediationTasks", token, **{"$top": 2})
    api_get(emu, "/api/remediationTasks/t1", token)
    api_get(emu, "/api/remediationTasks/t1/machineReferences", token)
    api_get(emu, "/api/recommendations/scid-2000", token)
    api_get(emu, "/api/machines/nope", token)

    assert emu.calls == {
        "token": 1,
        "remediationTasks": 1,
        "remediationTasks/{id}": 1,
        "remediationTasks/{id}/machineReferences": 1,
        "recommendations/{id}": 1,
        "machines/{id}": 1,
    }
    assert emu.requests[1] == ("GET", "/api/remediationTasks?%24top=2")

    emu.reset_counts()

    assert emu.calls == {} and emu.requests == []


# -- state, certificates, logging and the command line ------------------------------


def test_state_file_round_trip(tmp_path):
    state = tmp_path / "state" / "tenant.json"
    with Emulator(make_tenant(2), state_path=state) as first:
        tenant = first.tenant()
        tenant["remediationTasks"].append({"id": "t-added", "status": "Active"})
        first.set_tenant(tenant)

    with Emulator(state_path=state) as second:
        served = ids(api_get(second, "/api/remediationTasks"))

    assert served == ["t1", "t2", "t-added"]
    assert json.loads(state.read_text()) == tenant
    assert [p.name for p in state.parent.iterdir()] == ["tenant.json"]


def test_ca_file_is_written_to_the_cert_dir_and_trusted_for_localhost(tmp_path):
    with Emulator(cert_dir=tmp_path) as emu:
        url = emu.base_url.replace("127.0.0.1", "localhost")
        response = requests.get(
            f"{url}/{emu.tenant_id}/v2.0/.well-known/openid-configuration",
            verify=str(emu.ca_path),
            timeout=10,
        )

        assert emu.ca_path == tmp_path / "ca.pem"
        assert response.status_code == 200
        assert "PRIVATE KEY" not in emu.ca_path.read_text()
        assert list(tmp_path.iterdir()) == [tmp_path / "ca.pem"]


def test_stop_closes_the_port_and_kept_alive_connections(tmp_path):
    emu = Emulator(cert_dir=tmp_path).start()
    session = requests.Session()
    url = f"{emu.base_url}/{emu.tenant_id}/v2.0/.well-known/openid-configuration"
    assert session.get(url, verify=str(emu.ca_path), timeout=10).status_code == 200
    ca_path = str(emu.ca_path)

    emu.stop()

    with session, pytest.raises(requests.exceptions.ConnectionError):
        session.get(url, verify=ca_path, timeout=10)


def test_system_trust_store_rejects_the_emulator_certificate(emu):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{emu.base_url}/api/machines", verify=True, timeout=10)


def test_requests_are_logged_at_debug_without_secrets_and_not_to_stderr(
    emu, caplog, capfd
):
    caplog.set_level(logging.DEBUG, logger="tvmdata.emulator")
    token = token_for(emu)
    api_get(emu, "/api/machines", token)

    lines = [r.getMessage() for r in caplog.records if r.name == "tvmdata.emulator"]
    assert any("GET /api/machines" in line for line in lines)
    assert not any(token in line or SAMPLE_CLIENT_SECRET in line for line in lines)
    assert capfd.readouterr().err == ""


def test_sample_tenant_has_two_groups_and_an_unassigned_machine():
    tenant = sample_tenant()

    groups = sorted(
        {(m["rbacGroupId"], m["rbacGroupName"]) for m in tenant["machines"]}
    )
    assert groups == [(0, None), (101, "Finance"), (102, "Engineering")]
    assert json.loads(json.dumps(tenant)) == tenant
    for task in tenant["remediationTasks"]:
        exposed = tenant["taskMachines"][task["id"]]
        assert len(exposed) == task["targetDevices"] - task["fixedDevices"]
    for recommendation in tenant["recommendations"]:
        exposed = tenant["recommendationMachines"][recommendation["id"]]
        assert len(exposed) == recommendation["exposedMachinesCount"]


@pytest.mark.parametrize(
    "key, sample",
    [
        ("remediationTasks", "mde-docs-examples/remediationTasks_list.json"),
        ("recommendations", "mde-docs-examples/recommendations_get_by_id.json"),
        ("machines", "defender-export-one-device/machines.json"),
    ],
)
def test_sample_tenant_objects_carry_every_field_of_the_real_samples(key, sample):
    document = json.loads(shared_file("data", *sample.split("/")).read_text())
    real = document["value"][0] if "value" in document else document
    expected = set(real) - {"@odata.context"}

    for item in sample_tenant()[key]:
        assert expected <= set(item), expected - set(item)


def start_command(*args: str) -> subprocess.Popen:
    """`python -m tvmdata emulator ARGS` as its own process, stdout piped."""
    command = [
        sys.executable,
        "-c",
        "import sys; from tvmdata.emulator import main; sys.exit(main(sys.argv[1:]))",
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )


def stop_command(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=20)
    process.stdout.close()
    return code


def test_command_line_writes_info_serves_and_removes_it_on_sigterm(tmp_path):
    seed, state, info = tmp_path / "seed.json", tmp_path / "state.json", tmp_path / "i"
    seed.write_text(json.dumps(make_tenant(3)))
    process = start_command(
        *("--state", str(state), "--tenant", str(seed), "--info", str(info)),
        *("--cert-dir", str(tmp_path / "certs")),
    )
    try:
        line = process.stdout.readline()
        found = json.loads(info.read_text())
        response = requests.post(
            f"{found['base_url']}/{found['tenant_id']}/oauth2/v2.0/token",
            data={
                "client_id": found["client_id"],
                "client_secret": found["client_secret"],
                "scope": DEFENDER_SCOPE,
                "grant_type": "client_credentials",
            },
            verify=found["ca_path"],
            timeout=10,
        )
    finally:
        code = stop_command(process)

    assert line.startswith(f"Emulator serving tenant {found['tenant_id']} at https://")
    parts = line.rstrip().split("; ")
    assert f"CA file: {tmp_path / 'certs' / 'ca.pem'}" in parts
    assert f"client id: {found['client_id']}" in parts
    assert found["pid"] == process.pid
    assert response.status_code == 200
    assert code == 0
    assert not info.exists()
    assert json.loads(state.read_text())["remediationTasks"][0]["id"] == "t1"


def test_command_line_without_a_state_or_tenant_serves_the_sample_tenant(tmp_path):
    info = tmp_path / "info.json"
    process = start_command("--info", str(info), "--cert-dir", str(tmp_path))
    try:
        process.stdout.readline()
        found = json.loads(info.read_text())
        served = SimpleNamespace(
            authority_host=found["base_url"],
            api_base=found["base_url"],
            tenant_id=found["tenant_id"],
            ca_path=found["ca_path"],
        )
        tasks = ids(api_get(served, "/api/remediationTasks"))
    finally:
        code = stop_command(process)

    assert found["tenant_id"] == sample_tenant()["tenant_id"]
    assert tasks == [t["id"] for t in sample_tenant()["remediationTasks"]]
    assert code == 0


def test_command_line_with_a_missing_state_file_names_the_fix(tmp_path, capsys):
    assert main(["--state", str(tmp_path / "missing.json")]) == 2
    assert "--tenant" in capsys.readouterr().err


def test_certificates_follow_real_time_not_the_injected_clock():
    clock = FakeClock(datetime(2020, 1, 1, tzinfo=UTC))

    with Emulator(clock=clock) as emu:
        assert post_token(emu).status_code == 200
