"""Who may do what, without the pages: the `[access]` rules as read from a real
secrets file, the user each sign-in becomes, and every action function refusing
what a role or a device-group scope does not allow, with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tvmdata import (
    access,
    audit,
    background,
    completion,
    intune,
    opsettings,
    remediation,
    retention,
    store,
)
from tvmdata.clock import FakeClock
from tvmdata.config import Settings
from tvmdata.errors import AccessRefused, ConfigError, SignInRequired
from tvmdata.sync import sync_tenant

AUTH = """
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "not-a-real-secret"
client_id = "00000000-0000-0000-0000-000000000001"
client_secret = "not-a-real-secret"
server_metadata_url = "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
"""
RULES = """
[access]
allowed = ["contoso.test", "guest@partner.example", "group:AAAA-1111"]
unscoped = "all"

[access.roles]
"lead@contoso.test" = "admin"
"Req@Contoso.test" = "requester"
"group:aaaa-1111" = "requester"

[access.scopes]
"eng@contoso.test" = ["Engineering"]
"fin@contoso.test" = ["finance", 0]
"""
GROUPS = {101: "Finance", 102: "Engineering", 0: "Unassigned"}
READER = "va-_-contoso-_-reader"  # exposed in Finance (101) only
CHROME = "a1c3e5f7-0000-4000-8000-000000000001"  # Finance and Engineering
JAVA = "a1c3e5f7-0000-4000-8000-000000000004"  # Unassigned
DUE = (datetime.now(UTC) + timedelta(days=30)).date()


def policy_from(tmp_path, text: str, demo: bool = False, sign_in=None):
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    return access.load_policy(Settings(demo=demo, sign_in=sign_in), path)


def user(email: str, **claims) -> dict:
    return {"is_logged_in": True, "email": email, **claims}


# The rules


def test_a_live_tenant_without_sign_in_must_say_so(tmp_path):
    with pytest.raises(ConfigError, match=r'add an \[auth\] table .* sign_in = "none"'):
        policy_from(tmp_path, "")

    assert policy_from(tmp_path, "", sign_in="none").mode == "none"
    assert policy_from(tmp_path, '[access]\nsign_in = "none"\n').mode == "none"
    assert policy_from(tmp_path, "", demo=True).mode == "none"


def test_an_auth_table_turns_sign_in_on_unless_it_is_turned_off(tmp_path):
    assert policy_from(tmp_path, AUTH + RULES).mode == "sign-in"
    assert policy_from(tmp_path, AUTH + RULES, demo=True).mode == "sign-in"
    assert policy_from(tmp_path, AUTH + RULES, sign_in="none").mode == "none"


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        ("[access]\nallowed = []\n", "nobody is allowed"),
        ('[access]\nallowed = "contoso.test"\n', "allowed under [access]"),
        (
            '[access]\nallowed = ["x.test"]\n[access.roles]\n"a@x.test" = "owner"\n',
            "The role of 'a@x.test' under [access.roles]",
        ),
        (
            '[access]\nallowed = ["x.test"]\n[access.scopes]\n"a@x.test" = "Finance"\n',
            "The scope of 'a@x.test' under [access.scopes]",
        ),
        ('[access]\nallowed = ["x.test"]\nunscoped = "some"\n', "unscoped under"),
        ('[access]\nallowed = ["x.test"]\nsign_in = "maybe"\n', "sign_in must be"),
    ],
)
def test_a_malformed_rule_is_one_error_naming_the_key(tmp_path, rules, named):
    with pytest.raises(ConfigError) as raised:
        policy_from(tmp_path, AUTH + rules)

    assert named in str(raised.value)


# Who a sign-in becomes


def test_nobody_signed_in_is_asked_to_sign_in(tmp_path):
    policy = policy_from(tmp_path, AUTH + RULES)

    with pytest.raises(SignInRequired):
        access.identify(policy, {"is_logged_in": False}, GROUPS)


@pytest.mark.parametrize(
    "claims",
    [
        user("someone@elsewhere.test"),
        user("contoso.test@elsewhere.test"),
        user("", groups=["bbbb-2222"]),
        {"is_logged_in": True},
    ],
)
def test_anyone_not_on_the_allowed_list_is_refused_in_plain_words(tmp_path, claims):
    policy = policy_from(tmp_path, AUTH + RULES)

    with pytest.raises(AccessRefused, match="may not use this dashboard"):
        access.identify(policy, claims, GROUPS)


def test_roles_come_from_addresses_and_groups_and_the_highest_wins(tmp_path):
    policy = policy_from(tmp_path, AUTH + RULES)

    def role(claims) -> str:
        return access.identify(policy, claims, GROUPS).role

    assert role(user("someone@contoso.test")) == "viewer"
    assert role(user("REQ@contoso.test")) == "requester"
    assert role(user("guest@partner.example", groups=["AAAA-1111"])) == "requester"
    assert role(user("lead@contoso.test", groups=["aaaa-1111"])) == "admin"
    assert role(user("x@other.test", groups=["aaaa-1111"])) == "requester"


def test_scopes_resolve_group_names_and_ids_and_unscoped_follows_the_rule(tmp_path):
    policy = policy_from(tmp_path, AUTH + RULES)
    strict = policy_from(tmp_path, AUTH + RULES.replace('unscoped = "all"\n', ""))

    def scope(pol, email):
        return access.identify(pol, user(email), GROUPS).groups

    assert scope(policy, "eng@contoso.test") == frozenset({102})
    assert scope(policy, "fin@contoso.test") == frozenset({101, 0})
    assert scope(policy, "someone@contoso.test") is None
    assert scope(strict, "someone@contoso.test") == frozenset()
    assert scope(strict, "eng@contoso.test") == frozenset({102})


def test_without_sign_in_everyone_is_the_operator_with_every_right(tmp_path):
    policy = policy_from(tmp_path, "", demo=True)

    nobody = access.identify(policy, {}, GROUPS)
    known = access.identify(policy, user("a@contoso.test"), GROUPS)

    assert nobody == access.Actor(email=None, role="admin", groups=None)
    assert known.email == "a@contoso.test" and known.role == "admin"
    assert all(nobody.may(right) for right in access.RIGHTS)


def test_a_scope_narrows_the_chosen_groups_and_never_widens_them():
    scoped = access.Actor("a@contoso.test", "viewer", frozenset({101, 0}), True)

    assert scoped.scoped(None) == [0, 101]
    assert scoped.scoped([101, 102]) == [101]
    assert scoped.scoped([102]) == []
    assert access.OPERATOR.scoped(None) is None
    assert access.OPERATOR.scoped([102, 101]) == [101, 102]


# The action functions refuse, whatever the pages show


VIEWER = access.Actor("viewer@contoso.test", "viewer", None, True)
REQUESTER_ENG = access.Actor("eng@contoso.test", "requester", frozenset({102}), True)
REQUESTER = access.Actor("req@contoso.test", "requester", None, True)


@pytest.fixture
def synced(settings):
    sync_tenant(settings)
    return settings


def form(token: str = "token-1") -> remediation.RequestForm:
    return remediation.RequestForm(
        form_token=token,
        recommendation_id=READER,
        remediation_type="Update",
        group_ids=(101,),
        priority="High",
        due_on=DUE,
    )


def written(settings) -> dict[str, int]:
    with store.connect(settings.db) as con:
        return {
            table: con.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("requests", "audit_log", "completions", "settings")
        }


def test_a_viewer_is_refused_every_write_and_nothing_is_written(synced):
    now = datetime.now(UTC)
    filed = remediation.file_request(synced, form("mine"), REQUESTER, now)
    before = written(synced)
    attempts = {
        "file remediation requests": lambda: remediation.file_request(
            synced, form(), VIEWER, now
        ),
        "edit remediation requests": lambda: remediation.edit_request(
            synced, filed.activity_id, VIEWER, now, due_on=DUE, priority="Low"
        ),
        "cancel remediation requests": lambda: remediation.cancel_request(
            synced, filed.activity_id, VIEWER, now
        ),
        "mark activities complete": lambda: completion.complete_activity(
            synced, CHROME, VIEWER, now
        ),
        "change settings": lambda: opsettings.save_operational(
            synced, {"retention_days": 30}, VIEWER, now
        ),
        "purge completed activities": lambda: retention.purge_completed(
            synced, retention.load_policy(synced), by=VIEWER
        ),
        "start a sync": lambda: background.start_sync(synced, started_by=VIEWER),
        "send Intune tasks": lambda: intune.retry(synced, filed.activity_id, by=VIEWER),
    }

    for doing, attempt in attempts.items():
        with pytest.raises(AccessRefused) as refused:
            attempt()
        assert str(refused.value) == (
            f"Your role (viewer) cannot {doing}: ask an administrator to give you "
            f"the {access.RIGHTS[_right(doing)]} role under [access.roles]."
        )
    assert written(synced) == before


def _right(doing: str) -> str:
    return {
        "file remediation requests": "request",
        "edit remediation requests": "request",
        "cancel remediation requests": "request",
        "mark activities complete": "complete",
        "change settings": "settings",
        "purge completed activities": "purge",
        "start a sync": "sync",
        "send Intune tasks": "request",
    }[doing]


def test_a_requester_cannot_file_for_or_complete_outside_their_groups(synced):
    now = datetime.now(UTC)
    before = written(synced)

    with pytest.raises(AccessRefused, match="outside the ones you may see"):
        remediation.file_request(synced, form(), REQUESTER_ENG, now)
    with pytest.raises(AccessRefused, match="in no device group you may see"):
        completion.complete_activity(synced, JAVA, REQUESTER_ENG, now)
    assert written(synced) == before

    # Chrome's activity covers Engineering too: theirs to complete.
    assert completion.complete_activity(synced, CHROME, REQUESTER_ENG, now) == (
        "eng@contoso.test"
    )


def test_a_request_is_filed_in_the_requesters_own_name(synced):
    filed = remediation.file_request(synced, form(), REQUESTER, datetime.now(UTC))

    request = remediation.load_request(synced, filed.activity_id)
    assert request["requested_by"] == "req@contoso.test"


# The audit log


def test_every_write_is_in_the_audit_log_with_who_and_what(synced, emulator):
    admin = access.Actor("lead@contoso.test", "admin", None, True)
    now = datetime.now(UTC)
    opsettings.save_operational(synced, {"intune_enabled": True}, admin, now)
    filed = remediation.file_request(synced, form(), REQUESTER, now, intune_task=True)
    remediation.edit_request(
        synced, filed.activity_id, REQUESTER, now, due_on=DUE, priority="Low"
    )
    completion.complete_activity(synced, CHROME, REQUESTER, now)
    remediation.cancel_request(synced, filed.activity_id, REQUESTER, now)
    long_ago = retention.RetentionPolicy(days=1, archive=False)
    retention.purge_completed(
        synced, long_ago, by=admin, clock=FakeClock(now + timedelta(days=400))
    )

    entries = audit.load_entries(synced, limit=None).sort_values("entry_id")
    seen = list(zip(entries["actor"], entries["action"], strict=True))
    assert seen == [
        ("lead@contoso.test", "setting changed"),
        ("req@contoso.test", "request filed"),
        ("req@contoso.test", "Intune task created"),
        ("req@contoso.test", "request edited"),
        ("req@contoso.test", "activity marked complete"),
        ("req@contoso.test", "request cancelled"),
        ("lead@contoso.test", "completed activities purged"),
    ]
    edited = entries[entries["action"] == "request edited"].iloc[0]
    assert '"priority": "High"' in edited["before"]
    assert '"priority": "Low"' in edited["after"]


def test_a_sync_started_by_a_user_is_in_the_audit_log(synced):
    started = background.start_sync(synced, started_by=REQUESTER)

    entries = audit.load_entries(synced, limit=None)
    assert started > 0
    assert entries[["actor", "action"]].values.tolist() == [
        ["req@contoso.test", "sync started"]
    ]
    assert entries["after"].tolist() == ['{"source": "dashboard"}']


def test_the_audit_log_exports_every_entry_as_csv(synced):
    admin = access.Actor("lead@contoso.test", "admin", None, True)
    for days in (30, 60, 90):
        opsettings.save_operational(
            synced, {"retention_days": days}, admin, datetime.now(UTC)
        )

    text = audit.entries_csv(audit.load_entries(synced, limit=None), "now")
    lines = text.decode("utf-8-sig").splitlines()

    assert lines[0] == "When (UTC),Who,What,Object,Before,After,As of (UTC)"
    assert len(lines) == 4
    assert all(
        ",lead@contoso.test,setting changed,retention_days," in x for x in lines[1:]
    )


def test_the_settings_page_says_how_users_sign_in(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text(AUTH + RULES)
    live = Settings(sign_in=None)

    assert opsettings.describe_sign_in(live, path) == (
        "Microsoft Entra ID; 3 allowed entries, 3 role and 2 scope assignments"
    )
    assert opsettings.describe_sign_in(Settings(sign_in="none"), path) == (
        "off: everyone acts as the operator"
    )
    path.write_text("")
    assert opsettings.describe_sign_in(live, path).startswith(
        "Sign-in is not configured for this tenant"
    )
