"""Marking a remediation activity complete from the dashboard.

The completion is recorded here, apart from Defender's own record (which the
sync owns): an activity synced from Defender stays active there until a later
sync shows it completed. Who marked it is the signed-in user's email, else the
operator email, an operational setting stored in the database.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from tvmdata import access, store, views
from tvmdata.errors import TvmError

log = logging.getLogger(__name__)

OPERATOR_EMAIL_KEY = "operator_email"
DEMO_OPERATOR_EMAIL = "operator@demo.example"


class CompletionRefused(TvmError):
    """An activity cannot be marked complete (unknown, already completed, or no
    email is known for who marked it)."""


def operator_email(settings) -> str | None:
    """The operator email stored in the database.

    Returns:
        The stored email; in demo mode "operator@demo.example" when none is
        stored; otherwise None.
    """
    with store.open_store(settings) as con:
        found = store.fetch_dicts(con, "get_setting", {"key": OPERATOR_EMAIL_KEY})
    stored = json.loads(found[0]["value"]) if found and found[0]["value"] else None
    if stored:
        return stored
    return DEMO_OPERATOR_EMAIL if getattr(settings, "demo", False) else None


def set_operator_email(
    settings, email: str, changed_by: str, when: datetime | None = None
) -> None:
    """Store the operator email (used when nobody is signed in).

    Raises:
        CompletionRefused: `email` is not an email address.
    """
    email = (email or "").strip()
    if "@" not in email or " " in email:
        raise CompletionRefused(
            f"{email!r} is not an email address: give one like ops@contoso.com."
        )
    params = {
        "key": OPERATOR_EMAIL_KEY,
        "value": json.dumps(email),
        "changed_by": changed_by,
        "changed_at": when or datetime.now().astimezone(),
    }
    with store.open_store(settings) as con:
        store.run_script(con, "put_setting", params)
    log.info("operator email changed by %s", changed_by)


def complete_activity(
    settings, activity_id: str, user_email: str | access.Actor | None, when: datetime
) -> str:
    """Record that an activity was marked complete here.

    Args:
        settings: deployment settings (database path and lock wait).
        activity_id: the remediation activity.
        user_email: the signed-in user (an `access.Actor`, refused without the
            requester role or when the activity is outside their device
            groups), or an email; None falls back to the operator email.
        when: the moment of the completion (timezone-aware).

    Returns:
        The email recorded as "Completed by".

    Raises:
        CompletionRefused: no email is known, the activity is unknown, or it
            is already completed (in Defender or here).
        AccessRefused: the user's role or device groups do not allow it.
    """
    actor = access.as_actor(user_email)
    access.require(actor, "complete", "mark activities complete")
    email = actor.email or operator_email(settings)
    if not email:
        raise CompletionRefused(
            "Nobody is signed in and no operator email is set: set the operator "
            "email on the Settings page, or sign in, to mark activities complete."
        )
    detail = views.load_activity_detail(settings, activity_id)
    if detail is None:
        raise CompletionRefused(
            f"No remediation activity has the id {activity_id!r}; it may have "
            "been purged: reload the Remediation page."
        )
    if actor.groups is not None:
        named = views.group_ids_named(settings, detail["device_groups"])
        access.require_any_group(actor, named, "mark this activity complete")
    if detail["status"] == "Cancelled":
        raise CompletionRefused(
            f"The request {detail['title']!r} was cancelled, so it cannot be "
            "marked complete: file a new request if the work is still needed."
        )
    if detail["status"] == "Completed":
        raise CompletionRefused(
            f"The activity {detail['title']!r} is already completed "
            f"(by {detail['completed_by']})."
        )

    store.mark_completed(settings, activity_id, email, when)
    return email
