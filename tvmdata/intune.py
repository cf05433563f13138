"""Intune security tasks through Microsoft Graph, for requests filed here.

When the Intune connection is on (Settings), a request filed from this
dashboard can also become an Intune *security task*: IT sees it in Intune and
accepts, rejects or completes it. Graph calls go through an outbox in the
database: filing a request queues the create in the same transaction, and
`deliver_outbox` sends queued calls right after the submit, after each sync and
from the page's Retry button. A call leaves the outbox only in the transaction
that records its success, so Graph being down loses nothing. Each sync then
reads IT's answer back (`read_back_tasks`).

Graph facts this relies on: `POST /deviceAppManagement/deviceAppManagementTasks`
with `@odata.type` appVulnerabilityTask (software) or securityConfigurationTask
(settings), `GET`/`PATCH` by id, `POST /{id}/updateStatus`; statuses pending,
active, completed, rejected; priorities none, high, low; the body carries a
device count (`managedDeviceCount`), not a device list.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlsplit

import duckdb

from tvmdata import access, audit, labels, opsettings, store
from tvmdata.auth import TokenProvider, make_session
from tvmdata.client import ApiClient, NotFound
from tvmdata.clock import SYSTEM_CLOCK
from tvmdata.errors import (
    ApiError,
    AuthError,
    InvalidResponse,
    PermissionMissing,
    QuotaExhausted,
    TlsError,
    TvmError,
)

log = logging.getLogger(__name__)

TASKS_PATH = "/deviceAppManagement/deviceAppManagementTasks"
APP_TASK = "#microsoft.graph.appVulnerabilityTask"
CONFIG_TASK = "#microsoft.graph.securityConfigurationTask"
PERMISSION = "DeviceManagementApps.ReadWrite.All"

INTUNE_DEVICE_LIMIT = 10_000
"""Intune takes at most this many devices per task; a larger request sends this."""

PRIORITY_MAP = {"High": "high", "Medium": "low", "Low": "low"}
"""Dashboard priority → Intune priority. Intune has only high and low (and
none); Medium goes to low so that "high" keeps meaning what the requester
chose as High. The original priority is written in the task's notes."""

PRIORITY_NOTE = (
    "Intune has only high and low priority: High is sent as high, Medium and Low "
    "as low, and the task's notes say the priority chosen here."
)

CANCEL_STATUS = "rejected"
"""The status a cancelled request's task is closed with. Graph has no cancelled
status; "completed" would tell IT (and our read-back) the work was done, while
"rejected" only closes the task. The note sent with it says the requester
withdrew it and no action is needed."""

# The due date is a calendar day in UTC and an activity is overdue only the day
# after it, so the task is due at the last second of that UTC day.
DUE_TIME = "T23:59:59Z"

STATUS_LABELS = labels.TICKET_STATUSES
NOT_SENT_LABEL = labels.TICKET_NOT_SENT
SENDING_LABEL = labels.TICKET_SENDING
CANCELLED_LABEL = labels.TICKET_CANCELLED

_MITIGATION = {"Update": "update", "Upgrade": "update", "Uninstall": "uninstall"}
_ATTENTION_REQUIRED = "AttentionRequired"
# A delivery that never finished (a crash, a killed page) keeps its claim on a
# queued call this long before another delivery may take it over.
CLAIM_LEASE = timedelta(minutes=10)
# How long to wait after a 429 that named no Retry-After.
_DEFAULT_WAIT_SECONDS = 60
_MAX_LIST_PAGES = 50
_QUEUED = "it stays queued and is sent again at the next sync or on Retry"
_READ_AGAIN = (
    "the Defender data of this sync is kept and the tasks are read again at the "
    "next sync"
)


class IntuneError(TvmError):
    """A Graph call about Intune tasks failed; the message says what to do."""


@dataclass
class OutboxResult:
    """What one delivery did.

    `errors` maps activity id to the one-sentence reason its call is still
    queued; `off` is True when the Intune connection is off (nothing sent).
    """

    sent: int = 0
    failed: int = 0
    waiting: int = 0
    errors: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)
    off: bool = False


@dataclass
class ReadBackResult:
    """What one read-back did: tasks read, tasks whose status or assignee
    changed, and the Graph calls made."""

    read: int = 0
    changed: int = 0
    calls: dict = field(default_factory=dict)
    off: bool = False


@dataclass
class GraphStep:
    """The Graph step of a sync run: outcome None (connection off), succeeded
    or failed, the reason, and the Graph calls made."""

    outcome: str | None = None
    error: str | None = None
    calls: dict = field(default_factory=dict)


class GraphClient(ApiClient):
    """`ApiClient` for Microsoft Graph, counting calls as "POST tasks",
    "GET task", "PATCH task", "POST updateStatus" and "GET tasks"."""

    def _endpoint(self, method: str, url: str) -> str:
        path = urlsplit(url).path
        if path.endswith("/updateStatus"):
            return f"{method} updateStatus"
        tail = path.rstrip("/").rsplit("/", 1)[-1]
        return f"{method} {'tasks' if tail == 'deviceAppManagementTasks' else 'task'}"


def connect_graph(settings, clock=SYSTEM_CLOCK, session=None) -> GraphClient:
    """Build a Graph client from settings, with its own MSAL token provider."""
    session = session or make_session(settings)
    tokens = TokenProvider(settings, settings.graph_scope, session)
    return GraphClient(settings.graph_base, tokens, settings, session, clock)


# The task model


def devices_sent(target_devices: int | None) -> int:
    """The device count sent to Intune: the target devices, at most 10,000."""
    return min(int(target_devices or 0), INTUNE_DEVICE_LIMIT)


def device_limit_note(target_devices: int | None) -> str | None:
    """The sentence the form shows before submitting when Intune gets fewer
    devices than the request covers; None when all of them fit."""
    count = int(target_devices or 0)
    if count <= INTUNE_DEVICE_LIMIT:
        return None
    return (
        f"This request covers {count:,} devices; Intune takes at most "
        f"{INTUNE_DEVICE_LIMIT:,}, so its task counts {INTUNE_DEVICE_LIMIT:,}."
    )


def can_have_task(remediation_type: str | None) -> bool:
    """False for attention required, which gives IT nothing to do."""
    return bool(remediation_type) and remediation_type != _ATTENTION_REQUIRED


def task_body(activity: dict, request: dict) -> dict:
    """The Graph create body of an activity's Intune task.

    Args:
        activity: the activity (activity_id, title, description,
            remediation_type, recommended_program, recommended_vendor,
            recommended_version, target_devices).
        request: the request filed here (priority, due_on, notes,
            requested_by).

    Raises:
        IntuneError: the activity is attention required (no task for it).
    """
    kind = activity["remediation_type"]
    if not can_have_task(kind):
        raise IntuneError(
            f"The activity {activity['activity_id']} is attention required, which "
            "gives IT nothing to do: no Intune task is created for it."
        )
    body = {
        "@odata.type": CONFIG_TASK if kind == "ConfigurationChange" else APP_TASK,
        "displayName": activity["title"],
        "description": activity.get("description") or activity["title"],
        "dueDateTime": _due_date_time(request["due_on"]),
        "category": "advancedThreatProtection",
        "priority": PRIORITY_MAP[request["priority"]],
        "status": "pending",
        "creator": request["requested_by"],
        "creatorNotes": _creator_notes(activity["activity_id"], request),
        "managedDeviceCount": devices_sent(activity.get("target_devices")),
    }
    if body["@odata.type"] == APP_TASK:
        body["mitigationType"] = _MITIGATION[kind]
        for name, key in (
            ("appName", "recommended_program"),
            ("appPublisher", "recommended_vendor"),
            ("appVersion", "recommended_version"),
        ):
            if activity.get(key):
                body[name] = activity[key]
    return body


def parse_task(body: dict) -> dict:
    """Read a Graph task (as GET, POST or a list's `value` gives it).

    Returns:
        task_id, kind ("appVulnerabilityTask" or "securityConfigurationTask",
        None when absent), status, assigned_to, display_name, priority,
        due (datetime or None), created (datetime or None), devices
        (managedDeviceCount or None) and creator_notes.

    Raises:
        InvalidResponse: not an object with a string id and status.
    """
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise InvalidResponse(
            "Microsoft Graph answered an Intune task without an id: the API "
            "changed shape or TVM_GRAPH_BASE is not Microsoft Graph."
        )
    if not isinstance(body.get("status"), str):
        raise InvalidResponse(
            f"Microsoft Graph answered the Intune task {body['id']} without a "
            "status: the API changed shape or TVM_GRAPH_BASE is not Graph."
        )
    kind = body.get("@odata.type")
    return {
        "task_id": body["id"],
        "kind": kind.rsplit(".", 1)[-1] if isinstance(kind, str) else None,
        "status": body["status"],
        "assigned_to": body.get("assignedTo") or None,
        "display_name": body.get("displayName"),
        "priority": body.get("priority"),
        "due": _moment(body.get("dueDateTime")),
        "created": _moment(body.get("createdDateTime")),
        "devices": body.get("managedDeviceCount"),
        "creator_notes": body.get("creatorNotes"),
    }


def _due_date_time(due_on) -> str:
    if isinstance(due_on, str):
        due_on = date.fromisoformat(due_on[:10])
    return due_on.isoformat() + DUE_TIME


def _creator_notes(activity_id: str, request: dict) -> str:
    lines = [request["notes"]] if request.get("notes") else []
    lines.append(f"Priority in the dashboard: {request['priority']}")
    lines.append(_marker(activity_id))
    return "\n".join(lines)


def _marker(activity_id: str) -> str:
    # Lets a create whose answer was lost be found again (see `_find_created`).
    return f"Remediation activity: {activity_id}"


def _moment(text) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# Queueing, inside the transaction of the request's own change


def intune_enabled(con) -> bool:
    """The Intune connection setting, read on an open connection."""
    row = con.execute(store.sql("get_setting"), {"key": opsettings.INTUNE_KEY})
    found = row.fetchone()
    return bool(found and found[0] and json.loads(found[0]))


def request_errors(con, remediation_type: str) -> dict[str, str]:
    """Why an Intune task cannot be asked for (field "intune"); empty if it can."""
    if not can_have_task(remediation_type):
        return {
            "intune": "Attention required gives IT nothing to do, so it gets no "
            "Intune task: clear the Intune task box or choose another "
            "remediation type."
        }
    if not intune_enabled(con):
        return {
            "intune": "The Intune connection is off: turn it on on the Settings "
            "page, or clear the Intune task box."
        }
    return {}


def queue_task(con, activity_id: str, when: datetime) -> None:
    """Queue the create of an activity's Intune task on `con`, in the caller's
    transaction (the one filing the request)."""
    row = _activity_row(con, activity_id)
    body = task_body(row, row)
    store.run_script(
        con,
        "intune_queue_create",
        {
            "activity_id": activity_id,
            "kind": body["@odata.type"].rsplit(".", 1)[-1],
            "devices_sent": body["managedDeviceCount"],
            "payload": json.dumps(body),
            "now": when,
        },
    )


def queue_edit(con, activity_id: str, when: datetime) -> bool:
    """After an edit on `con` (same transaction): queue a PATCH of the due date,
    priority and notes, or rewrite the create not sent yet. False when the
    activity has no task."""
    row = _activity_row(con, activity_id)
    if row is None or not _has_task_row(con, activity_id):
        return False
    body = task_body(row, row)
    if row["task_id"] is None:
        params = {"activity_id": activity_id, "payload": json.dumps(body)}
        store.run_script(con, "intune_rewrite_create", params)
        return True
    changes = {k: body[k] for k in ("dueDateTime", "priority", "creatorNotes")}
    _queue_call(con, activity_id, "patch", changes, when)
    return True


def queue_cancel(con, activity_id: str, cancelled_by: str, when: datetime) -> bool:
    """After a cancel on `con` (same transaction): close the task in Intune
    with status `CANCEL_STATUS` and a note, or drop a create not sent yet.
    False when the activity has no task."""
    row = _activity_row(con, activity_id)
    if row is None or not _has_task_row(con, activity_id):
        return False
    if row["task_id"] is None:
        # Known gap: a create in doubt (sent, answer lost) may have made a task
        # that now stays open in Intune; its notes name the activity for IT.
        store.run_script(con, "intune_withdraw", {"activity_id": activity_id})
        return False
    note = (
        f"Cancelled by {cancelled_by} in the remediation dashboard on "
        f"{when.astimezone(UTC):%d %b %Y}: no action is needed."
    )
    payload = {"status": CANCEL_STATUS, "note": note}
    _queue_call(con, activity_id, "status", payload, when)
    return True


def _activity_row(con, activity_id: str) -> dict | None:
    rows = store.fetch_dicts(con, "intune_activity", {"activity_id": activity_id})
    return rows[0] if rows else None


def _has_task_row(con, activity_id: str) -> bool:
    found = con.execute(
        "select count(*) from intune_tasks where activity_id = ?", [activity_id]
    ).fetchone()[0]
    return bool(found)


def _queue_call(con, activity_id, operation, payload, when) -> None:
    params = {
        "activity_id": activity_id,
        "operation": operation,
        "payload": json.dumps(payload),
        "now": when,
    }
    store.run_script(con, "intune_queue_call", params)


# Delivery


def deliver_outbox(
    settings, *, clock=SYSTEM_CLOCK, client=None, activity_id: str | None = None
) -> OutboxResult:
    """Send the queued Graph calls (all, or one activity's) to Intune.

    A create is sent only while its task has no id, and its id is saved in the
    transaction that clears it from the outbox. Calls that fail stay queued with
    a one-sentence reason; a 429 also holds them for its Retry-After. Nothing is
    sent while the Intune connection is off.

    Args:
        settings: deployment settings (Graph host and scope, database).
        clock: time for the outbox records and the client's waits.
        client: a `GraphClient` to use instead of one built from settings.
        activity_id: only this activity's calls.

    Raises:
        DatabaseLocked, StoreError: the database could not be used.
    """
    result = OutboxResult()
    if not opsettings.load_operational(settings).intune_enabled:
        result.off = True
        return result
    started = time.monotonic()
    with store.open_store(settings) as con:
        rows = store.fetch_dicts(con, "intune_pending", {"activity_id": activity_id})
    client = client or connect_graph(settings, clock)
    stopped = None
    for row in rows:
        if stopped or not _ready(row, clock.now()):
            result.waiting += 1
            if stopped:
                result.errors.setdefault(row["activity_id"], stopped)
            continue
        stopped = _deliver_one(settings, client, row, clock, result)
    result.calls = dict(client.calls_by_endpoint)
    log.info(
        "intune outbox: %d sent, %d failed, %d waiting in %.2f s",
        result.sent,
        result.failed,
        result.waiting,
        time.monotonic() - started,
    )
    return result


def retry(settings, activity_id: str, *, clock=SYSTEM_CLOCK, client=None, by=None):
    """Send one activity's queued calls now (the page's Retry button).

    Args:
        by: the user pressing Retry; an `access.Actor` needs the requester role.

    Returns:
        The `OutboxResult`; `errors` holds the reason if it failed again.

    Raises:
        AccessRefused: `by` may not send requests' tasks.
    """
    if by is not None:
        access.require(access.as_actor(by), "request", "send Intune tasks")
    return deliver_outbox(settings, clock=clock, client=client, activity_id=activity_id)


def _ready(row: dict, now: datetime) -> bool:
    waiting_for_create = row["operation"] != "create" and row["task_id"] is None
    held = row["not_before"] is not None and row["not_before"] > now
    return not (waiting_for_create or held)


def _deliver_one(settings, client, row, clock, result) -> str | None:
    """Send one queued call; return the reason when the rest should wait too."""
    activity_id, operation = row["activity_id"], row["operation"]
    claim = _claim(settings, row, clock.now())
    if claim is None:
        result.waiting += 1
        return None
    payload = json.loads(row["payload"])
    try:
        answer = _send(client, row, payload, in_doubt=claim)
    except NotFound:
        if operation == "create":
            return _fail(settings, row, IntuneError(_not_found_create()), clock, result)
        _finish(settings, row, "deleted", clock.now())
        result.failed += 1
        result.errors[activity_id] = _deleted_message()
        return None
    except TvmError as exc:
        return _fail(settings, row, exc, clock, result)
    if operation == "create":
        _record_created(settings, activity_id, answer, clock.now())
    else:
        status = payload["status"] if operation == "status" else None
        _finish(settings, row, status, clock.now())
    result.sent += 1
    return None


def _claim(settings, row, now) -> bool | None:
    """Mark a queued call as being sent; None when another delivery holds it.
    Returns whether a create is in doubt (an earlier send may have landed)."""
    params = {
        "activity_id": row["activity_id"],
        "operation": row["operation"],
        "now": now,
        "stale_before": now - CLAIM_LEASE,
    }
    try:
        with store.open_store(settings) as con:
            with store.transaction(con):
                claimed = store.fetch_dicts(con, "intune_claim", params)
                if claimed and row["operation"] == "create":
                    # A task id saved meanwhile means the create already landed.
                    if _task_id(con, row["activity_id"]) is not None:
                        _drop_create(con, row["activity_id"])
                        return None
    except duckdb.TransactionException:
        return None
    return bool(claimed[0]["in_doubt"]) if claimed else None


def _task_id(con, activity_id: str) -> str | None:
    found = con.execute(
        "select task_id from intune_tasks where activity_id = ?", [activity_id]
    ).fetchone()
    return found[0] if found else None


def _drop_create(con, activity_id: str) -> None:
    con.execute(
        "delete from intune_outbox where activity_id = ? and operation = 'create'",
        [activity_id],
    )


def _send(client, row, payload, in_doubt: bool) -> dict:
    operation, task_id = row["operation"], row["task_id"]
    if operation == "create":
        if in_doubt:
            found = _find_created(client, row["activity_id"])
            if found is not None:
                return found
        return client.request("POST", TASKS_PATH, retry=False, json=payload)
    path = f"{TASKS_PATH}/{quote(task_id, safe='')}"
    if operation == "patch":
        return client.request("PATCH", path, retry=False, json=payload)
    return client.request("POST", f"{path}/updateStatus", retry=False, json=payload)


def _find_created(client, activity_id: str) -> dict | None:
    """The task an earlier create made, found by the marker in its notes.

    Graph takes no idempotency key for this entity, so a create whose answer
    was lost (timeout, 5xx after storing, a crash before saving the id) is
    looked for before it is sent again. Remaining risk: if IT edited the notes
    and removed the marker, a second task is created.
    """
    marker = _marker(activity_id)
    url, pages = TASKS_PATH, 0
    while url and pages < _MAX_LIST_PAGES:
        body = client.request("GET", url, retry=False)
        for task in body.get("value") or []:
            if isinstance(task, dict) and marker in str(task.get("creatorNotes")):
                return task
        url, pages = body.get("@odata.nextLink"), pages + 1
    return None


def _record_created(settings, activity_id: str, answer: dict, now) -> None:
    task = parse_task(answer)
    params = {
        "activity_id": activity_id,
        "task_id": task["task_id"],
        "status": task["status"],
        "assigned_to": task["assigned_to"],
        "now": now,
    }
    # If this write fails after Intune created the task, the outbox row keeps
    # its claim; the next delivery finds the task by its marker (in doubt).
    with store.open_store(settings) as con:
        with store.transaction(con):
            store.run_script(con, "intune_created", params)
            audit.record(
                con,
                actor=_requester_of(con, activity_id),
                action="Intune task created",
                object_id=activity_id,
                when=now,
                after={"task_id": task["task_id"], "status": task["status"]},
            )
    log.info("intune task %s created for %s", task["task_id"], activity_id)


def _requester_of(con, activity_id: str) -> str:
    """Who the task was created for: the request's requester."""
    found = store.fetch_dicts(con, "request_requester", {"activity_id": activity_id})
    return found[0]["requested_by"] if found else "the operator"


def _finish(settings, row, status, now) -> None:
    params = {
        "activity_id": row["activity_id"],
        "operation": row["operation"],
        "status": status,
        "now": now,
    }
    with store.open_store(settings) as con:
        with store.transaction(con):
            store.run_script(con, "intune_call_done", params)


def _fail(settings, row, exc: TvmError, clock, result) -> str | None:
    operation = row["operation"]
    message = describe_failure(exc, _doing(operation), _QUEUED, "press Retry")
    unanswered = _unanswered(exc)
    # Only an answer that proves Intune stored nothing clears the doubt; any
    # other failure (no answer, a 5xx, a 2xx whose body was unreadable) may
    # hide a created task, which the next delivery looks for first.
    in_doubt = operation == "create" and not _nothing_stored(exc)
    wait = _wait_seconds(exc) if isinstance(exc, QuotaExhausted) else None
    not_before = clock.now() + timedelta(seconds=wait) if wait else None
    params = {
        "activity_id": row["activity_id"],
        "operation": operation,
        "error": message,
        "in_doubt": in_doubt,
        "not_before": not_before,
        "now": clock.now(),
    }
    with store.open_store(settings) as con:
        with store.transaction(con):
            store.run_script(con, "intune_call_failed", params)
    log.warning("intune %s for %s failed: %s", operation, row["activity_id"], message)
    result.failed += 1
    result.errors[row["activity_id"]] = message
    # A missing permission, throttling or an unreachable Graph stops the rest.
    stops = isinstance(exc, PermissionMissing | QuotaExhausted | AuthError | TlsError)
    return message if stops or unanswered else None


def _unanswered(exc) -> bool:
    return type(exc) is ApiError and getattr(exc, "status", None) is None


def _server_error(exc) -> bool:
    return isinstance(exc, ApiError) and (getattr(exc, "status", None) or 0) >= 500


def _nothing_stored(exc) -> bool:
    """True when the failure proves Graph did not create anything: the token
    was refused or never sent, or Graph answered with a client error."""
    if isinstance(exc, PermissionMissing | QuotaExhausted | AuthError | TlsError):
        return True
    status = getattr(exc, "status", None) or 0
    return isinstance(exc, ApiError) and 400 <= status < 500


def _doing(operation: str) -> str:
    return {
        "create": "creating the Intune task",
        "patch": "updating the Intune task",
        "status": "closing the Intune task",
    }[operation]


def _wait_seconds(exc) -> float:
    wait = getattr(exc, "retry_after", None)
    return float(wait) if wait is not None else float(_DEFAULT_WAIT_SECONDS)


def _not_found_create() -> str:
    return (
        "Microsoft Graph has no Intune task endpoint at TVM_GRAPH_BASE (404): "
        "set it to https://graph.microsoft.com/beta (or your cloud's), then "
        "press Retry."
    )


def _deleted_message() -> str:
    return (
        "The Intune task no longer exists in Intune (404): it was deleted there; "
        "file a new request to send another."
    )


def describe_failure(exc: TvmError, doing: str, kept: str, again: str) -> str:
    """One sentence for a failed Graph call.

    Args:
        exc: the client's error.
        doing: what was being done, e.g. "creating the Intune task".
        kept: what happens to the work, e.g. "it stays queued ...".
        again: what to do once the cause is fixed, e.g. "press Retry".
    """
    status = getattr(exc, "status", None)
    if isinstance(exc, PermissionMissing):
        return (
            f"Microsoft Graph refused {doing} (403): the app registration lacks "
            f"the application permission {PERMISSION}; grant it with admin "
            f"consent, then {again}."
        )
    if isinstance(exc, QuotaExhausted):
        return (
            f"Microsoft Graph is throttling {doing} (429): {kept}, after waiting "
            f"{_wait_seconds(exc):.0f} s."
        )
    if _server_error(exc):
        return f"Microsoft Graph answered HTTP {status} to {doing}: {kept}."
    if _unanswered(exc):
        return (
            f"Microsoft Graph could not be reached for {doing}: {kept}; check "
            "the network and TVM_GRAPH_BASE."
        )
    return str(exc)


# Reading IT's answer back


def read_back_tasks(settings, *, clock=SYSTEM_CLOCK, client=None) -> ReadBackResult:
    """GET each open task (not completed, rejected or deleted) and store its
    status and assignee.

    Tasks read before a failure are saved; a task deleted in Intune is marked
    deleted. Nothing is read while the Intune connection is off.

    Raises:
        IntuneError: a Graph call failed; the message says what happens next.
    """
    result = ReadBackResult()
    if not opsettings.load_operational(settings).intune_enabled:
        result.off = True
        return result
    started = time.monotonic()
    with store.open_store(settings) as con:
        open_tasks = store.fetch_dicts(con, "intune_open_tasks")
    client = client or connect_graph(settings, clock)
    answers, failure = [], None
    for row in open_tasks:
        try:
            answers.append((row, _read_task(client, row["task_id"])))
        except TvmError as exc:
            failure = exc
            break
    result.changed = _save_answers(settings, answers, clock.now())
    result.read = len(answers)
    result.calls = dict(client.calls_by_endpoint)
    log.info(
        "intune read-back: %d tasks read, %d changed in %.2f s",
        result.read,
        result.changed,
        time.monotonic() - started,
    )
    if failure is not None:
        doing = "reading Intune tasks back"
        raise IntuneError(
            describe_failure(failure, doing, _READ_AGAIN, "sync again")
        ) from failure
    return result


def _read_task(client, task_id: str) -> dict:
    try:
        body = client.get_json(f"{TASKS_PATH}/{quote(task_id, safe='')}")
    except NotFound:
        return {"status": "deleted", "assigned_to": None, "gone": True}
    return parse_task(body)


def _save_answers(settings, answers, now) -> int:
    changed = 0
    with store.open_store(settings) as con:
        with store.transaction(con):
            for row, task in answers:
                before = con.execute(
                    "select status, assigned_to from intune_tasks "
                    "where activity_id = ?",
                    [row["activity_id"]],
                ).fetchone()
                changed += before != (task["status"], task["assigned_to"])
                params = {
                    "activity_id": row["activity_id"],
                    "status": task["status"],
                    "assigned_to": task["assigned_to"],
                    "error": _deleted_message() if task.get("gone") else None,
                    "now": now,
                }
                store.run_script(con, "intune_read_back", params)
    return changed


def sync_tasks(settings, *, clock=SYSTEM_CLOCK, client=None) -> GraphStep:
    """The sync's Graph step: deliver the outbox, then read tasks back.

    Never raises: a Graph failure is returned as the step's outcome so the
    sync that called it keeps its Defender data and succeeds.
    """
    step = GraphStep()
    try:
        if not opsettings.load_operational(settings).intune_enabled:
            return step
        client = client or connect_graph(settings, clock)
        delivered = deliver_outbox(settings, clock=clock, client=client)
        read_back_tasks(settings, clock=clock, client=client)
        step.outcome = "failed" if delivered.errors else "succeeded"
        step.error = next(iter(delivered.errors.values()), None)
    except TvmError as exc:
        step.outcome, step.error = "failed", str(exc)
    except Exception as exc:  # the Defender data is merged: never lose it
        log.exception("the Intune step of the sync failed")
        step.outcome = "failed"
        step.error = (
            f"The Intune step stopped on an unexpected {type(exc).__name__}; the "
            "Defender data of this sync is kept. Run with -v for details."
        )
    step.calls = dict(client.calls_by_endpoint) if client else {}
    return step


# Reads for pages


def load_task(settings, activity_id: str) -> dict | None:
    """An activity's Intune task, or None when it has none.

    Keys: activity_id, task_id, kind, status, assigned_to, devices_sent,
    last_error, attempts, created_at, updated_at, last_read_at, queued (the
    operations still in the outbox), create_error, not_before, cancelled_at,
    label (see `status_label`) and can_retry (a queued call has failed).
    """
    with store.open_store(settings) as con:
        rows = store.fetch_dicts(con, "intune_task", {"activity_id": activity_id})
    if not rows:
        return None
    task = rows[0]
    task["queued"] = list(task["queued"] or [])
    task["label"] = status_label(task)
    task["can_retry"] = bool(task["queued"]) and task["last_error"] is not None
    return task


def list_tasks(settings) -> list[dict]:
    """Every Intune task created so far, newest first.

    Keys: activity_id, title, task_id, status, assigned_to, updated_at,
    cancelled_at, label (see `status_label`) and rejected (IT turned it down;
    not a request cancelled here).
    """
    with store.open_store(settings) as con:
        tasks = store.fetch_dicts(con, "intune_task_list")
    for task in tasks:
        task["label"] = status_label(task)
        task["rejected"] = task["status"] == "rejected" and not task["cancelled_at"]
    return tasks


def status_label(task: dict) -> str:
    """The task's status as the page says it (see `labels.ticket_status`)."""
    return labels.ticket_status(
        task.get("task_id"),
        task.get("status"),
        task.get("create_error"),
        task.get("cancelled_at") is not None,
    )
