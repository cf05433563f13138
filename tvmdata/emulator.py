"""A local stand-in for Microsoft Entra ID sign-in, the Defender API and the
Microsoft Graph Intune security tasks.

It serves HTTPS with a certificate it signs itself, answers the client-credentials
token flow as Entra ID does, and serves one tenant's remediation activities,
security recommendations, machines and Intune security tasks from a plain dict.
The test suite talks to it over real HTTP, and demo mode runs it as a separate
process.

Plain attributes ("knobs") make it page, throttle, fail or answer broken JSON the
way the real service sometimes does, and `script` queues canned answers for cases
seen in the field.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime as dt
import ipaddress
import json
import logging
import math
import operator
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tvmdata.clock import SYSTEM_CLOCK

logger = logging.getLogger(__name__)

SAMPLE_TENANT_ID = "00000000-0000-0000-0000-0000000000aa"
SAMPLE_CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"
SAMPLE_CLIENT_SECRET = "emulator-client-secret"

MAX_TOP = 10_000
TOKEN_LIFETIME = 3599
DEFENDER_AUDIENCES = (
    "https://api.securitycenter.microsoft.com",
    "https://api.security.microsoft.com",
)
GRAPH_AUDIENCE = "https://graph.microsoft.com"

# Scopes MSAL may add to any request; they name no resource.
_RESERVED_SCOPES = {"openid", "profile", "offline_access"}
_IO_TIMEOUT = 30.0

_ENTITIES = {
    # path segment: (OData entity set, tenant key of its device lists, noun)
    "remediationtasks": ("RemediationTasks", "taskMachines", "remediation activity"),
    "recommendations": (
        "Recommendations",
        "recommendationMachines",
        "security recommendation",
    ),
    "machines": ("Machines", None, "machine"),
}
_PERMISSIONS = {
    "remediationtasks": "RemediationTasks.Read.All",
    "recommendations": "SecurityRecommendation.Read.All",
    "machines": "Machine.Read.All",
    "deviceappmanagement": "DeviceManagementApps.ReadWrite.All",
}
_API_PATH = re.compile(
    r"^/api/(?P<entity>remediationTasks|recommendations|machines)"
    r"(?:/(?P<id>[^/]+)(?P<refs>/machineReferences)?)?/?$",
    re.IGNORECASE,
)
# Microsoft Graph beta: Intune security tasks (partner integration).
_GRAPH_TASKS_PATH = re.compile(
    r"^/graph/beta/deviceAppManagement/deviceAppManagementTasks"
    r"(?:/(?P<id>[^/]+)(?P<action>/updateStatus)?)?/?$",
    re.IGNORECASE,
)
GRAPH_TASK_TYPES = {
    "#microsoft.graph.appVulnerabilityTask": (
        "appName",
        "appPublisher",
        "appVersion",
        "mitigationType",
        "insights",
        "managedDeviceCount",
        "mobileAppCount",
        "remediation",
    ),
    "#microsoft.graph.securityConfigurationTask": (
        "applicablePlatform",
        "endpointSecurityPolicy",
        "endpointSecurityPolicyProfile",
        "insights",
        "intendedSettings",
        "managedDeviceCount",
    ),
}
_GRAPH_TASK_FIELDS = (
    "displayName",
    "description",
    "dueDateTime",
    "category",
    "priority",
    "creator",
    "creatorNotes",
    "assignedTo",
    "status",
)
GRAPH_TASK_STATUSES = ("unknown", "pending", "active", "completed", "rejected")
GRAPH_TASK_PRIORITIES = ("none", "high", "low")
_GRAPH_CHOICES = {
    "priority": GRAPH_TASK_PRIORITIES,
    "status": GRAPH_TASK_STATUSES,
    "category": ("unknown", "advancedThreatProtection"),
    "mitigationType": ("unknown", "update", "uninstall", "securityConfiguration"),
}
# What IT does to a task in Intune, as the demo controls name it.
IT_ACTIONS = {"accept": "active", "reject": "rejected", "complete": "completed"}
_OIDC_PATH = re.compile(
    r"^/(?P<tenant>[^/]+)(?:/v2\.0)?/\.well-known/openid-configuration$"
)
_TOKEN_PATH = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
# Demo controls: another process (the CLI, the dashboard in demo mode) plays IT.
_CONTROL_PATH = re.compile(r"^/_emulator/(?P<action>[a-z-]+)$")
CONTROL_HEADER = "X-Emulator-Control"
_ERROR_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
_QUOTA_MESSAGE = "API calls quota exceeded! Maximum allowed 100 per 60 seconds."


# --------------------------------------------------------------------------------
# The sample tenant


def sample_tenant() -> dict:
    """Build a small hand-made tenant for tests and quick trials.

    Six machines: two in device group "Finance" (id 101), three in "Engineering"
    (id 102) and one in no group (id 0, name null). Four remediation activities
    (two created at the same instant, one completed, one attention-required with no
    due date) and four security recommendations, with their exposed devices.

    Returns:
        A JSON-serialisable tenant dict, with one client whose id and secret are
        `SAMPLE_CLIENT_ID` and `SAMPLE_CLIENT_SECRET`.
    """
    machines = _sample_machines()
    by_name = {m["computerDnsName"].split(".")[0]: m for m in machines}

    def refs(*names: str) -> list[dict]:
        return [_machine_reference(by_name[name]) for name in names]

    return {
        "tenant_id": SAMPLE_TENANT_ID,
        "clients": {SAMPLE_CLIENT_ID: SAMPLE_CLIENT_SECRET},
        "remediationTasks": _sample_tasks(),
        "taskMachines": {
            _TASK_IDS[0]: refs("fin-ws-01", "fin-ws-02"),
            _TASK_IDS[1]: refs("fin-ws-01", "fin-ws-02"),
            _TASK_IDS[2]: [],
            _TASK_IDS[3]: refs("ws-0417"),
        },
        "recommendations": _sample_recommendations(),
        "recommendationMachines": {
            "va-_-google-_-chrome": refs("fin-ws-01", "fin-ws-02"),
            "va-_-contoso-_-reader": refs("fin-ws-01", "fin-ws-02"),
            "scid-2000": [],
            "va-_-oracle-_-jre": refs("ws-0417"),
        },
        "machines": machines,
    }


_TASK_IDS = [
    "a1c3e5f7-0000-4000-8000-000000000001",
    "a1c3e5f7-0000-4000-8000-000000000002",
    "a1c3e5f7-0000-4000-8000-000000000003",
    "a1c3e5f7-0000-4000-8000-000000000004",
]


def _sample_machines() -> list[dict]:
    return [
        _sample_machine("fin-ws-01", 101, "Finance", "Windows11", 1),
        _sample_machine("fin-ws-02", 101, "Finance", "Windows10", 2),
        _sample_machine("eng-ws-01", 102, "Engineering", "Windows11", 3),
        _sample_machine("eng-ws-02", 102, "Engineering", "Windows11", 4),
        _sample_machine("eng-srv-01", 102, "Engineering", "WindowsServer2022", 5),
        _sample_machine("ws-0417", 0, None, "Windows11", 6),
    ]


def _sample_machine(name, group_id, group_name, platform, number) -> dict:
    return {
        "id": f"{number:02d}" + "5e1d0c" * 6 + f"{number:02d}",
        "computerDnsName": f"{name}.contoso.test",
        "firstSeen": "2024-03-04T08:00:00.123Z",
        "lastSeen": f"2025-12-31T2{number % 4}:15:42.5499478Z",
        "osPlatform": platform,
        "osVersion": None,
        "osProcessor": "x64",
        "osArchitecture": "64-bit",
        "version": "23H2",
        "osBuild": 22631,
        "agentVersion": "10.8760.22631.1000",
        "lastIpAddress": f"192.0.2.{10 + number}",
        "lastExternalIpAddress": "203.0.113.10",
        "ipAddresses": [
            {
                "ipAddress": f"192.0.2.{10 + number}",
                "macAddress": f"00005E0053{number:02d}",
                "type": "Ethernet",
                "operationalStatus": "Up",
            }
        ],
        "healthStatus": "Active",
        "onboardingStatus": "Onboarded",
        "deviceValue": "High" if name.startswith("eng-srv") else "Normal",
        "rbacGroupId": group_id,
        "rbacGroupName": group_name,
        "riskScore": "Medium",
        "exposureLevel": "Medium",
        "isAadJoined": True,
        "aadDeviceId": f"00000000-0000-4000-8000-0000000000{number:02d}",
        "machineTags": ["finance"] if group_id == 101 else [],
        "managedBy": "Intune",
        "managedByStatus": "Success",
        "isExcluded": False,
        "exclusionReason": None,
        "isPotentialDuplication": False,
        "mergedIntoMachineId": None,
        "vmMetadata": None,
    }


def _machine_reference(machine: dict) -> dict:
    return {
        "id": machine["id"],
        "computerDnsName": machine["computerDnsName"],
        "osPlatform": machine["osPlatform"],
        "rbacGroupName": machine["rbacGroupName"] or "UnassignedGroup",
    }


def _sample_tasks() -> list[dict]:
    chrome = _sample_task(
        0,
        "Update Google Chrome",
        "google-_-chrome",
        "2025-11-03T09:15:00.1234567Z",
        ["Finance", "Engineering"],
    )
    chrome.update(targetDevices=3, fixedDevices=1, priority="High")
    reader = _sample_task(
        1,
        "Update Contoso Reader",
        "contoso-_-reader",
        "2025-11-03T09:15:00.1234567Z",
        ["Finance"],
    )
    reader.update(dueOn="2025-12-15T00:00:00Z", targetDevices=2)
    smb = _sample_task(2, "Turn off SMBv1", None, "2025-10-01T12:00:00Z", None)
    smb.update(
        status="Completed",
        statusLastModifiedOn="2025-12-01T16:30:05.25Z",
        category="SecurityConfiguration",
        type="ConfigurationChange",
        scid="scid-2000",
        targetDevices=3,
        fixedDevices=3,
        completionMethod="Manual",
        completerId="7d1c0000-0000-4000-8000-000000000002",
        completerEmail="secops.lead@contoso.test",
    )
    java = _sample_task(
        3,
        "Attention required: Oracle Java",
        "oracle-_-jre",
        "2025-12-20T08:00:00.5Z",
        ["UnassignedGroup"],
    )
    java.update(type="AttentionRequired", dueOn=None, priority="Low")
    java.update(targetDevices=1, fixedDevices=0)
    return [chrome, reader, smb, java]


def _sample_task(number, title, product_id, created_on, groups) -> dict:
    vendor, _, name = (product_id or "").partition("-_-")
    return {
        "id": _TASK_IDS[number],
        "title": title,
        "createdOn": created_on,
        "requesterId": "7d1c0000-0000-4000-8000-000000000001",
        "requesterEmail": "secops@contoso.test",
        "status": "Active",
        "statusLastModifiedOn": created_on,
        "description": f"{title} on the exposed devices of the chosen groups.",
        "relatedComponent": title.split(": ")[-1].removeprefix("Update "),
        "targetDevices": 0,
        "rbacGroupNames": groups,
        "fixedDevices": 0,
        "requesterNotes": "",
        "dueOn": "2026-01-15T00:00:00Z",
        "category": "Software",
        "productivityImpactRemediationType": "AllExposedAssets",
        "priority": "Medium",
        "completionMethod": None,
        "completerId": None,
        "completerEmail": None,
        "scid": None,
        "type": "Update",
        "productId": product_id,
        "vendorId": vendor or None,
        "nameId": name or None,
        "recommendedVersion": None,
        "recommendedVendor": None,
        "recommendedProgram": None,
    }


def _sample_recommendations() -> list[dict]:
    chrome = _sample_recommendation("va-_-google-_-chrome", "Update Chrome", 2)
    reader = _sample_recommendation("va-_-contoso-_-reader", "Update Reader", 2)
    smb = _sample_recommendation("scid-2000", "Disable SMBv1 client driver", 0)
    smb.update(
        productName=None,
        vendor=None,
        recommendationCategory="Network",
        remediationType="ConfigurationChange",
        configScoreImpact=1.5,
        exposureImpact=0,
        status="Completed",
    )
    jre = _sample_recommendation("va-_-oracle-_-jre", "Update JRE", 1)
    jre.update(remediationType="Upgrade", publicExploit=True, severityScore=9.8)
    return [chrome, reader, smb, jre]


def _sample_recommendation(rec_id, name, exposed) -> dict:
    _, vendor, product = (rec_id.split("-_-") + ["", ""])[:3]
    return {
        "id": rec_id,
        "productName": product,
        "recommendationName": name,
        "weaknesses": exposed * 4,
        "vendor": vendor,
        "recommendedVersion": "",
        "recommendationCategory": "Application",
        "subCategory": "",
        "severityScore": 7.5,
        "publicExploit": False,
        "activeAlert": False,
        "associatedThreats": [],
        "remediationType": "Update",
        "status": "Active",
        "configScoreImpact": 0,
        "exposureImpact": round(exposed * 1.3, 2),
        "totalMachineCount": 6,
        "exposedMachinesCount": exposed,
        "nonProductivityImpactedAssets": 0,
        "relatedComponent": name.removeprefix("Update "),
        "tags": [],
        "exposedCriticalDevices": 0,
    }


# --------------------------------------------------------------------------------
# Requests, replies and refusals


@dataclass
class _Request:
    method: str
    raw_path: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass
class _Reply:
    status: int
    body: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.text is not None:
            return self.text.encode()
        if self.body is None:
            return b""
        return json.dumps(self.body).encode()


class _Refusal(Exception):
    def __init__(self, reply: _Reply):
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class _Grant:
    client_id: str
    audience: str
    expires_at: dt.datetime


@dataclass
class _Script:
    method: str
    pattern: re.Pattern
    replies: deque


def _parse_request(method, raw_path, headers, body) -> _Request:
    parts = urlsplit(raw_path)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return _Request(method.upper(), raw_path, parts.path, query, headers, body)


def _defender_error(status, message, headers=None, code=None) -> _Refusal:
    body = {
        "error": {
            "code": code or _ERROR_CODES.get(status, "Error"),
            "message": message,
            "target": str(uuid.uuid4()),
        }
    }
    return _Refusal(_Reply(status, body, headers=dict(headers or {})))


def _scripted_reply(response: dict) -> _Reply:
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    if "body_text" in response:
        return _Reply(response["status"], text=response["body_text"], headers=headers)
    return _Reply(response["status"], response.get("body"), headers=headers)


def _break_json(reply: _Reply) -> _Reply:
    # The trailing comma is the fault Microsoft's own published examples show.
    text = json.dumps(reply.body, indent=4)
    return _Reply(reply.status, text=text[:-2] + ",\n}", headers=reply.headers)


# --------------------------------------------------------------------------------
# Paging and filtering


def _read_top(query: dict[str, str]) -> int | None:
    raw = query.get("$top")
    if raw is None:
        return None
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_TOP:
        raise _defender_error(
            400,
            f"Invalid $top value '{raw}': use an integer from 1 to {MAX_TOP} "
            "and page further with $skip.",
        )
    return int(raw)


def _read_skip(query: dict[str, str]) -> int:
    raw = query.get("$skip", "0")
    if not raw.strip().isdigit():
        raise _defender_error(
            400, f"Invalid $skip value '{raw}': use a whole number from 0."
        )
    return int(raw)


_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*$", re.IGNORECASE)
_COMPARE = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}
_FILTER_HELP = (
    "this server filters on status eq '<value>' and "
    "createdOn gt|ge|lt|le <ISO 8601 datetime>, joined by 'and'"
)


def _parse_filter(text: str | None) -> list[Callable[[dict], bool]]:
    if not text or not text.strip():
        return []
    clauses = re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE)
    return [_parse_clause(clause) for clause in clauses]


def _parse_clause(clause: str) -> Callable[[dict], bool]:
    match = _CLAUSE.match(clause)
    name, op, value = match.groups() if match else ("", "", "")
    name, op = name.lower(), op.lower()
    if name == "status" and op == "eq" and re.fullmatch(r"'.*'", value):
        wanted = value[1:-1].replace("''", "'")
        return lambda item: _field(item, "status") == wanted
    if name == "createdon" and op in _COMPARE:
        bound = _parse_time(value.strip("'"))
        if bound is None:
            raise _defender_error(
                400,
                f"Invalid datetime '{value}' in $filter: "
                "write it as ISO 8601, e.g. 2021-01-01T00:00:00Z.",
            )
        return lambda item: _compare_time(_field(item, "createdOn"), op, bound)
    raise _defender_error(
        400, f"Unsupported $filter clause '{clause}': {_FILTER_HELP}."
    )


def _field(item: dict, name: str) -> Any:
    lowered = name.lower()
    return next((v for k, v in item.items() if k.lower() == lowered), None)


def _compare_time(value: Any, op: str, bound: dt.datetime) -> bool:
    moment = _parse_time(value) if isinstance(value, str) else None
    return moment is not None and _COMPARE[op](moment, bound)


def _parse_time(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


# --------------------------------------------------------------------------------
# Certificates


def _issue_certificates(hosts: list[str]) -> tuple[bytes, bytes, bytes]:
    """Return the CA certificate, the server certificate and the server key (PEM)."""
    # TLS clients check validity against real time, so the injected clock is not used.
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TVM emulator CA")])
    ca_cert = (
        _certificate_base(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(_subject_key_id(ca_key), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        _certificate_base(name, ca_name, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(_subject_alt_names(hosts), critical=False)
        .add_extension(_subject_key_id(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = serialization.Encoding.PEM
    return ca_cert.public_bytes(pem), cert.public_bytes(pem), key_pem


def _certificate_base(subject, issuer, public_key, now) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not cert_sign,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _subject_key_id(key) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def _subject_alt_names(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(["localhost", "127.0.0.1", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain only reads files: the key lives on disk (mode 0600) only
    # for as long as loading takes.
    handle, path = tempfile.mkstemp(prefix="tvm-emulator-", suffix=".pem")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(cert_pem + key_pem)
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
    return context


# --------------------------------------------------------------------------------
# Files


def _write_json_atomically(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _read_tenant_file(path: Path) -> dict:
    try:
        tenant = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"Emulator tenant file {path} is not valid JSON ({error}): "
            "fix it or delete it to start from a fresh tenant."
        ) from None
    return _checked_tenant(tenant, source=str(path))


def _checked_tenant(tenant: Any, source: str = "the tenant") -> dict:
    if not isinstance(tenant, dict):
        raise ValueError(
            f"{source} must be a JSON object, not {type(tenant).__name__}."
        )
    for key in ("remediationTasks", "recommendations", "machines", "intuneTasks"):
        if not isinstance(tenant.get(key, []), list):
            raise ValueError(f"{source}: '{key}' must be a list of objects.")
    for key in ("clients", "taskMachines", "recommendationMachines"):
        if not isinstance(tenant.get(key, {}), dict):
            raise ValueError(f"{source}: '{key}' must be an object keyed by id.")
    # A JSON round trip both deep-copies and proves the data can be saved.
    return json.loads(json.dumps(tenant))


# --------------------------------------------------------------------------------
# The server


class Emulator:
    """A local HTTPS server answering Entra ID token requests and Defender API calls.

    Knobs (plain attributes, set them at any time): `page_size`, `nextlink`,
    `throttle_every`, `retry_after`, `fail_401_at`, `fail_paths`,
    `invalid_json_paths`, `delay` and `token_lifetime`; `fail_paths` and `script`
    apply to the Graph endpoints too. Every request is counted in `calls` by
    endpoint name (Graph ones as "graph POST tasks", "graph GET task", ...) and
    recorded raw in `requests`; the JSON bodies of Graph writes are kept in
    `graph_writes`. Intune tasks live in the tenant under "intuneTasks".

    Args:
        tenant: the data to serve (see `sample_tenant` for its shape); when None,
            the tenant is read from `state_path` if that file exists, otherwise
            `sample_tenant()` is served.
        clock: what token expiry is measured by; the system clock by default.
        state_path: JSON file the tenant is saved to (atomically) at construction
            when `tenant` is given, and on every `set_tenant`.
        host: address to listen on.
        port: port to listen on; 0 picks a free one.
        cert_dir: where `ca.pem` is written; a temporary directory by default.
    """

    defender_audiences: tuple[str, ...] = DEFENDER_AUDIENCES
    graph_audience: str = GRAPH_AUDIENCE

    def __init__(
        self,
        tenant: dict | None = None,
        *,
        clock=None,
        state_path: str | os.PathLike | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cert_dir: str | os.PathLike | None = None,
    ):
        self.clock = clock or SYSTEM_CLOCK
        self.state_path = Path(state_path) if state_path else None
        self.host, self.port = host, port
        self._cert_dir = Path(cert_dir) if cert_dir else None
        self._lock = threading.RLock()
        self._tenant = self._initial_tenant(tenant)
        self._init_knobs()
        self._init_records()
        self._server: _TlsServer | None = None
        self._thread: threading.Thread | None = None
        self._owned_cert_dir: Path | None = None
        self._ca_path: Path | None = None

    def _initial_tenant(self, tenant: dict | None) -> dict:
        if tenant is not None:
            tenant = _checked_tenant(tenant)
            if self.state_path:
                _write_json_atomically(self.state_path, tenant)
            return tenant
        if self.state_path and self.state_path.exists():
            return _read_tenant_file(self.state_path)
        return sample_tenant()

    def _init_knobs(self) -> None:
        self.page_size = MAX_TOP
        self.nextlink = False
        self.throttle_every: int | None = None
        self.retry_after: int | None = 7
        self.fail_401_at: int | None = None
        self.fail_paths: dict[str, int] = {}
        self.invalid_json_paths: set[str] = set()
        self.delay = 0.0
        self.token_lifetime = TOKEN_LIFETIME

    def _init_records(self) -> None:
        self.calls: Counter = Counter()
        self.requests: list[tuple[str, str]] = []
        self.graph_writes: list[tuple[str, str, Any]] = []
        self._api_calls = 0
        self._grants: dict[str, _Grant] = {}
        self._skiptokens: dict[str, int] = {}
        self._scripts: list[_Script] = []

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> Emulator:
        """Generate certificates and serve in a daemon thread.

        Returns:
            The emulator itself, so `emu = Emulator(...).start()` reads naturally.
        """
        if self._server:
            return self
        ca_pem, cert_pem, key_pem = _issue_certificates([self.host])
        self._ca_path = self._write_ca(ca_pem)
        context = _server_context(cert_pem, key_pem)
        self._server = _TlsServer((self.host, self.port), context, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="tvm-emulator",
            daemon=True,
        )
        self._thread.start()
        logger.info("Emulator serving tenant %s at %s", self.tenant_id, self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and remove a temporary CA file."""
        server = self._server
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        self._thread.join(timeout=5)
        self._server = None
        if self._owned_cert_dir:
            shutil.rmtree(self._owned_cert_dir, ignore_errors=True)
            self._owned_cert_dir = self._ca_path = None
        logger.info("Emulator for tenant %s stopped", self.tenant_id)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _write_ca(self, ca_pem: bytes) -> Path:
        directory = self._cert_dir
        if directory is None:
            directory = self._owned_cert_dir = Path(
                tempfile.mkdtemp(prefix="tvm-emulator-")
            )
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "ca.pem"
        path.write_bytes(ca_pem)
        return path

    # -- addresses ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server's root URL, e.g. `https://127.0.0.1:43125`."""
        if self._server is None:
            raise RuntimeError("The emulator is not running: call start() first.")
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"https://{host}:{self._server.server_address[1]}"

    @property
    def api_base(self) -> str:
        """Where Defender endpoints live: `{api_base}/api/...`."""
        return self.base_url

    @property
    def authority_host(self) -> str:
        """Where token endpoints live: `{authority_host}/{tenant_id}/...`."""
        return self.base_url

    @property
    def graph_base(self) -> str:
        """Where Microsoft Graph beta endpoints live: `{graph_base}/deviceApp...`."""
        return f"{self.base_url}/graph/beta"

    @property
    def ca_path(self) -> Path:
        """PEM file of the CA that signed the server certificate."""
        if self._ca_path is None:
            raise RuntimeError("The emulator is not running: call start() first.")
        return self._ca_path

    # -- tenant data --------------------------------------------------------------

    @property
    def tenant_id(self) -> str:
        """The id of the tenant served; token endpoints answer only for it."""
        return self._tenant.get("tenant_id") or SAMPLE_TENANT_ID

    @property
    def client_id(self) -> str | None:
        """The first registered client id, or None when no client is registered."""
        return next(iter(self._tenant.get("clients") or {}), None)

    @property
    def client_secret(self) -> str | None:
        """The secret of `client_id`."""
        return (self._tenant.get("clients") or {}).get(self.client_id)

    def set_tenant(self, tenant: dict) -> None:
        """Replace the served data at once, and save it when there is a state file.

        Args:
            tenant: the new tenant dict (it is copied).

        Raises:
            ValueError: the tenant is not a JSON-serialisable dict of the right shape.
        """
        tenant = _checked_tenant(tenant)
        with self._lock:
            if self.state_path:
                _write_json_atomically(self.state_path, tenant)
            self._tenant = tenant
        logger.info("Emulator now serves tenant %s", self.tenant_id)

    def tenant(self) -> dict:
        """Return a copy of the data now served."""
        return copy.deepcopy(self._tenant)

    # -- test controls ------------------------------------------------------------

    def script(
        self, path_regex: str, responses: list[dict], method: str = "GET"
    ) -> None:
        """Queue canned answers for matching requests, served in order.

        Scripts apply to API calls after the Bearer token check and before normal
        handling; once a queue is used up, matching requests are handled normally.

        Args:
            path_regex: searched in the request path (without the query string).
            responses: each `{"status": int, "headers": {...}, "body": <json>}`, or
                with `"body_text": "<raw text>"` instead of `body`.
            method: the HTTP method the script answers.

        Raises:
            ValueError: a response has no integer `status`.
        """
        for response in responses:
            if not isinstance(response.get("status"), int):
                raise ValueError(
                    f"Scripted response {response!r} needs an integer 'status'."
                )
        entry = _Script(method.upper(), re.compile(path_regex), deque(responses))
        with self._lock:
            self._scripts.append(entry)

    def fix_devices(self, recommendation_id: str, share: float) -> list[str]:
        """Play IT fixing devices: drop a share of a recommendation's exposed
        devices (at least one, the first by id) and lower its exposed count.

        Defender's own remediation activities are left as they are.

        Returns:
            The ids of the devices fixed (none when nothing is exposed).

        Raises:
            KeyError: no recommendation has this id.
            ValueError: `share` is not above 0 and at most 1.
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must be above 0 and at most 1, not {share}.")
        with self._lock:
            tenant = copy.deepcopy(self._tenant)
            found = [
                r for r in tenant["recommendations"] if r["id"] == recommendation_id
            ]
            if not found:
                raise KeyError(recommendation_id)
            exposed = tenant["recommendationMachines"].get(recommendation_id, [])
            ordered = sorted(exposed, key=lambda ref: ref["id"])
            count = min(len(ordered), max(1, math.ceil(share * len(ordered))))
            fixed = {ref["id"] for ref in ordered[:count]}
            tenant["recommendationMachines"][recommendation_id] = [
                ref for ref in exposed if ref["id"] not in fixed
            ]
            found[0]["exposedMachinesCount"] = len(exposed) - len(fixed)
            self.set_tenant(tenant)
        logger.info("Emulator fixed %d devices of %s", len(fixed), recommendation_id)
        return sorted(fixed)

    def act_on_task(
        self, task_id: str, status: str, assigned_to: str | None = None
    ) -> dict:
        """Play IT answering an Intune security task in Intune.

        Args:
            task_id: the task's Graph id.
            status: accept, reject or complete (or the Graph status itself:
                active, rejected, completed, pending).
            assigned_to: who in IT took the task, when given.

        Returns:
            A copy of the task as now stored.

        Raises:
            KeyError: no task has this id.
            ValueError: `status` is none of the above.
        """
        wanted = IT_ACTIONS.get(status, status)
        if wanted not in GRAPH_TASK_STATUSES[1:]:
            named = ", ".join([*IT_ACTIONS, *GRAPH_TASK_STATUSES[1:]])
            raise ValueError(f"status must be one of {named}, not {status!r}.")
        with self._lock:
            task = self._find_task(task_id)
            if task is None:
                raise KeyError(task_id)
            task["status"] = wanted
            if assigned_to is not None:
                task["assignedTo"] = assigned_to
            self._save_tasks()
            found = copy.deepcopy(task)
        logger.info("Emulator set Intune task %s to %s", task_id, wanted)
        return found

    def reset_counts(self) -> None:
        """Clear `calls`, `requests` and the API call sequence the knobs count on."""
        with self._lock:
            self.calls.clear()
            self.requests.clear()
            self.graph_writes.clear()
            self._api_calls = 0

    # -- request handling ---------------------------------------------------------

    def _answer(self, method, raw_path, headers, body) -> _Reply:
        request = _parse_request(method, raw_path, headers, body)
        handler, params = self._route(request)
        try:
            return handler(request, **params)
        except _Refusal as refusal:
            return refusal.reply
        except Exception as error:
            logger.exception("Emulator failed on %s %s", method, request.path)
            return _Reply(
                500, {"error": {"code": "EmulatorFault", "message": repr(error)}}
            )

    def _route(self, request: _Request) -> tuple[Callable[..., _Reply], dict]:
        path = request.path
        if match := _API_PATH.match(path):
            entity, item_id, refs = match.group("entity", "id", "refs")
            name = _canonical_entity(entity)
            if item_id:
                name += "/{id}/machineReferences" if refs else "/{id}"
            self._record(request, name)
            params = {"entity": entity.lower(), "item_id": item_id, "refs": bool(refs)}
            return self._serve_api, params
        for pattern, name, handler in (
            (_OIDC_PATH, "openid-configuration", self._serve_openid_configuration),
            (_TOKEN_PATH, "token", self._serve_token),
        ):
            if match := pattern.match(path):
                self._record(request, name)
                return handler, {"tenant": unquote(match.group("tenant"))}
        if match := _GRAPH_TASKS_PATH.match(path):
            item_id, action = match.group("id", "action")
            noun = "updateStatus" if action else ("task" if item_id else "tasks")
            self._record(request, f"graph {request.method} {noun}")
            return self._serve_graph, {"item_id": item_id, "action": bool(action)}
        if match := _CONTROL_PATH.match(path):
            self._record(request, "control")
            return self._serve_control, {"action": match.group("action")}
        self._record(request, "graph" if path.startswith("/graph/") else "unknown")
        return self._serve_not_found, {}

    def _serve_control(self, request: _Request, action: str) -> _Reply:
        secret = request.headers.get(CONTROL_HEADER) or ""
        if not secrets.compare_digest(secret, self.client_secret or ""):
            raise _defender_error(
                403,
                f"Demo controls need the {CONTROL_HEADER} header set to the "
                "client secret.",
            )
        controls = {
            "fix-devices": self._control_fix_devices,
            "task-status": self._control_task_status,
        }
        if request.method != "POST" or action not in controls:
            raise _defender_error(404, f"No demo control {request.method} {action}.")
        try:
            order = json.loads(request.body or b"{}")
            return controls[action](order)
        except (ValueError, TypeError, AttributeError) as error:
            raise _defender_error(400, str(error)) from None

    def _control_fix_devices(self, order: dict) -> _Reply:
        try:
            fixed = self.fix_devices(
                str(order["recommendationId"]), float(order.get("share", 0.5))
            )
        except KeyError as missing:
            raise _defender_error(404, f"No recommendation {missing}.") from None
        return _Reply(200, {"fixed": fixed})

    def _control_task_status(self, order: dict) -> _Reply:
        task_id = str(order.get("taskId") or "")
        try:
            task = self.act_on_task(
                task_id, str(order.get("status") or ""), order.get("assignedTo")
            )
        except KeyError:
            raise _defender_error(404, f"No Intune task '{task_id}'.") from None
        return _Reply(200, {"task": task})

    def _record(self, request: _Request, name: str) -> None:
        with self._lock:
            self.calls[name] += 1
            self.requests.append((request.method, request.raw_path))

    def _serve_not_found(self, request: _Request) -> _Reply:
        raise _defender_error(
            404, f"No endpoint at {request.path}: this server has no such resource."
        )

    # -- sign-in ------------------------------------------------------------------

    def _serve_openid_configuration(self, request: _Request, tenant: str) -> _Reply:
        self._check_tenant(tenant, request, error="invalid_tenant")
        base, tid = self.base_url, self.tenant_id
        return _Reply(
            200,
            {
                "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/{tid}/v2.0",
                "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
                "request_uri_parameter_supported": False,
            },
        )

    def _serve_token(self, request: _Request, tenant: str) -> _Reply:
        if request.method != "POST":
            raise self._entra_error(
                405,
                "invalid_request",
                900561,
                "The endpoint only accepts POST.",
                request,
            )
        self._check_tenant(tenant, request)
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        client_id = self._check_client(form, request)
        audience = self._read_audience(form.get("scope", ""), request)
        return _Reply(200, self._grant_token(client_id, audience))

    def _grant_token(self, client_id: str, audience: str) -> dict:
        token = secrets.token_urlsafe(48)
        lifetime = self.token_lifetime
        expires_at = self.clock.now() + dt.timedelta(seconds=lifetime)
        with self._lock:
            self._grants[token] = _Grant(client_id, audience, expires_at)
        logger.debug("Issued a token for client %s, audience %s", client_id, audience)
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    def _check_tenant(self, tenant, request, error="invalid_request") -> None:
        if tenant.lower() != self.tenant_id.lower():
            raise self._entra_error(
                400,
                error,
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the "
                "correct tenant ID and are signing into the correct cloud.",
                request,
            )

    def _check_client(self, form: dict[str, str], request: _Request) -> str:
        grant_type = form.get("grant_type", "")
        if grant_type != "client_credentials":
            raise self._entra_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
                request,
            )
        client_id = form.get("client_id", "")
        clients = self._tenant.get("clients") or {}
        if client_id not in clients:
            raise self._entra_error(
                401,
                "invalid_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the "
                f"directory '{self.tenant_id}'. You may have sent your "
                "authentication request to the wrong tenant.",
                request,
            )
        if not secrets.compare_digest(
            form.get("client_secret", ""), clients[client_id]
        ):
            raise self._entra_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the "
                "request is the client secret value, not the client secret ID, for a "
                f"secret added to app '{client_id}'.",
                request,
            )
        return client_id

    def _read_audience(self, scope: str, request: _Request) -> str:
        resources = [s for s in scope.split() if s not in _RESERVED_SCOPES]
        if len(resources) != 1 or not resources[0].endswith("/.default"):
            raise self._entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope '{scope}' is not valid. Client "
                "credential flows must have a scope value with /.default suffixed "
                "to the resource identifier (application ID URI).",
                request,
            )
        return resources[0].removesuffix("/.default").rstrip("/")

    def _entra_error(self, status, error, code, message, request) -> _Refusal:
        stamp = self.clock.now().strftime("%Y-%m-%d %H:%M:%SZ")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        correlation = request.headers.get("client-request-id") or correlation
        description = (
            f"AADSTS{code}: {message} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {stamp}"
        )
        body = {
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
        }
        return _Refusal(_Reply(status, body))

    # -- Defender API -------------------------------------------------------------

    def _serve_api(self, request: _Request, entity, item_id, refs) -> _Reply:
        with self._lock:
            self._api_calls += 1
            number = self._api_calls
        if self.delay:
            time.sleep(self.delay)
        self._check_bearer(request, self.defender_audiences)
        self._apply_faults(request, number, entity)
        if scripted := self._next_scripted(request):
            return scripted
        if request.method != "GET":
            raise _defender_error(405, f"{request.method} is not allowed here.")

        reply = self._serve_entity(request, entity, unquote(item_id or ""), refs)
        if self._matches(self.invalid_json_paths, request.path):
            return _break_json(reply)
        return reply

    def _check_bearer(self, request: _Request, audiences) -> None:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _defender_error(
                401, "Authorization header with a Bearer access token is required."
            )
        with self._lock:
            grant = self._grants.get(token.strip())
        if grant is None:
            raise _defender_error(401, "The access token is not valid or was revoked.")
        if self.clock.now() >= grant.expires_at:
            raise _defender_error(401, "The access token has expired.")
        if grant.audience not in audiences:
            raise _defender_error(
                401,
                f"The access token's audience '{grant.audience}' is wrong for this "
                f"API: request a token for {' or '.join(audiences)}.",
            )

    def _apply_faults(
        self, request: _Request, number: int, entity: str, error=None
    ) -> None:
        error = error or _defender_error
        if self.fail_401_at == number:
            with self._lock:
                self._grants.pop(request.headers["Authorization"].split()[1], None)
            raise error(401, "The access token was revoked.")
        if self.throttle_every and number % self.throttle_every == 0:
            headers = {}
            if self.retry_after is not None:
                headers["Retry-After"] = str(self.retry_after)
            raise error(429, _QUOTA_MESSAGE, headers)
        for pattern, status in dict(self.fail_paths).items():
            if re.search(pattern, request.path):
                headers = {}
                if status == 429 and self.retry_after is not None:
                    headers["Retry-After"] = str(self.retry_after)
                raise error(status, _fault_message(status, entity), headers)

    def _next_scripted(self, request: _Request) -> _Reply | None:
        with self._lock:
            for entry in self._scripts:
                if (
                    entry.replies
                    and entry.method == request.method
                    and entry.pattern.search(request.path)
                ):
                    return _scripted_reply(entry.replies.popleft())
        return None

    @staticmethod
    def _matches(patterns, path: str) -> bool:
        return any(re.search(pattern, path) for pattern in set(patterns))

    def _serve_entity(self, request, entity, item_id, refs) -> _Reply:
        entity_set, refs_key, noun = _ENTITIES[entity]
        tenant = self._tenant
        items = tenant.get(_canonical_entity(entity)) or []
        if not item_id:
            return self._serve_collection(request, items, entity_set)

        item = next((i for i in items if str(i.get("id")) == item_id), None)
        if item is None:
            raise _defender_error(404, f"No {noun} with id '{item_id}' was found.")
        if refs:
            machines = (tenant.get(refs_key) or {}).get(item_id) or []
            return self._serve_collection(request, machines, "MachineReferences")
        context = f"{self.base_url}/api/$metadata#{entity_set}/$entity"
        return _Reply(200, {"@odata.context": context, **item})

    def _serve_collection(self, request, items, entity_set) -> _Reply:
        predicates = _parse_filter(request.query.get("$filter"))
        items = [i for i in items if all(p(i) for p in predicates)]
        offset = self._read_offset(request.query)
        size = min(_read_top(request.query) or MAX_TOP, max(1, int(self.page_size)))
        page = items[offset : offset + size]

        body = {"@odata.context": f"{self.base_url}/api/$metadata#{entity_set}"}
        body["value"] = page
        if self.nextlink and len(page) == size and offset + size < len(items):
            body["@odata.nextLink"] = self._next_link(request, offset + size)
        return _Reply(200, body)

    def _read_offset(self, query: dict[str, str]) -> int:
        token = query.get("$skiptoken")
        if token is None:
            return _read_skip(query)
        if "$skip" in query:
            raise _defender_error(400, "Use either $skip or $skiptoken, not both.")
        with self._lock:
            offset = self._skiptokens.get(token)
        if offset is None:
            raise _defender_error(
                400,
                f"Unknown $skiptoken '{token}': follow @odata.nextLink exactly "
                "as the previous page gave it.",
            )
        return offset

    def _next_link(self, request: _Request, offset: int) -> str:
        nonce = secrets.token_hex(6)
        raw = json.dumps({"offset": offset, "nonce": nonce}).encode()
        token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        with self._lock:
            self._skiptokens[token] = offset
        pairs = [
            (k, v) for k, v in request.query.items() if k not in ("$skip", "$skiptoken")
        ]
        query = urlencode([*pairs, ("$skiptoken", token)], quote_via=quote, safe="$'")
        return f"{self.base_url}{request.path}?{query}"

    # -- Microsoft Graph: Intune security tasks -----------------------------------

    def _serve_graph(self, request: _Request, item_id, action: bool) -> _Reply:
        with self._lock:
            self._api_calls += 1
            number = self._api_calls
        if self.delay:
            time.sleep(self.delay)
        try:
            self._check_bearer(request, (self.graph_audience,))
        except _Refusal as refusal:
            raise _as_graph_refusal(refusal) from None
        self._apply_faults(request, number, "deviceappmanagement", _graph_error)
        if scripted := self._next_scripted(request):
            return scripted
        task_id = unquote(item_id or "")
        if action:
            reply = self._graph_update_status(request, task_id)
        elif not task_id:
            reply = self._graph_collection(request)
        else:
            reply = self._graph_item(request, task_id)
        # The change is made; only the answer is broken (as a proxy might).
        if self._matches(self.invalid_json_paths, request.path):
            return _break_json(reply)
        return reply

    def _graph_collection(self, request: _Request) -> _Reply:
        if request.method == "POST":
            return self._graph_create(request)
        if request.method != "GET":
            raise _graph_error(405, f"{request.method} is not allowed here.")
        top = _read_graph_top(request.query)
        with self._lock:
            tasks = copy.deepcopy(self._tenant.get("intuneTasks") or [])
        context = f"{self.graph_base}/$metadata#deviceAppManagement/"
        body = {"@odata.context": context + "deviceAppManagementTasks"}
        body["value"] = tasks[:top] if top is not None else tasks
        return _Reply(200, body)

    def _graph_item(self, request: _Request, task_id: str) -> _Reply:
        if request.method not in ("GET", "PATCH"):
            raise _graph_error(405, f"{request.method} is not allowed here.")
        with self._lock:
            task = self._find_task(task_id)
            if task is None:
                raise _graph_error(404, f"No deviceAppManagementTask '{task_id}'.")
            if request.method == "GET":
                context = f"{self.graph_base}/$metadata#deviceAppManagement/"
                context += "deviceAppManagementTasks/$entity"
                return _Reply(200, {"@odata.context": context, **task})
            changes = _graph_json(request)
            self.graph_writes.append(("PATCH", request.path, changes))
            _check_task_fields(changes, task["@odata.type"], creating=False)
            task.update(changes)
            self._save_tasks()
        return _Reply(204)

    def _graph_create(self, request: _Request) -> _Reply:
        body = _graph_json(request)
        with self._lock:
            self.graph_writes.append(("POST", request.path, body))
        kind = body.get("@odata.type")
        if kind not in GRAPH_TASK_TYPES:
            named = " or ".join(GRAPH_TASK_TYPES)
            raise _graph_error(400, f"@odata.type must be {named}, not {kind!r}.")
        _check_task_fields(body, kind, creating=True)
        task = {
            "@odata.type": kind,
            "id": str(uuid.uuid4()),
            "createdDateTime": self.clock.now().isoformat().replace("+00:00", "Z"),
            **{k: v for k, v in body.items() if k != "@odata.type"},
            "status": "pending",
        }
        with self._lock:
            self._tenant.setdefault("intuneTasks", []).append(task)
            self._save_tasks()
        context = f"{self.graph_base}/$metadata#deviceAppManagement/"
        context += "deviceAppManagementTasks/$entity"
        logger.info("Emulator created Intune task %s", task["id"])
        return _Reply(201, {"@odata.context": context, **task})

    def _graph_update_status(self, request: _Request, task_id: str) -> _Reply:
        if request.method != "POST":
            raise _graph_error(405, f"{request.method} is not allowed here.")
        body = _graph_json(request)
        with self._lock:
            self.graph_writes.append(("POST", request.path, body))
            task = self._find_task(task_id)
            if task is None:
                raise _graph_error(404, f"No deviceAppManagementTask '{task_id}'.")
            unknown = sorted(set(body) - {"status", "note"})
            if unknown:
                raise _graph_error(400, f"Unknown parameter {unknown[0]!r}.")
            _check_choice("status", body.get("status"))
            if not isinstance(body.get("note", ""), str | None):
                raise _graph_error(400, "The parameter 'note' must be a string.")
            task["status"] = body["status"]
            self._save_tasks()
        return _Reply(204)

    def _find_task(self, task_id: str) -> dict | None:
        tasks = self._tenant.get("intuneTasks") or []
        return next((t for t in tasks if str(t.get("id")) == task_id), None)

    def _save_tasks(self) -> None:
        # Called with the lock held; tasks persist in the state file like the rest.
        if self.state_path:
            _write_json_atomically(self.state_path, self._tenant)


def _graph_error(status, message, headers=None) -> _Refusal:
    body = {
        "error": {
            "code": _ERROR_CODES.get(status, "Error"),
            "message": message,
            "innerError": {
                "request-id": str(uuid.uuid4()),
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            },
        }
    }
    return _Refusal(_Reply(status, body, headers=dict(headers or {})))


def _as_graph_refusal(refusal: _Refusal) -> _Refusal:
    error = (refusal.reply.body or {}).get("error") or {}
    return _graph_error(
        refusal.reply.status, error.get("message", ""), refusal.reply.headers
    )


def _graph_json(request: _Request) -> dict:
    try:
        body = json.loads(request.body or b"")
    except ValueError:
        raise _graph_error(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _graph_error(400, "The request body must be a JSON object.")
    return body


def _read_graph_top(query: dict[str, str]) -> int | None:
    raw = query.get("$top")
    if raw is None:
        return None
    if not raw.strip().isdigit() or int(raw) < 1:
        raise _graph_error(400, f"Invalid $top value '{raw}': use a positive integer.")
    return int(raw)


def _check_task_fields(body: dict, kind: str, creating: bool) -> None:
    known = {*_GRAPH_TASK_FIELDS, *GRAPH_TASK_TYPES[kind], "@odata.type"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise _graph_error(
            400, f"Property '{unknown[0]}' does not exist on type '{kind[1:]}'."
        )
    if body.get("@odata.type", kind) != kind:
        raise _graph_error(400, "The @odata.type of a task cannot change.")
    required = ("displayName", "dueDateTime", "priority", "status")
    for name in required if creating else ():
        if body.get(name) in (None, ""):
            raise _graph_error(400, f"The property '{name}' is required.")
    if "displayName" in body and not isinstance(body["displayName"], str):
        raise _graph_error(400, "The property 'displayName' must be a string.")
    if "dueDateTime" in body and not (
        isinstance(body["dueDateTime"], str) and _parse_time(body["dueDateTime"])
    ):
        raise _graph_error(
            400, f"Cannot convert {body['dueDateTime']!r} to Edm.DateTimeOffset."
        )
    count = body.get("managedDeviceCount", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise _graph_error(400, "managedDeviceCount must be a whole number from 0.")
    for name in _GRAPH_CHOICES:
        if name in body:
            _check_choice(name, body[name])


def _check_choice(name: str, value) -> None:
    choices = _GRAPH_CHOICES[name]
    if value not in choices:
        raise _graph_error(
            400,
            f"The value {value!r} is not valid for '{name}': use one of "
            f"{', '.join(choices)}.",
        )


def _canonical_entity(entity: str) -> str:
    return {
        "remediationtasks": "remediationTasks",
        "recommendations": "recommendations",
        "machines": "machines",
    }[entity.lower()]


def _fault_message(status: int, entity: str) -> str:
    if status == 403:
        return f"Missing application roles. API required roles: {_PERMISSIONS[entity]}."
    if status == 404:
        return "The requested resource was not found."
    return f"The service answered {status} ({_ERROR_CODES.get(status, 'Error')})."


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tvm-emulator"
    sys_version = ""
    timeout = _IO_TIMEOUT

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        reply = self.server.emulator._answer(
            self.command, self.path, self.headers, body
        )
        data = reply.encode()
        self.send_response(reply.status)
        headers = {k.lower(): v for k, v in reply.headers.items()}
        if data and "content-type" not in headers:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in reply.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args) -> None:
        # The request line carries no secrets: those travel in headers and bodies.
        logger.debug("%s %s", self.address_string(), format % args)


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, context: ssl.SSLContext, emulator: Emulator):
        self.ssl_context = context
        self.emulator = emulator
        self._connections: set[ssl.SSLSocket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address) -> None:
        # The handshake runs here, in the connection's own thread, so a client that
        # stalls mid-handshake cannot hold up the accept loop.
        request.settimeout(_IO_TIMEOUT)
        # Headers and body go out in separate writes; without this, Nagle's
        # algorithm and delayed ACKs add 40 ms to every answer.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            connection = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as error:
            logger.debug("TLS handshake with %s failed: %s", client_address, error)
            return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            super().finish_request(connection, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            connection.close()

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        logger.debug("Connection from %s failed", client_address, exc_info=True)


# --------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGTERM or SIGINT (`python -m tvmdata emulator`).

    Args:
        argv: the command-line arguments after `emulator`.

    Returns:
        The process exit code: 0 after a clean stop, 2 for a bad tenant or state.
    """
    args = _parse_args(argv)
    try:
        emulator = _build_emulator(args)
        emulator.start()
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    info = Path(args.info) if args.info else None
    try:
        if info:
            _write_json_atomically(info, process_info(emulator))
        print(
            f"Emulator serving tenant {emulator.tenant_id} at {emulator.base_url}; "
            f"CA file: {emulator.ca_path}; client id: {emulator.client_id}",
            flush=True,
        )
        _wait_for_signal()
    finally:
        emulator.stop()
        if info:
            info.unlink(missing_ok=True)
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tvmdata emulator",
        description="Serve a tenant over the Defender API and Entra token protocol.",
    )
    parser.add_argument(
        "--state",
        help="tenant JSON file, loaded at start and saved on change "
        "(without --state and --tenant: a small sample tenant)",
    )
    parser.add_argument(
        "--tenant", help="tenant JSON file to start from when --state does not exist"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cert-dir", help="directory to write ca.pem to")
    parser.add_argument("--info", help="JSON file telling other processes the address")
    return parser.parse_args(argv)


def _build_emulator(args: argparse.Namespace) -> Emulator:
    state = Path(args.state) if args.state else None
    tenant = None
    if args.tenant and not (state and state.exists()):
        tenant = _read_tenant_file(Path(args.tenant))
    elif state is None:
        tenant = sample_tenant()
    elif not state.exists():
        raise ValueError(
            f"State file {state} does not exist: pass --tenant FILE to start "
            "from a tenant, or leave out --state to serve the sample tenant."
        )
    return Emulator(
        tenant,
        state_path=state,
        host=args.host,
        port=args.port,
        cert_dir=args.cert_dir,
    )


def process_info(emulator: Emulator) -> dict:
    """What other processes need to reach this emulator: address, CA file,
    credentials and this process id (the demo writes it to its info file)."""
    return {
        "base_url": emulator.base_url,
        "ca_path": str(emulator.ca_path),
        "tenant_id": emulator.tenant_id,
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "pid": os.getpid(),
    }


def _wait_for_signal() -> None:
    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        logger.info("Emulator stopping on signal %s", signum)
        stopping.set()

    previous = {
        signum: signal.signal(signum, on_signal)
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
