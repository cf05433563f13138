"""The Defender client over real HTTPS against the emulator: MSAL tokens, paging,
pacing, retries, TLS trust, the field cases and Microsoft's documented examples."""

from __future__ import annotations

import json
import logging
import os
import re
from bisect import bisect_left
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import load_case, shared_file
from tvmdata.auth import TokenProvider, make_session
from tvmdata.client import DefenderClient, Pacer, connect_defender
from tvmdata.clock import FakeClock
from tvmdata.config import Settings, load_settings
from tvmdata.errors import (
    ApiError,
    AuthError,
    InvalidResponse,
    PermissionMissing,
    QuotaExhausted,
    TlsError,
)
from tvmdata.records import normalize_recommendation, normalize_task

DOCS = ("data", "mde-docs-examples")
MACHINES = r"^/api/machines$"
TASKS = r"^/api/remediationTasks$"
TASK = r"^/api/remediationTasks/[^/]+$"
TASK_DEVICES = r"^/api/remediationTasks/[^/]+/machineReferences$"


@pytest.fixture
def client(settings, fake_clock):
    return connect_defender(settings, fake_clock)


def first_task_id(emulator) -> str:
    return emulator.tenant()["remediationTasks"][0]["id"]


def api_requests(emulator, path: str) -> list[str]:
    """Raw paths, query included, of the requests the emulator received for `path`."""
    return [raw for _, raw in emulator.requests if urlsplit(raw).path == path]


def skip_of(raw_path: str) -> int:
    return int(parse_qs(urlsplit(raw_path).query)["$skip"][0])


def recording_session(settings: Settings):
    """The product's own session, keeping every response it receives."""
    session = make_session(settings)
    received = []
    session.hooks["response"].append(lambda response, **_: received.append(response))
    return session, received


def docs_example(name: str) -> str:
    return shared_file(*DOCS, name).read_text(encoding="utf-8")


def busiest(stamps: list[float], window: float) -> int:
    """The most calls that fall in any half-open window of `window` seconds."""
    return max(bisect_left(stamps, t + window) - i for i, t in enumerate(stamps))


def error_reply(status: int, message: str = "failing", headers=None) -> dict:
    reply = {"status": status, "body": {"error": {"code": "E", "message": message}}}
    if headers:
        reply["headers"] = headers
    return reply


# --------------------------------------------------------------------------------
# Case 01: a page that is not valid JSON


def test_an_invalid_json_page_raises_naming_the_endpoint_and_the_fault(
    client, emulator
):
    case = load_case("01")
    emulator.script(TASK_DEVICES, case["input"]["responses"])

    with pytest.raises(InvalidResponse) as raised:
        client.fetch_task_devices(first_task_id(emulator))

    assert "machineReferences" in str(raised.value)
    assert "not valid JSON" in str(raised.value)


# --------------------------------------------------------------------------------
# Case 02: a missing permission


def test_a_403_names_the_missing_permission_and_says_to_grant_it(client, emulator):
    case = load_case("02")
    emulator.script(TASKS, case["input"]["responses"])

    with pytest.raises(PermissionMissing) as raised:
        list(client.fetch_remediation_tasks())

    message = str(raised.value)
    assert "RemediationTasks.Read.All" in message
    assert "grant" in message and "app registration" in message
    assert emulator.calls["remediationTasks"] == 1, "a 403 is not retried"


def test_a_403_without_a_permission_in_its_message_names_the_collections_one(
    client, emulator
):
    emulator.script(MACHINES, [error_reply(403, "Forbidden")])

    with pytest.raises(PermissionMissing) as raised:
        list(client.fetch_machines())

    assert "Machine.Read.All" in str(raised.value)


# --------------------------------------------------------------------------------
# Case 03: paging with and without @odata.nextLink


def test_pages_without_nextlink_return_every_machine_in_three_requests(
    settings, emulator, fake_clock
):
    pages = load_case("03")["input"]["responses_by_skip"]
    skips = sorted(pages, key=int)
    emulator.script(MACHINES, [pages[skip] for skip in skips])
    client = connect_defender(settings.with_overrides(page_size=2), fake_clock)

    ids = [m["id"] for page in client.fetch_machines() for m in page]

    assert ids == ["m1", "m2", "m3", "m4", "m5"]
    assert emulator.calls["machines"] == 3
    sent = api_requests(emulator, "/api/machines")
    assert [skip_of(raw) for raw in sent] == [int(skip) for skip in skips]


def test_nextlinks_are_followed_exactly_as_the_api_gives_them(
    settings, emulator, fake_clock
):
    pages = load_case("03")["input"]["responses_by_skip"]
    machines = [
        m for skip in sorted(pages, key=int) for m in pages[skip]["body"]["value"]
    ]
    tenant = emulator.tenant()
    tenant["machines"] = machines
    emulator.set_tenant(tenant)
    emulator.nextlink = True
    paged = settings.with_overrides(page_size=2)
    session, received = recording_session(paged)
    client = connect_defender(paged, fake_clock, session=session)

    ids = [m["id"] for page in client.fetch_machines() for m in page]

    assert ids == ["m1", "m2", "m3", "m4", "m5"]
    assert emulator.calls["machines"] == 3
    links = [r.json().get("@odata.nextLink") for r in received if "/api/" in r.url]
    assert links[-1] is None and all(links[:-1])
    issued = [urlsplit(link) for link in links[:-1]]
    sent = api_requests(emulator, "/api/machines")
    assert sent[1:] == [f"{link.path}?{link.query}" for link in issued]
    assert all("$skiptoken=" in raw and "skip=" not in raw for raw in sent[1:])


def test_a_nextlink_carrying_a_filter_is_sent_byte_for_byte(
    settings, emulator, fake_clock
):
    emulator.nextlink = True
    paged = settings.with_overrides(page_size=1)
    session, received = recording_session(paged)
    client = connect_defender(paged, fake_clock, session=session)

    pages = list(client.fetch_remediation_tasks(status="Active"))

    assert [len(page) for page in pages] == [1, 1, 1]
    links = [r.json().get("@odata.nextLink") for r in received if "/api/" in r.url]
    issued = [urlsplit(link) for link in links if link]
    sent = api_requests(emulator, "/api/remediationTasks")
    assert sent[1:] == [f"{link.path}?{link.query}" for link in issued]
    assert all("status%20eq%20'Active'" in raw for raw in sent[1:])


def test_a_page_that_keeps_failing_raises_after_bounded_retries(
    settings, emulator, fake_clock
):
    pages = load_case("03")["input"]["responses_by_skip"]
    server_error = error_reply(500, "InternalError")
    emulator.script(MACHINES, [pages["0"]] + [server_error] * 20)
    client = connect_defender(settings.with_overrides(page_size=2), fake_clock)

    with pytest.raises(ApiError) as raised:
        list(client.fetch_machines())

    tries = settings.max_retries + 1
    assert emulator.calls["machines"] == 1 + tries
    sent = api_requests(emulator, "/api/machines")
    assert [skip_of(raw) for raw in sent] == [0] + [2] * tries
    assert "500" in str(raised.value) and f"after {tries} tries" in str(raised.value)
    assert fake_clock.sleeps == [2.0, 4.0, 8.0], "exponential, never a real sleep"


# --------------------------------------------------------------------------------
# Case 04: throttling and pacing


def test_429s_are_waited_out_and_the_same_url_is_retried(client, emulator, fake_clock):
    responses = load_case("04")["input"]["responses"]
    hinted = float(responses[0]["headers"]["Retry-After"])
    emulator.script(TASKS, responses)

    pages = list(client.fetch_remediation_tasks())

    assert fake_clock.sleeps[0] >= hinted, "Retry-After of the first answer honoured"
    assert fake_clock.sleeps[1] > 0, "backs off on its own without Retry-After"
    assert len(set(api_requests(emulator, "/api/remediationTasks"))) == 1
    assert emulator.calls["remediationTasks"] == len(responses)
    assert pages == [responses[-1]["body"]["value"]]


def test_consecutive_429s_beyond_the_retries_say_the_quota_is_exhausted(
    client, settings, emulator, fake_clock
):
    unhinted_429 = load_case("04")["input"]["responses"][1]
    emulator.script(TASKS, [unhinted_429] * 20)

    with pytest.raises(QuotaExhausted) as raised:
        list(client.fetch_remediation_tasks())

    assert "the tenant's API quota is exhausted" in str(raised.value)
    assert emulator.calls["remediationTasks"] == settings.max_retries + 1
    assert fake_clock.sleeps == [2.0, 4.0, 8.0]


def test_the_pacer_spreads_thirty_calls_over_sliding_windows(fake_clock):
    pacer = Pacer(5, 20, fake_clock)

    for _ in range(30):
        pacer.wait_turn()

    # Calls 1-20 run five a minute (t=0, 60, 120, 180); call 21 waits until the
    # first call leaves the hour (t=3600); call 26 waits for the minute (3660).
    assert fake_clock.sleeps == [60, 60, 60, 3420, 60]
    assert fake_clock.monotonic() == 3660
    assert pacer.waited == 3660


def test_a_paced_client_makes_thirty_calls_in_the_expected_simulated_time(
    settings, emulator, fake_clock
):
    paced = settings.with_overrides(max_calls_per_minute=5, max_calls_per_hour=20)
    client = connect_defender(paced, fake_clock)

    for _ in range(30):
        client.get_json("/api/machines")

    assert emulator.calls["machines"] == 30
    assert fake_clock.monotonic() == 3660


def test_default_pacing_stays_below_the_documented_limits():
    clock = FakeClock()
    defaults = Settings()
    pacer = Pacer(defaults.max_calls_per_minute, defaults.max_calls_per_hour, clock)

    stamps = []
    for _ in range(1600):
        pacer.wait_turn()
        stamps.append(clock.monotonic())

    assert busiest(stamps, 60) < 100
    assert busiest(stamps, 3600) < 1500


def test_a_client_with_default_limits_holds_the_91st_call_of_a_minute(
    settings, emulator, fake_clock
):
    defaults = Settings()
    paced = settings.with_overrides(
        max_calls_per_minute=defaults.max_calls_per_minute,
        max_calls_per_hour=defaults.max_calls_per_hour,
    )
    client = connect_defender(paced, fake_clock)

    for _ in range(91):
        client.get_json("/api/machines")

    assert fake_clock.sleeps == [60]


# --------------------------------------------------------------------------------
# Other server errors


def test_server_errors_are_retried_a_bounded_number_of_times(
    client, settings, emulator, fake_clock
):
    emulator.fail_paths = {MACHINES: 502}

    with pytest.raises(ApiError) as raised:
        list(client.fetch_machines())

    tries = settings.max_retries + 1
    assert emulator.calls["machines"] == tries
    assert f"HTTP 502 after {tries} tries" in str(raised.value)
    assert "/api/machines" in str(raised.value)


def test_retry_after_is_honoured_on_a_503(client, emulator, fake_clock):
    emulator.script(MACHINES, [error_reply(503, "busy", {"Retry-After": "3"})])

    machines = [m for page in client.fetch_machines() for m in page]

    assert fake_clock.sleeps == [3.0]
    assert len(machines) == len(emulator.tenant()["machines"])


def test_a_server_that_went_away_is_retried_then_reported(
    settings, emulator, fake_clock, tmp_path
):
    # The emulator deletes its CA file when it stops; the client keeps a copy.
    ca_copy = tmp_path / "ca.pem"
    ca_copy.write_bytes(emulator.ca_path.read_bytes())
    client = connect_defender(settings.with_overrides(ca_bundle=ca_copy), fake_clock)
    list(client.fetch_machines())
    emulator.stop()

    with pytest.raises(ApiError) as raised:
        list(client.fetch_machines())

    assert "could not be reached" in str(raised.value)
    assert "TVM_API_BASE" in str(raised.value)
    assert len(fake_clock.sleeps) == settings.max_retries


# --------------------------------------------------------------------------------
# Case 11: TVM_CA_BUNDLE wins over system-wide CA variables


@pytest.fixture
def system_bundle_variables(monkeypatch) -> dict:
    """The case's system-wide CA variables, set as on the machines it came from."""
    environment = load_case("11")["input"]["environment"]
    system = {k: environment[k] for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    for name, value in system.items():
        monkeypatch.setenv(name, value)
    return system


def emulator_environment(monkeypatch, emulator, with_ca: bool) -> Settings:
    values = {
        "TVM_TENANT_ID": emulator.tenant_id,
        "TVM_CLIENT_ID": emulator.client_id,
        "TVM_CLIENT_SECRET": emulator.client_secret,
        "TVM_API_BASE": emulator.api_base,
        "TVM_AUTHORITY_HOST": emulator.authority_host,
        "TVM_MAX_CALLS_PER_MINUTE": "0",
        "TVM_MAX_CALLS_PER_HOUR": "0",
    }
    if with_ca:
        # TVM_CA_BUNDLE names the emulator's own CA file.
        values["TVM_CA_BUNDLE"] = str(emulator.ca_path)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def test_the_ca_bundle_setting_is_trusted_while_system_variables_stay_set(
    system_bundle_variables, monkeypatch, emulator, fake_clock
):
    settings = emulator_environment(monkeypatch, emulator, with_ca=True)
    client = connect_defender(settings, fake_clock)

    tasks = [t for page in client.fetch_remediation_tasks() for t in page]

    assert emulator.calls["token"] == 1
    assert [t["id"] for t in tasks] == [
        t["id"] for t in emulator.tenant()["remediationTasks"]
    ]
    for name, value in system_bundle_variables.items():
        assert os.environ[name] == value, f"{name} stays set"


def test_without_the_ca_bundle_the_token_request_names_the_setting(
    system_bundle_variables, monkeypatch, emulator, fake_clock
):
    settings = emulator_environment(monkeypatch, emulator, with_ca=False)
    client = connect_defender(settings, fake_clock)

    with pytest.raises(TlsError) as raised:
        list(client.fetch_remediation_tasks())

    assert "not trusted" in str(raised.value)
    assert "TVM_CA_BUNDLE" in str(raised.value)
    assert emulator.calls["token"] == 0


def test_without_the_ca_bundle_an_api_call_names_the_setting(
    system_bundle_variables, settings, emulator, fake_clock
):
    untrusting = settings.with_overrides(ca_bundle=None)
    tokens = TokenProvider(settings, settings.api_scope, make_session(settings))
    client = DefenderClient(
        untrusting.api_base, tokens, untrusting, make_session(untrusting), fake_clock
    )

    with pytest.raises(TlsError) as raised:
        client.fetch_remediation_task(first_task_id(emulator))

    assert emulator.calls["token"] == 1, "the token itself was obtained"
    assert "not trusted" in str(raised.value)
    assert "TVM_CA_BUNDLE" in str(raised.value)
    assert emulator.calls["remediationTasks/{id}"] == 0
    assert fake_clock.sleeps == [], "an untrusted certificate is not retried"


# --------------------------------------------------------------------------------
# MSAL against the emulator's token endpoint


def test_one_token_serves_many_calls(client, emulator):
    for _ in range(5):
        list(client.fetch_machines())
        client.fetch_remediation_task(first_task_id(emulator))

    assert emulator.calls["token"] == 1
    assert emulator.calls["machines"] == 5


def test_a_revoked_token_is_dropped_and_renewed_once(client, emulator):
    list(client.fetch_machines())
    emulator.fail_401_at = 2
    task_id = first_task_id(emulator)

    task = client.fetch_remediation_task(task_id)

    assert task["id"] == task_id
    assert emulator.calls["token"] == 2
    retried = api_requests(emulator, f"/api/remediationTasks/{task_id}")
    assert len(retried) == 2 and retried[0] == retried[1]


def test_a_token_refused_twice_is_an_auth_error_naming_the_scope(client, emulator):
    emulator.script(MACHINES, [error_reply(401, "no")] * 5)

    with pytest.raises(AuthError) as raised:
        list(client.fetch_machines())

    assert "TVM_API_SCOPE" in str(raised.value)
    assert emulator.calls["token"] == 2
    assert emulator.calls["machines"] == 2


def test_a_refused_client_secret_names_the_secret_setting(
    settings, emulator, fake_clock
):
    wrong = settings.with_overrides(client_secret="not-the-secret")
    client = connect_defender(wrong, fake_clock)

    with pytest.raises(AuthError) as raised:
        list(client.fetch_remediation_tasks())

    assert "TVM_CLIENT_SECRET" in str(raised.value)
    assert "not-the-secret" not in str(raised.value)
    assert emulator.calls["remediationTasks"] == 0


def test_an_unknown_client_id_names_the_client_id_setting(
    settings, emulator, fake_clock
):
    unknown = settings.with_overrides(client_id="00000000-0000-0000-0000-00000000dead")
    client = connect_defender(unknown, fake_clock)

    with pytest.raises(AuthError) as raised:
        list(client.fetch_remediation_tasks())

    assert "TVM_CLIENT_ID" in str(raised.value)


def test_an_unknown_tenant_names_the_tenant_setting(settings, emulator, fake_clock):
    unknown = settings.with_overrides(tenant_id="11111111-1111-1111-1111-111111111111")
    client = connect_defender(unknown, fake_clock)

    with pytest.raises(AuthError) as raised:
        list(client.fetch_remediation_tasks())

    assert "TVM_TENANT_ID" in str(raised.value)
    assert "does not recognise" in str(raised.value), "reached, not unreachable"
    assert emulator.calls["token"] == 0


# --------------------------------------------------------------------------------
# Microsoft's documented examples through the same code


def test_the_documented_task_list_parses_with_its_values_intact(client, emulator):
    text = docs_example("remediationTasks_list.json")
    emulator.script(TASKS, [{"status": 200, "body_text": text}])

    pages = list(client.fetch_remediation_tasks())
    row = normalize_task(pages[0][0])

    assert pages == [json.loads(text)["value"]]
    assert row["activity_id"] == "03942ef5-aewb-4w6e-b555-d6a97013844w"
    assert row["title"] == "Update Microsoft Silverlight"
    assert row["created_on"] == "2021-02-10T13:20:36.471816+00:00"
    assert (row["target_devices"], row["fixed_devices"]) == (18511, 2866)
    assert row["device_groups"] == ["Unassigned", "hhh"]
    assert row["due_on"] == "2021-02-11"
    assert row["productivity_impact"] is None
    assert row["product_id"] == "microsoft-_-silverlight"


def test_the_documented_task_by_id_parses_with_its_values_intact(client, emulator):
    text = docs_example("remediationTasks_get_by_id.json")
    emulator.script(TASK, [{"status": 200, "body_text": text}])

    task = client.fetch_remediation_task("03942ef5-aecb-4c6e-b555-d6a97013844c")
    row = normalize_task(task)

    assert task == json.loads(text)
    assert row["activity_id"] == "03942ef5-aecb-4c6e-b555-d6a97013844c"
    assert row["status_changed_on"] == "2021-02-10T13:20:36.471969+00:00"
    assert (row["priority"], row["remediation_type"]) == ("Medium", "Update")
    assert row["requester_notes"] == "test"


def test_the_documented_recommendation_parses_with_its_values_intact(client, emulator):
    text = docs_example("recommendations_get_by_id.json")
    emulator.script(
        r"^/api/recommendations/[^/]+$", [{"status": 200, "body_text": text}]
    )

    recommendation = client.get_json("/api/recommendations/va-_-google-_-chrome")
    row = normalize_recommendation(recommendation)

    assert recommendation == json.loads(text)
    assert row["recommendation_id"] == "va-_-google-_-chrome"
    assert row["exposure_impact"] == 3.9441860465116285
    assert (row["exposed_devices"], row["total_devices"]) == (5, 6)
    assert row["exposed_critical_devices"] == 116
    assert row["tags"] == ["internetFacing"]
    assert (row["public_exploit"], row["severity_score"]) == (False, 0.0)


@pytest.mark.parametrize(
    "example, fetch, endpoint",
    [
        (
            "remediationTasks_machineReferences.json",
            lambda client, task_id: client.fetch_task_devices(task_id),
            "/machineReferences",
        ),
        (
            "machines_list.json",
            lambda client, task_id: list(client.fetch_machines()),
            "/api/machines",
        ),
    ],
)
def test_an_invalid_documented_example_gives_a_clear_error(
    client, emulator, example, fetch, endpoint
):
    text = docs_example(example)
    emulator.script(r"^/api/", [{"status": 200, "body_text": text}])

    with pytest.raises(InvalidResponse) as raised:
        fetch(client, first_task_id(emulator))

    assert endpoint in str(raised.value)
    assert "not valid JSON" in str(raised.value)


# --------------------------------------------------------------------------------
# Logging


CALL_LINE = re.compile(r"^GET (/api/\S+) 200 rows=(\d+) \d+ms$")


def test_each_successful_call_logs_one_info_line_with_its_figures(
    client, emulator, caplog
):
    caplog.set_level(logging.INFO, logger="tvmdata.client")

    list(client.fetch_remediation_tasks())
    client.fetch_remediation_task(first_task_id(emulator))
    list(client.fetch_machines())

    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "tvmdata.client" and r.levelno == logging.INFO
    ]
    matches = [CALL_LINE.match(line) for line in lines]
    assert all(matches), lines
    paths = [urlsplit(m.group(1)).path for m in matches]
    task_path = f"/api/remediationTasks/{first_task_id(emulator)}"
    assert paths == ["/api/remediationTasks", task_path, "/api/machines"]
    assert [int(m.group(2)) for m in matches] == [4, 1, 6]


def test_no_log_record_carries_a_token_or_the_client_secret(
    settings, emulator, fake_clock, caplog
):
    caplog.set_level(logging.DEBUG)
    session, received = recording_session(settings)
    client = connect_defender(settings, fake_clock, session=session)
    emulator.fail_401_at = 2
    emulator.script(TASKS, [error_reply(429, "slow down", {"Retry-After": "1"})])
    emulator.script(TASK, [error_reply(403, "Forbidden")])

    list(client.fetch_machines())
    list(client.fetch_remediation_tasks())
    with pytest.raises(PermissionMissing):
        client.fetch_remediation_task(first_task_id(emulator))

    sent = {r.request.headers.get("Authorization") for r in received}
    tokens = {h.split(" ", 1)[1] for h in sent if h}
    assert len(tokens) == 2, "the run used a first and a renewed token"
    logged = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert [t for t in tokens if any(t in text for text in logged)] == []
    assert [text for text in logged if settings.client_secret in text] == []
    assert [text for text in logged if "Authorization" in text] == []
    assert [text for text in logged if re.search(r"Bearer\s+\S", text)] == []
