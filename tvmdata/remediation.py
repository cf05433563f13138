"""Remediation requests filed from this dashboard, and the rules they follow.

Defender has no API to create a remediation activity, so a request filed here
becomes an activity in our own store (source "dashboard"). Its target devices
are the recommendation's exposed devices in the chosen device groups at the
moment of filing; each sync then counts a target as fixed once it leaves the
recommendation's exposed-device list (see `queries/track_requests.sql`).

Every form carries a token, and the store keeps one request per token, so a
double click or a rerun of the page files once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import duckdb

from tvmdata import access, audit, completion, intune, labels, store
from tvmdata.errors import FieldsRefused, TvmError

log = logging.getLogger(__name__)

PRIORITIES = ("High", "Medium", "Low")
ALL_EXPOSED = "AllExposedDevices"
NO_USER_IMPACT = "NoUserImpact"
TARGET_SCOPES = (ALL_EXPOSED, NO_USER_IMPACT)
ATTENTION_REQUIRED = "AttentionRequired"
MAX_NOTES = 1000

# What each kind of recommendation can be remediated with, besides "attention
# required", which every recommendation offers.
_OPTIONS = {
    "Update": ("Update", "Uninstall"),
    "Upgrade": ("Upgrade", "Uninstall"),
    "Uninstall": ("Uninstall",),
    "ConfigurationChange": ("ConfigurationChange",),
}


class RequestRefused(FieldsRefused):
    """A request or a change to one cannot be saved; `errors` maps each field
    to a plain sentence saying what to fix."""


@dataclass(frozen=True)
class RequestForm:
    """What the request form submits."""

    form_token: str
    recommendation_id: str
    remediation_type: str
    group_ids: tuple[int, ...]
    priority: str
    due_on: date | None
    notes: str = ""
    target_scope: str = ALL_EXPOSED


@dataclass(frozen=True)
class FiledRequest:
    """The activity a form filed; `created` is False when the form had already
    been filed (a double submit) and this is the earlier activity."""

    activity_id: str
    created: bool
    target_devices: int


def new_form_token() -> str:
    """A token for one showing of the request form."""
    return uuid.uuid4().hex


def remediation_options(recommendation: dict) -> list[str]:
    """The remediation types offered for a recommendation (Defender's values,
    "Update" for software update), attention required last."""
    kind = recommendation.get("remediation_type")
    return [*_OPTIONS.get(kind, ()), ATTENTION_REQUIRED]


def validate_request(
    form: RequestForm,
    today: date,
    exposed_group_ids: Iterable[int],
    options: Iterable[str] | None = None,
) -> dict[str, str]:
    """Check a form against the rules; nothing is written.

    Args:
        form: the submitted form.
        today: today's date in UTC (a due date before it is refused).
        exposed_group_ids: the device groups with exposed devices for the
            recommendation.
        options: the remediation types offered (all known types when None).

    Returns:
        Field name → what to fix; empty when the form is valid.
    """
    errors = {}
    offered = list(options) if options is not None else _every_type()
    if form.remediation_type not in offered:
        named = ", ".join(labels.remediation_type(t) for t in offered)
        errors["remediation_type"] = f"Choose a remediation type: {named}."
    if form.target_scope not in TARGET_SCOPES or (
        form.target_scope == NO_USER_IMPACT
        and form.remediation_type != "ConfigurationChange"
    ):
        errors["target_scope"] = (
            "Only configuration changes can be limited to devices with no user "
            "impact: choose all exposed devices."
        )
    errors.update(_group_errors(form.group_ids, set(exposed_group_ids)))
    errors.update(
        _edit_errors(
            form.remediation_type, form.priority, form.due_on, form.notes, today
        )
    )
    return errors


def file_request(
    settings,
    form: RequestForm,
    requester: str | access.Actor | None,
    when: datetime,
    *,
    intune_task: bool = False,
) -> FiledRequest:
    """Save a remediation request as an active activity tracked by our sync.

    Args:
        settings: deployment settings (database path and lock wait).
        form: the submitted form.
        requester: the signed-in user (an `access.Actor`, refused without the
            requester role or outside their device groups), or an email; None
            falls back to the operator email from Settings.
        when: the moment of filing (timezone-aware); its UTC date is "today".
        intune_task: also create an Intune security task (the form's checkbox):
            queued in the same transaction, then sent at once; a Graph failure
            leaves it queued (see `intune.load_task`), never refuses the request.

    Returns:
        The filed activity; the earlier one when this form was filed before.

    Raises:
        RequestRefused: the form breaks a rule, nobody is known to file it, or
            an Intune task is asked for while the connection is off or for
            attention required (field "intune").
        AccessRefused: the user's role or device groups do not allow it.
    """
    actor = access.as_actor(requester)
    access.require(actor, "request", "file remediation requests")
    access.require_groups(actor, form.group_ids, "file this request")
    email = _requester(settings, actor.email)
    with store.open_store(settings) as con:
        earlier = _filed_with_token(con, form.form_token)
        if earlier:
            return earlier
        form = _normalized(form)
        recommendation = _recommendation(con, form.recommendation_id)
        errors = validate_request(
            form,
            _utc_date(when),
            recommendation["exposed_group_ids"] or [],
            remediation_options(recommendation),
        )
        if intune_task:
            errors.update(intune.request_errors(con, form.remediation_type))
        if errors:
            raise RequestRefused(errors)
        activity_id = f"req-{uuid.uuid4().hex[:16]}"
        try:
            with store.transaction(con):
                _insert_request(con, form, recommendation, activity_id, email, when)
                if intune_task:
                    intune.queue_task(con, activity_id, when)
        except duckdb.ConstraintException:
            # Another submit of the same form won the race: answer with its row.
            earlier = _filed_with_token(con, form.form_token)
            if earlier:
                return earlier
            raise
        filed = _filed_with_token(con, form.form_token)
    log.info(
        "request %s filed by %s for %s: %d devices",
        activity_id,
        email,
        form.recommendation_id,
        filed.target_devices,
    )
    if intune_task:
        _deliver_now(settings, activity_id)
    return replace(filed, created=True)


def filed_request(settings, form_token: str) -> FiledRequest | None:
    """The request a form's token filed, or None while it is not filed."""
    with store.open_store(settings) as con:
        return _filed_with_token(con, form_token)


def covering_activities(
    settings, recommendation_id: str, group_ids: Iterable[int]
) -> list[dict]:
    """Active activities for this recommendation that already cover any of the
    device groups (keys activity_id, title, device_groups)."""
    params = {"recommendation_id": recommendation_id, "group_ids": list(group_ids)}
    with store.open_store(settings) as con:
        return store.fetch_dicts(con, "covering_activities", params)


def load_request(settings, activity_id: str) -> dict | None:
    """The request behind an activity filed here (None for Defender's)."""
    with store.open_store(settings) as con:
        rows = store.fetch_dicts(con, "request_detail", {"activity_id": activity_id})
    return rows[0] if rows else None


def can_change(request: dict | None, user_email: str | None) -> bool:
    """True when `user_email` filed this request and it is still active."""
    return (
        request is not None
        and _is_open(request)
        and bool(user_email)
        and user_email.strip().lower() == request["requested_by"].lower()
    )


def edit_request(
    settings,
    activity_id: str,
    editor: str | access.Actor | None,
    when: datetime,
    *,
    due_on: date | None,
    priority: str,
    notes: str = "",
) -> dict:
    """Change the due date, priority and notes of an active request.

    Only the requester may do it. Returns the request as saved.

    Raises:
        RequestRefused: not the requester, not active, or a value breaks a rule.
    """
    actor = access.as_actor(editor)
    access.require(actor, "request", "edit remediation requests")
    email = _requester(settings, actor.email)
    request = _changeable(settings, activity_id, email)
    due_on = None if request["remediation_type"] == ATTENTION_REQUIRED else due_on
    notes = (notes or "").strip()
    errors = _edit_errors(
        request["remediation_type"], priority, due_on, notes, _utc_date(when)
    )
    if errors:
        raise RequestRefused(errors)

    before = {k: request[k] for k in ("due_on", "priority", "notes")}
    after = {"due_on": due_on, "priority": priority, "notes": notes or None}
    params = {"activity_id": activity_id, **after}
    with store.open_store(settings) as con:
        with store.transaction(con):
            store.run_script(con, "edit_request", params)
            queued = intune.queue_edit(con, activity_id, when)
            audit.record(
                con,
                actor=email,
                action="request edited",
                object_id=activity_id,
                when=when,
                before=before,
                after=after,
            )
    log.info("request %s edited by %s", activity_id, email)
    if queued:
        _deliver_now(settings, activity_id)
    return {**request, **after}


def cancel_request(
    settings, activity_id: str, editor: str | access.Actor | None, when: datetime
):
    """Cancel an active request; it stays in the store, marked cancelled.

    Raises:
        RequestRefused: not the requester, or the request is no longer active.
    """
    actor = access.as_actor(editor)
    access.require(actor, "request", "cancel remediation requests")
    email = _requester(settings, actor.email)
    _changeable(settings, activity_id, email)
    params = {"activity_id": activity_id, "cancelled_by": email, "cancelled_at": when}
    with store.open_store(settings) as con:
        with store.transaction(con):
            store.run_script(con, "cancel_request", params)
            queued = intune.queue_cancel(con, activity_id, email, when)
            audit.record(
                con,
                actor=email,
                action="request cancelled",
                object_id=activity_id,
                when=when,
                before={"status": "Active"},
                after={"status": "Cancelled"},
            )
    log.info("request %s cancelled by %s", activity_id, email)
    if queued:
        _deliver_now(settings, activity_id)


def _deliver_now(settings, activity_id: str) -> None:
    # The request is saved; Graph trouble only leaves the call queued (its
    # reason is on the task), so it never turns the user's change into an error.
    try:
        intune.deliver_outbox(settings, activity_id=activity_id)
    except TvmError as exc:
        log.warning("intune delivery for %s postponed: %s", activity_id, exc)


def _every_type() -> list[str]:
    return sorted({t for options in _OPTIONS.values() for t in options}) + [
        ATTENTION_REQUIRED
    ]


def _group_errors(group_ids, exposed: set[int]) -> dict[str, str]:
    if not group_ids:
        return {"group_ids": "Choose at least one device group."}
    outside = sorted(set(group_ids) - exposed)
    if outside:
        return {
            "group_ids": "No device is exposed to this recommendation in device "
            f"group {', '.join(map(str, outside))}: choose among the groups listed."
        }
    return {}


def _edit_errors(remediation_type, priority, due_on, notes, today) -> dict[str, str]:
    errors = {}
    if priority not in PRIORITIES:
        errors["priority"] = "Choose a priority: High, Medium or Low."
    if remediation_type != ATTENTION_REQUIRED:
        if due_on is None:
            errors["due_on"] = "Choose a due date."
        elif due_on < today:
            errors["due_on"] = (
                f"The due date {labels.day(due_on)} is in the past: choose today "
                f"({labels.day(today)}, UTC) or later."
            )
    if len(notes or "") > MAX_NOTES:
        errors["notes"] = (
            f"Notes are {len(notes)} characters long: shorten them to {MAX_NOTES}."
        )
    return errors


def _normalized(form: RequestForm) -> RequestForm:
    due_on = None if form.remediation_type == ATTENTION_REQUIRED else form.due_on
    return replace(
        form,
        group_ids=tuple(sorted(set(form.group_ids))),
        due_on=due_on,
        notes=(form.notes or "").strip(),
    )


def _requester(settings, email: str | None) -> str:
    found = (email or "").strip() or completion.operator_email(settings)
    if not found:
        raise RequestRefused(
            {
                "requester": "Nobody is signed in and no operator email is set: "
                "set the operator email on the Settings page, or sign in."
            }
        )
    return found


def _filed_with_token(con, token: str) -> FiledRequest | None:
    rows = store.fetch_dicts(con, "request_by_token", {"form_token": token})
    if not rows:
        return None
    return FiledRequest(rows[0]["activity_id"], False, rows[0]["target_devices"])


def _recommendation(con, recommendation_id: str) -> dict:
    rows = store.fetch_dicts(
        con, "request_recommendation", {"recommendation_id": recommendation_id}
    )
    if not rows:
        raise RequestRefused(
            {
                "recommendation_id": f"The recommendation {recommendation_id!r} "
                "is no longer reported by Defender: reload the recommendations."
            }
        )
    return rows[0]


def _insert_request(con, form, recommendation, activity_id, email, when) -> None:
    params = {
        "activity_id": activity_id,
        "form_token": form.form_token,
        "recommendation_id": form.recommendation_id,
        "remediation_type": form.remediation_type,
        "target_scope": form.target_scope,
        "group_ids": list(form.group_ids),
        "priority": form.priority,
        "due_on": form.due_on,
        "notes": form.notes or None,
        "requested_by": email,
        "requested_at": when,
        "description": _description(form, recommendation),
    }
    store.run_script(con, "file_request", params)
    audit.record(
        con,
        actor=email,
        action="request filed",
        object_id=activity_id,
        when=when,
        after={k: v for k, v in params.items() if k != "description"},
    )


def _description(form: RequestForm, recommendation: dict) -> str:
    kind = labels.remediation_type(form.remediation_type)
    text = f"{kind} requested from this dashboard for {recommendation['name']}."
    if form.target_scope == NO_USER_IMPACT:
        count = recommendation.get("no_user_impact_devices")
        known = f" ({count} such devices reported)" if count is not None else ""
        text += (
            " Limited to devices with no user impact"
            f"{known}; Defender gives only their number, so progress is "
            "tracked on all exposed devices."
        )
    return text


def _changeable(settings, activity_id: str, email: str) -> dict:
    request = load_request(settings, activity_id)
    if request is None:
        raise RequestRefused(
            {
                "activity_id": f"No request filed here has the id {activity_id!r}: "
                "only requests filed from this dashboard can be changed."
            }
        )
    if not _is_open(request):
        raise RequestRefused(
            {"activity_id": f"The request {request['title']!r} is no longer active."}
        )
    if email.lower() != request["requested_by"].lower():
        raise RequestRefused(
            {
                "requester": f"Only {request['requested_by']}, who filed this "
                "request, can change or cancel it."
            }
        )
    return request


def _is_open(request: dict) -> bool:
    return (
        request["status"] == "Active"
        and request["cancelled_at"] is None
        and not request["completed_here"]
    )


def _utc_date(when: datetime) -> date:
    return when.astimezone(UTC).date()
