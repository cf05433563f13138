"""Who may use the dashboard, what each user may do, and which device groups
each user sees.

Streamlit's sign-in (Microsoft Entra ID) is configured in the `[auth]` table of
`.streamlit/secrets.toml`; the rules here come from its `[access]` table:

    [access]
    allowed = ["contoso.com", "auditor@partner.example", "group:<entra id>"]
    unscoped = "all"           # default "none": users without a scope see nothing

    [access.roles]             # viewer (the default), requester or admin
    "alice@contoso.com" = "admin"
    "group:<entra id>" = "requester"

    [access.scopes]            # device groups by name or id; none listed = unscoped
    "bob@contoso.com" = ["Finance", "Legal"]

Principals are email addresses (any case) or `group:` and an Entra group's
object id, matched against the `groups` claim of the user's ID token. Without
sign-in (the demo, or `sign_in = "none"`), everyone acts as the operator with
every right; pages say so. Action functions take the acting user and refuse
what their role or scope does not allow, whatever the pages show.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tvmdata.config import SECRETS_FILE
from tvmdata.errors import AccessRefused, ConfigError, SignInRequired

log = logging.getLogger(__name__)

ROLES = ("viewer", "requester", "admin")
# The least role that holds each right.
RIGHTS = {
    "read": "viewer",
    "export": "viewer",
    "request": "requester",
    "complete": "requester",
    "sync": "requester",
    "settings": "admin",
    "purge": "admin",
}
GROUP_PREFIX = "group:"
MODES = ("sign-in", "none")


@dataclass(frozen=True)
class AccessPolicy:
    """The `[access]` rules, checked and normalised (principals in lower case)."""

    mode: str = "none"
    allowed: frozenset[str] = frozenset()
    roles: Mapping[str, str] = field(default_factory=dict)
    scopes: Mapping[str, tuple] = field(default_factory=dict)
    unscoped_sees_all: bool = False
    provider: str | None = None

    @property
    def signs_in(self) -> bool:
        return self.mode == "sign-in"


@dataclass(frozen=True)
class Actor:
    """The user behind a page run or an action.

    `groups` holds the device-group ids the user may see; None means every
    group. `email` is None for the operator of a deployment without sign-in
    (writes then record the operator email from Settings).
    """

    email: str | None
    role: str = "admin"
    groups: frozenset[int] | None = None
    signed_in: bool = False

    def may(self, right: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(RIGHTS[right])

    def sees_group(self, group_id: int) -> bool:
        return self.groups is None or int(group_id) in self.groups

    def scoped(self, chosen: Iterable[int] | None) -> list[int] | None:
        """The device groups to show: `chosen` (None = every group) within
        this user's scope; None only when both are unlimited."""
        if self.groups is None:
            return None if chosen is None else sorted(chosen)
        if chosen is None:
            return sorted(self.groups)
        return sorted(set(chosen) & self.groups)

    def label(self) -> str:
        return self.email or "the operator"


OPERATOR = Actor(email=None)


def as_actor(who) -> Actor:
    """An `Actor` as is; an email (or None) from the command line or a caller
    without sign-in is the operator, with every right."""
    if isinstance(who, Actor):
        return who
    return Actor(email=(who or "").strip() or None)


def require(actor: Actor, right: str, doing: str) -> None:
    """Raise `AccessRefused` unless `actor`'s role holds `right`.

    Args:
        doing: what was tried, to finish "Your role (viewer) cannot …".
    """
    if actor.may(right):
        return
    needed = RIGHTS[right]
    log.warning("refused %s to %s (%s)", doing, actor.label(), actor.role)
    raise AccessRefused(
        f"Your role ({actor.role}) cannot {doing}: ask an administrator to give "
        f"you the {needed} role under [access.roles]."
    )


def require_groups(actor: Actor, group_ids: Iterable[int], doing: str) -> None:
    """Raise `AccessRefused` when any of `group_ids` is outside `actor`'s scope."""
    outside = sorted(g for g in {int(g) for g in group_ids} if not actor.sees_group(g))
    if not outside:
        return
    log.warning("refused %s to %s: groups %s", doing, actor.label(), outside)
    raise AccessRefused(
        f"You cannot {doing}: it covers device groups outside the ones you may "
        "see. Choose only your own device groups, or ask an administrator."
    )


def require_any_group(actor: Actor, group_ids: Iterable[int], doing: str) -> None:
    """Raise `AccessRefused` unless `actor` sees at least one of `group_ids`."""
    ids = {int(g) for g in group_ids}
    if actor.groups is None or ids & actor.groups:
        return
    log.warning("refused %s to %s: no group in scope", doing, actor.label())
    raise AccessRefused(f"You cannot {doing}: it is in no device group you may see.")


def load_policy(settings, secrets_path: Path | None = None) -> AccessPolicy:
    """Read and check the `[access]` rules.

    Sign-in is on when the secrets file has an `[auth]` table, unless
    `sign_in = "none"` (or `TVM_SIGN_IN=none`). A live tenant without `[auth]`
    must say `none` explicitly; the demo runs without sign-in by default.

    Raises:
        ConfigError: a rule is malformed or sign-in is neither configured nor
            turned off; the message names the key to fix.
    """
    path = secrets_path or SECRETS_FILE
    document = _read(path)
    table = document.get("access", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[access] in {path} must be a table of rules.")
    auth = document.get("auth")
    mode = _mode(settings, table, isinstance(auth, dict), path)
    policy = AccessPolicy(
        mode=mode,
        allowed=frozenset(_principals(table.get("allowed", []), "allowed", path)),
        roles=_roles(table.get("roles", {}), path),
        scopes=_scopes(table.get("scopes", {}), path),
        unscoped_sees_all=_unscoped(table.get("unscoped", "none"), path),
        provider=_provider(auth),
    )
    if policy.signs_in and not policy.allowed:
        raise ConfigError(
            f"Sign-in is on but nobody is allowed: list email domains, addresses "
            f'or "group:<id>" in allowed = [...] under [access] in {path}.'
        )
    return policy


def identify(
    policy: AccessPolicy, claims: Mapping, device_groups: Mapping[int, str]
) -> Actor:
    """The `Actor` for a page run, from the signed-in user's claims.

    Args:
        claims: `st.user` as a dict (`is_logged_in`, `email`, `groups`, ...).
        device_groups: every device group, id → name, to resolve scopes.

    Raises:
        SignInRequired: sign-in is on and nobody is signed in.
        AccessRefused: the signed-in user is not on the allowed list.
    """
    if not policy.signs_in:
        # Nobody signs in here; a user already known to Streamlit is named in
        # what they write, with the operator's rights.
        known = claims.get("is_logged_in") and str(claims.get("email") or "").strip()
        return Actor(email=known or None)
    if not claims.get("is_logged_in"):
        raise SignInRequired("Sign in with your Microsoft account to continue.")
    email = str(claims.get("email") or claims.get("preferred_username") or "")
    email = email.strip().lower()
    principals = _principals_of(email, claims.get("groups"))
    if not _allowed(policy, email, principals):
        log.warning("refused sign-in of %s: not on the allowed list", email or "?")
        raise AccessRefused(
            f"{email or 'This account'} may not use this dashboard. Ask an "
            "administrator to add your address, domain or group to its allowed "
            "users, or sign out and use another account."
        )
    return Actor(
        email=email,
        role=_role_of(policy, principals),
        groups=_scope_of(policy, principals, device_groups),
        signed_in=True,
    )


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}): fix the file.") from exc


def _mode(settings, table: dict, has_auth: bool, path: Path) -> str:
    wanted = (getattr(settings, "sign_in", None) or table.get("sign_in") or "").strip()
    wanted = wanted.lower()
    if wanted and wanted not in MODES:
        raise ConfigError(
            f'sign_in must be "sign-in" or "none", not {wanted!r}: fix TVM_SIGN_IN '
            f"or sign_in under [access] in {path}."
        )
    if wanted == "none":
        return "none"
    if has_auth:
        return "sign-in"
    if wanted == "sign-in":
        raise ConfigError(
            f"Sign-in is asked for but {path} has no [auth] table: add one "
            "(see the README's Security section)."
        )
    if settings.demo:
        return "none"
    raise ConfigError(
        f"Sign-in is not configured for this tenant: add an [auth] table to {path} "
        '(see the README\'s Security section), or set sign_in = "none" under '
        "[access] (or TVM_SIGN_IN=none) to run without sign-in."
    )


def _principals(values, key: str, path: Path) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{key} under [access] in {path} must be a list of text.")
    return [v.strip().lower() for v in values if v.strip()]


def _roles(table, path: Path) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(f"[access.roles] in {path} must map users to roles.")
    roles = {}
    for principal, role in table.items():
        if role not in ROLES:
            raise ConfigError(
                f"The role of {principal!r} under [access.roles] in {path} must be "
                f"one of {', '.join(ROLES)}, not {role!r}."
            )
        roles[principal.strip().lower()] = role
    return roles


def _scopes(table, path: Path) -> dict[str, tuple]:
    if not isinstance(table, dict):
        raise ConfigError(f"[access.scopes] in {path} must map users to groups.")
    scopes = {}
    for principal, groups in table.items():
        if not isinstance(groups, list) or not all(
            isinstance(g, str | int) and not isinstance(g, bool) for g in groups
        ):
            raise ConfigError(
                f"The scope of {principal!r} under [access.scopes] in {path} must "
                "be a list of device-group names or ids."
            )
        scopes[principal.strip().lower()] = tuple(groups)
    return scopes


def _unscoped(value, path: Path) -> bool:
    if value not in ("all", "none"):
        raise ConfigError(
            f'unscoped under [access] in {path} must be "all" or "none", not {value!r}.'
        )
    return value == "all"


def _provider(auth) -> str | None:
    """The named provider under `[auth]` (e.g. `[auth.microsoft]`), if any."""
    if not isinstance(auth, dict):
        return None
    named = [key for key, value in auth.items() if isinstance(value, dict)]
    return named[0] if len(named) == 1 else None


def _principals_of(email: str, groups) -> list[str]:
    ids = groups if isinstance(groups, list) else []
    return [email, *(GROUP_PREFIX + str(g).strip().lower() for g in ids)]


def _allowed(policy: AccessPolicy, email: str, principals: list[str]) -> bool:
    if not email and not principals[1:]:
        return False
    domain = email.rpartition("@")[2]
    return bool(
        (domain and domain in policy.allowed)
        or any(p in policy.allowed for p in principals if p)
    )


def _role_of(policy: AccessPolicy, principals: list[str]) -> str:
    found = [policy.roles[p] for p in principals if p in policy.roles]
    return max(found, key=ROLES.index, default="viewer")


def _scope_of(
    policy: AccessPolicy, principals: list[str], device_groups: Mapping[int, str]
) -> frozenset[int] | None:
    entries = [g for p in principals if p in policy.scopes for g in policy.scopes[p]]
    if not any(p in policy.scopes for p in principals):
        return None if policy.unscoped_sees_all else frozenset()
    by_name = {str(name).lower(): int(gid) for gid, name in device_groups.items()}
    ids = set()
    for entry in entries:
        if isinstance(entry, int):
            ids.add(entry)
        elif entry.strip().lower() in by_name:
            ids.add(by_name[entry.strip().lower()])
    return frozenset(ids)
