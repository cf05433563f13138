"""Tokens from Microsoft Entra ID (client credentials) through MSAL, and the one HTTP
session every call of this process goes through.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import msal
import requests

from tvmdata.config import Settings
from tvmdata.errors import AuthError, TlsError

log = logging.getLogger(__name__)

# Sign-in hosts MSAL knows; any other authority (a proxy, the demo emulator) needs
# instance discovery turned off or MSAL asks Microsoft whether the host is valid.
MICROSOFT_LOGIN_HOSTS = {
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login-us.microsoftonline.com",
    "login.microsoftonline.de",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "login.windows.net",
}

# Entra error codes that point at one setting.
_AADSTS_HINTS = {
    "AADSTS7000215": "the client secret is wrong or expired: check TVM_CLIENT_SECRET",
    "AADSTS7000222": "the client secret has expired: create a new one and set "
    "TVM_CLIENT_SECRET",
    "AADSTS700016": "no app with this client id exists in the tenant: check "
    "TVM_CLIENT_ID",
    "AADSTS90002": "the tenant was not found: check TVM_TENANT_ID",
    "AADSTS900023": "the tenant id is malformed: check TVM_TENANT_ID",
    "AADSTS70011": "the scope is not valid: check TVM_API_SCOPE / TVM_GRAPH_SCOPE",
    "AADSTS500011": "the API named by the scope is unknown in this tenant: check "
    "TVM_API_SCOPE / TVM_GRAPH_SCOPE",
}


class PinnedSession(requests.Session):
    """A session whose `verify` wins over REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE.

    `requests` lets those environment variables replace a session's CA bundle
    unless `verify` is passed on each call, so this passes it on each call.
    """

    def request(self, method, url, **kwargs):
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, **kwargs)


def make_session(settings: Settings) -> PinnedSession:
    """Build the process's HTTP session, trusting `TVM_CA_BUNDLE` when set."""
    session = PinnedSession()
    session.verify = str(settings.ca_bundle) if settings.ca_bundle else True
    session.headers["User-Agent"] = "tvm-remediation-dashboard"
    return session


def describe_tls_failure(url: str) -> str:
    host = urlsplit(url).netloc
    return (
        f"The certificate of {host} is not trusted: set TVM_CA_BUNDLE to the PEM "
        "file of the CA that signed it (for the demo emulator, the CA file it "
        "prints at start)."
    )


def describe_unreadable_ca(exc: OSError) -> str:
    return (
        f"The CA file to trust could not be read ({exc}): check TVM_CA_BUNDLE, "
        "and REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE when TVM_CA_BUNDLE is not set."
    )


class TokenProvider:
    """Access tokens for one scope from one long-lived MSAL app.

    MSAL caches the token in memory and renews it shortly before it expires.

    Args:
        settings: deployment settings (tenant, client id and secret, authority).
        scope: the `.default` scope of the API the tokens are for.
        session: the HTTP session MSAL should use.
    """

    def __init__(self, settings: Settings, scope: str, session: requests.Session):
        settings.require_credentials()
        self.scope = scope
        self._settings = settings
        self._session = session
        self._authority = f"{settings.authority_host.rstrip('/')}/{settings.tenant_id}"
        self._app: msal.ConfidentialClientApplication | None = None

    def token(self) -> str:
        """Return a valid access token, asking Entra ID only when none is cached.

        Raises:
            AuthError: Entra ID refused; the message names the setting to check.
            TlsError: the sign-in host's certificate is not trusted.
        """
        try:
            result = self._build_app().acquire_token_for_client(scopes=[self.scope])
        except requests.exceptions.SSLError as exc:
            raise TlsError(describe_tls_failure(self._authority)) from exc
        except requests.RequestException as exc:
            raise AuthError(
                f"Cannot reach the sign-in service at {self._authority} "
                f"({type(exc).__name__}): check TVM_AUTHORITY_HOST and "
                "TVM_TENANT_ID."
            ) from exc
        except OSError as exc:
            # requests raises a bare OSError when the CA file cannot be read.
            raise TlsError(describe_unreadable_ca(exc)) from exc
        except ValueError as exc:
            # MSAL's tenant discovery was answered, but not for this tenant.
            raise AuthError(
                f"The sign-in service does not recognise {self._authority} as a "
                "tenant: check TVM_TENANT_ID and TVM_AUTHORITY_HOST."
            ) from exc
        if "access_token" not in result:
            raise AuthError(_explain_refusal(result, self.scope))
        log.debug("token for %s from %s", self.scope, result.get("token_source"))
        return result["access_token"]

    def _build_app(self) -> msal.ConfidentialClientApplication:
        # MSAL reads the authority's OpenID configuration when built, so building
        # waits for the first token and its network errors are explained above.
        if self._app is None:
            host = urlsplit(self._settings.authority_host).hostname or ""
            self._app = msal.ConfidentialClientApplication(
                self._settings.client_id,
                client_credential=self._settings.client_secret,
                authority=self._authority,
                http_client=self._session,
                instance_discovery=host in MICROSOFT_LOGIN_HOSTS,
            )
        return self._app

    def drop(self) -> None:
        """Forget cached tokens so the next call asks Entra ID again."""
        if self._app is not None:
            self._app.remove_tokens_for_client()


def _explain_refusal(result: dict, scope: str) -> str:
    description = result.get("error_description") or ""
    for code, hint in _AADSTS_HINTS.items():
        if code in description:
            return f"Entra ID refused the token for {scope}: {hint}."
    error = result.get("error", "unknown error")
    first_line = description.splitlines()[0] if description else ""
    return (
        f"Entra ID refused the token for {scope} ({error}: {first_line}): "
        "check TVM_TENANT_ID, TVM_CLIENT_ID and TVM_CLIENT_SECRET."
    )
