"""The HTTP client for Microsoft's APIs: pacing, paging, retries and clear errors.

`ApiClient` is the transport shared by every API (Defender today, Graph for Intune
security tasks); `DefenderClient` adds the typed fetch functions the sync uses.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import Counter, deque
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests
import tenacity

from tvmdata.auth import (
    TokenProvider,
    describe_tls_failure,
    describe_unreadable_ca,
    make_session,
)
from tvmdata.clock import SYSTEM_CLOCK
from tvmdata.config import Settings
from tvmdata.errors import (
    ApiError,
    AuthError,
    InvalidResponse,
    PermissionMissing,
    QuotaExhausted,
    TlsError,
)

log = logging.getLogger(__name__)

# A run waits for a throttled call at most this long; a longer Retry-After ends it.
MAX_RETRY_AFTER_SECONDS = 300

# The largest listing we read (a big tenant's machines) holds a few hundred
# thousand rows; a listing still going past ten times that is a server that
# does not page, so a listing stops after this many rows' worth of $top pages.
MAX_ROWS_PER_LISTING = 5_000_000
# How far back the pacing ledger is read: the longest pacing window.
LEDGER_SECONDS = 3600

# Defender's documented API hosts: both names, optionally behind a regional
# prefix. Microsoft's own examples give next-page links on the older name while
# the default base is the newer one, so a link to either is followed.
_DEFENDER_API_HOST = re.compile(
    r"(?:(?:us|eu|uk|au|swa|ina)\.)?api\.(?:security|securitycenter)\.microsoft\.com"
)

GONE = None
"""What a child-collection fetch returns when its parent no longer exists (404)."""

# The application permission each Defender collection needs, for 403 messages.
PERMISSIONS = {
    "remediationTasks": "RemediationTasks.Read.All",
    "recommendations": "SecurityRecommendation.Read.All",
    "machines": "Machine.Read.All",
    "deviceAppManagement": "DeviceManagementApps.ReadWrite.All",
}
_PERMISSION_IN_MESSAGE = re.compile(r"\b([A-Z][A-Za-z]+(?:\.[A-Z][A-Za-z]+)+\.All)\b")


class NotFound(ApiError):
    """The API answered 404 for this path."""


class _Retryable(Exception):
    """One failed attempt that is worth repeating after a wait."""

    def __init__(self, kind: str, status: int | None, retry_after: float | None):
        super().__init__(kind)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


class Pacer:
    """Keeps calls under a per-minute and a per-hour limit (sliding windows).

    Defender's limits hold per app and tenant, not per process: with a `ledger`
    file, every call's moment is appended there and a new pacer starts from
    the last hour's calls of earlier processes, so back-to-back syncs (cron, Sync
    now) stay under the hourly limit together.

    Args:
        per_minute: most calls in any 60 seconds; 0 turns this limit off.
        per_hour: most calls in any 3,600 seconds; 0 turns this limit off.
        clock: where time comes from and how waiting happens.
        ledger: the file of call moments shared by processes for one tenant.
    """

    def __init__(self, per_minute: int, per_hour: int, clock=SYSTEM_CLOCK, ledger=None):
        self._windows = [
            (w, n, deque()) for w, n in ((60, per_minute), (3600, per_hour)) if n
        ]
        self._clock = clock
        self._lock = threading.Lock()
        self._ledger = ledger if self._windows else None
        self.waited = 0.0
        self._load_ledger()

    def wait_turn(self) -> None:
        """Block until one more call fits under every limit, then count it."""
        with self._lock:
            delay = self._delay_needed(self._clock.monotonic())
            if delay > 0:
                self.waited += delay
                self._clock.sleep(delay)
            now = self._clock.monotonic()
            for _, _, stamps in self._windows:
                stamps.append(now)
            self._record(self._clock.now().timestamp())

    def _load_ledger(self) -> None:
        """Count the last hour's calls from the ledger, and keep only those."""
        if self._ledger is None:
            return
        wall, mono = self._clock.now().timestamp(), self._clock.monotonic()
        try:
            text = self._ledger.read_text() if self._ledger.exists() else ""
            recent = sorted(
                moment
                for moment in _moments(text)
                if wall - LEDGER_SECONDS < moment <= wall
            )
            _replace(self._ledger, "".join(f"{m:.3f}\n" for m in recent))
        except OSError as exc:
            self._ledger_failed(exc)
            return
        for moment in recent:
            for _, _, stamps in self._windows:
                stamps.append(mono - (wall - moment))
        if recent:
            log.info("pacing counts %d calls of the last hour", len(recent))

    def _record(self, moment: float) -> None:
        if self._ledger is None:
            return
        try:
            with self._ledger.open("a") as handle:
                handle.write(f"{moment:.3f}\n")
        except OSError as exc:
            self._ledger_failed(exc)

    def _ledger_failed(self, exc: OSError) -> None:
        # Pacing within this process still holds; only the sharing is lost.
        log.warning(
            "pacing ledger %s unusable (%s): this run paces on its own calls",
            self._ledger,
            exc.strerror or exc,
        )
        self._ledger = None

    def _delay_needed(self, now: float) -> float:
        delay = 0.0
        for window, limit, stamps in self._windows:
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= limit:
                delay = max(delay, stamps[len(stamps) - limit] + window - now)
        return delay


def _moments(text: str) -> Iterator[float]:
    for line in text.splitlines():
        try:
            yield float(line)
        except ValueError:
            continue  # a line cut short by a killed process


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    partial.write_text(text)
    partial.replace(path)


def pacing_ledger(settings: Settings) -> Path:
    """The file where calls to Defender for this database's tenant are counted."""
    return Path(str(settings.db) + ".calls")


class _PagingGuard:
    """Stops a listing whose server does not page: a next-page link seen before,
    a page repeating earlier rows, or more pages than any real listing has."""

    def __init__(self, path: str, top: int):
        self.path = path
        self.max_pages = math.ceil(MAX_ROWS_PER_LISTING / top) + 1
        self.pages = 0
        self._links: set[str] = set()
        self._ids: set = set()
        self._previous: list[dict] | None = None

    def count_page(self) -> None:
        self.pages += 1
        if self.pages > self.max_pages:
            raise InvalidResponse(
                f"GET {self.path} was still giving pages after {self.max_pages:,} "
                "of them; paging stopped: check that TVM_API_BASE is Defender's API."
            )

    def check_link(self, link: str) -> str:
        if link in self._links:
            raise InvalidResponse(
                f"GET {self.path} gave the same next-page link twice; paging stopped."
            )
        self._links.add(link)
        return link

    def check_rows(self, rows: list[dict]) -> None:
        ids = [row.get("id") for row in rows]
        known = all(isinstance(i, str | int) for i in ids)
        if rows and (rows == self._previous or known and self._ids.issuperset(ids)):
            raise InvalidResponse(
                f"GET {self.path} answered the next page with rows it had already "
                "given (it ignores $skip); paging stopped: check that TVM_API_BASE "
                "is Defender's API."
            )
        self._previous = rows
        if known:
            self._ids.update(ids)


class ApiClient:
    """Authenticated JSON calls to one API, paced, retried and logged.

    Args:
        base: the API's base address, e.g. `https://api.security.microsoft.com`.
        tokens: where access tokens for this API come from.
        settings: pacing, page size, retry and timeout settings.
        session: the process's HTTP session.
        clock: injectable time, so tests never really sleep.
        ledger: a file shared with other processes that call the same API for
            the same tenant, so pacing counts their calls too (see `Pacer`).
    """

    def __init__(
        self, base, tokens, settings, session, clock=SYSTEM_CLOCK, ledger=None
    ):
        self.base = base.rstrip("/")
        self.calls_by_endpoint: Counter = Counter()
        self._tokens = tokens
        self._settings = settings
        self._session = session
        self._clock = clock
        self._pacer = Pacer(
            settings.max_calls_per_minute, settings.max_calls_per_hour, clock, ledger
        )

    def get_json(self, path_or_url: str, params: dict | None = None) -> dict:
        """GET one document, following the retry rules; return the parsed body.

        Raises:
            PermissionMissing, AuthError, QuotaExhausted, NotFound, ApiError,
            InvalidResponse, TlsError: each with a message naming the endpoint.
        """
        return self.request("GET", path_or_url, params=params)

    def iter_pages(self, path: str, params: dict | None = None) -> Iterator[list[dict]]:
        """Yield the `value` list of each page of a collection.

        Follows `@odata.nextLink` verbatim when the API gives one; otherwise asks
        for `$top`/`$skip` pages until a page comes back shorter than `$top`.

        Raises:
            InvalidResponse: a next-page link to a host that must not get the
                token, or a server that does not page (see `_PagingGuard`).
        """
        top = self._settings.page_size
        query = dict(params or {}, **{"$top": top, "$skip": 0})
        url, followed_link = path, False
        guard = _PagingGuard(path, top)
        while True:
            guard.count_page()
            body = self.get_json(url, None if followed_link else query)
            rows = _page_rows(body, path)
            next_link = body.get("@odata.nextLink")
            if next_link:
                next_link = guard.check_link(self._followable(next_link, path))
            guard.check_rows(rows)
            yield rows
            if next_link:
                url, followed_link = next_link, True
            elif followed_link or len(rows) < top:
                return
            else:
                query["$skip"] += top

    def _followable(self, link, path: str) -> str:
        """`link` with its scheme and host in lower case, if the token may go
        there: https to the configured host or a documented Defender API host."""
        link = str(link)
        target = urlsplit(link)
        origin = f"{target.scheme}://{target.netloc}"
        # urlsplit drops stray whitespace: a link must start with its own origin.
        starts_clean = link[: len(origin)].lower() == origin.lower()
        if not (starts_clean and self._may_receive_token(target)):
            shown = origin if target.netloc else link
            raise InvalidResponse(
                f"GET {path} gave a next-page link to another host ({shown[:200]}); "
                "it was not followed, so the access token stayed with Defender."
            )
        return f"https://{target.netloc.lower()}{link[len(origin) :]}"

    def _may_receive_token(self, target) -> bool:
        try:
            port = target.port or 443
        except ValueError:
            return False
        if target.scheme != "https" or "@" in target.netloc:
            return False
        base = urlsplit(self.base)
        if (target.hostname, port) == (base.hostname, base.port or 443):
            return True
        host = target.hostname or ""
        return port == 443 and bool(_DEFENDER_API_HOST.fullmatch(host))

    def request(
        self, method: str, path_or_url: str, *, retry: bool = True, **kwargs
    ) -> dict:
        """Send one call with pacing and bounded retries; return the JSON body.

        Args:
            method: the HTTP method.
            path_or_url: a path under the base, or a full URL.
            retry: False sends the call once (a 401 still renews the token and
                tries again): for writes that must not repeat on their own, or
                callers that queue and retry later. Errors then carry `status`
                and, for 429, `retry_after` (seconds, or None).
            **kwargs: passed to `requests`, e.g. `json=` for a body.

        Returns:
            The parsed JSON object; `{}` for an answer without a body (204).
        """
        url = self._absolute(path_or_url)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(
                lambda exc: (
                    isinstance(exc, _Retryable)
                    and (retry or exc.kind == "unauthorized")
                )
            ),
            wait=self._wait_before_retry,
            stop=tenacity.stop_after_attempt(self._settings.max_retries + 1),
            sleep=self._clock.sleep,
            reraise=True,
        )
        refreshed = []
        try:
            return retrying(self._attempt, method, url, refreshed, **kwargs)
        except _Retryable as exc:
            tries = retrying.statistics.get("attempt_number", 1)
            raise self._give_up(exc, method, url, tries) from None

    def _attempt(self, method, url, refreshed, **kwargs) -> dict:
        self._pacer.wait_turn()
        started = self._clock.monotonic()
        response = self._send(method, url, **kwargs)
        self.calls_by_endpoint[self._endpoint(method, url)] += 1
        body = self._check(response, method, url, refreshed)
        elapsed_ms = (self._clock.monotonic() - started) * 1000
        rows = len(body["value"]) if isinstance(body.get("value"), list) else 1
        log.info(
            "%s %s %s rows=%d %.0fms",
            method,
            _loggable(response.url or url),
            response.status_code,
            rows,
            elapsed_ms,
        )
        return body

    def _endpoint(self, method: str, url: str) -> str:
        """The name a call is counted under in `calls_by_endpoint`."""
        return _endpoint_name(url)

    def _send(self, method, url, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._tokens.token()}"}
        headers["Accept"] = "application/json"
        try:
            return self._session.request(
                method,
                url,
                headers=headers,
                timeout=self._settings.http_timeout_seconds,
                **kwargs,
            )
        except requests.exceptions.SSLError as exc:
            raise TlsError(describe_tls_failure(url)) from exc
        except requests.RequestException as exc:
            log.warning("%s %s failed: %s", method, _loggable(url), type(exc).__name__)
            raise _Retryable("network", None, None) from exc
        except OSError as exc:
            # requests raises a bare OSError when the CA file cannot be read.
            raise TlsError(describe_unreadable_ca(exc)) from exc

    def _check(self, response, method, url, refreshed) -> dict:
        status = response.status_code
        if status == 401 and not refreshed:
            # A revoked or expired token: drop the cache and try once more.
            log.info("%s %s 401: renewing the token", method, _loggable(url))
            refreshed.append(True)
            self._tokens.drop()
            raise _Retryable("unauthorized", status, 0)
        if status == 429:
            log.info("%s %s 429 throttled", method, _loggable(url))
            wait = _checked_wait(response, method, url, self._clock.now())
            raise _Retryable("throttled", status, wait)
        if status >= 500:
            log.warning("%s %s answered %s", method, _loggable(url), status)
            wait = _checked_wait(response, method, url, self._clock.now())
            raise _Retryable("server", status, wait)
        if status >= 400:
            raise _client_error(response, method, url)
        if status == 204:
            return {}
        return _parse_json(response, method, url)

    def _wait_before_retry(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception()
        if exc.retry_after is not None:
            return exc.retry_after
        return min(60.0, 2.0**state.attempt_number)

    def _give_up(self, exc: _Retryable, method, url, tries: int) -> Exception:
        error = self._give_up_error(exc, method, url, tries)
        error.status, error.retry_after = exc.status, exc.retry_after
        return error

    def _give_up_error(self, exc: _Retryable, method, url, tries) -> Exception:
        endpoint = f"{method} {_loggable(url)}"
        if exc.kind == "throttled":
            return QuotaExhausted(
                f"{endpoint} was still throttled (429) after {tries} tries: the "
                "tenant's API quota is exhausted; wait an hour or lower "
                "TVM_MAX_CALLS_PER_MINUTE / TVM_MAX_CALLS_PER_HOUR, then sync again."
            )
        if exc.kind == "network":
            return ApiError(
                f"{endpoint} could not be reached after {tries} tries: check the "
                "network and TVM_API_BASE / TVM_GRAPH_BASE."
            )
        return ApiError(
            f"{endpoint} answered HTTP {exc.status} after {tries} tries: the "
            "service is failing; try again later."
        )

    def _absolute(self, path_or_url: str) -> str:
        if path_or_url.startswith(("https://", "http://")):
            return path_or_url
        return f"{self.base}/{path_or_url.lstrip('/')}"


class DefenderClient(ApiClient):
    """The Defender for Endpoint API calls the sync needs."""

    def fetch_remediation_tasks(
        self, status: str | None = None
    ) -> Iterator[list[dict]]:
        """Yield pages of remediation activities (optionally of one status)."""
        params = {"$filter": f"status eq '{status}'"} if status else None
        return self.iter_pages("/api/remediationTasks", params)

    def fetch_remediation_task(self, task_id: str) -> dict:
        """Return one remediation activity; raises `NotFound` when it is gone."""
        return self.get_json(f"/api/remediationTasks/{_quote(task_id)}")

    def fetch_task_devices(self, task_id: str) -> list[dict] | None:
        """Return an activity's exposed devices, or `GONE` if it no longer exists."""
        return _collect(self.iter_task_device_pages(task_id))

    def iter_task_device_pages(self, task_id: str) -> Iterator[list[dict]]:
        """Yield pages of an activity's exposed devices; `NotFound` when gone."""
        path = f"/api/remediationTasks/{_quote(task_id)}/machineReferences"
        return self.iter_pages(path)

    def fetch_recommendations(self) -> Iterator[list[dict]]:
        """Yield pages of security recommendations."""
        return self.iter_pages("/api/recommendations")

    def fetch_recommendation_devices(self, recommendation_id: str) -> list[dict] | None:
        """Return a recommendation's exposed devices, or `GONE`."""
        return _collect(self.iter_recommendation_device_pages(recommendation_id))

    def iter_recommendation_device_pages(self, rec_id: str) -> Iterator[list[dict]]:
        """Yield pages of a recommendation's exposed devices; `NotFound` when gone."""
        path = f"/api/recommendations/{_quote(rec_id)}/machineReferences"
        return self.iter_pages(path)

    def fetch_machines(self) -> Iterator[list[dict]]:
        """Yield pages of onboarded machines (devices)."""
        return self.iter_pages("/api/machines")


def connect_defender(settings: Settings, clock=SYSTEM_CLOCK, session=None):
    """Build a `DefenderClient` from settings, with its own MSAL token provider."""
    session = session or make_session(settings)
    tokens = TokenProvider(settings, settings.api_scope, session)
    return DefenderClient(
        settings.api_base, tokens, settings, session, clock, pacing_ledger(settings)
    )


def _collect(pages: Iterator[list[dict]]) -> list[dict] | None:
    rows = []
    try:
        for page in pages:
            rows.extend(page)
    except NotFound:
        return GONE
    return rows


def _quote(identifier: str) -> str:
    return quote(str(identifier), safe="")


def _page_rows(body: dict, path: str) -> list[dict]:
    rows = body.get("value")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidResponse(
            f"GET {path} answered without a list of objects in `value`: the API "
            "changed shape or the address is not a Defender API (check TVM_API_BASE)."
        )
    return rows


def _parse_json(response: requests.Response, method: str, url: str) -> dict:
    try:
        body = json.loads(response.content, parse_constant=_refuse_constant)
    except ValueError as exc:
        reason = f"{exc.msg} at line {exc.lineno}" if hasattr(exc, "msg") else exc
        raise InvalidResponse(
            f"{method} {_loggable(url)} answered with a response that is not valid "
            f"JSON ({reason}); nothing from it was used."
        ) from None
    if not isinstance(body, dict):
        raise InvalidResponse(
            f"{method} {_loggable(url)} answered with JSON that is not an object."
        )
    return body


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON")


def _client_error(response, method: str, url: str) -> Exception:
    endpoint = f"{method} {_loggable(url)}"
    message = _error_message(response)
    if response.status_code == 403:
        permission = _needed_permission(message, url)
        return PermissionMissing(
            f"{endpoint} was refused (403): the app registration lacks the "
            f"application permission {permission}; grant it and give admin "
            "consent, then try again."
        )
    if response.status_code == 401:
        return AuthError(
            f"{endpoint} refused the token twice (401): check that TVM_API_SCOPE "
            "or TVM_GRAPH_SCOPE names this API and that the app is in this tenant."
        )
    if response.status_code == 404:
        return NotFound(f"{endpoint} was not found (404).")
    error = ApiError(f"{endpoint} answered HTTP {response.status_code}: {message}")
    error.status = response.status_code
    return error


def _needed_permission(message: str, url: str) -> str:
    found = _PERMISSION_IN_MESSAGE.search(message)
    if found:
        return found.group(1)
    path = urlsplit(url).path
    for segment, permission in PERMISSIONS.items():
        if f"/{segment}" in path:
            return permission
    return "this API needs"


def _error_message(response) -> str:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return response.text[:200]
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")[:500]
    return str(error)[:500]


def _checked_wait(response, method: str, url: str, now: datetime) -> float | None:
    wait = _retry_after(response, now)
    if wait is None or wait <= MAX_RETRY_AFTER_SECONDS:
        return wait
    endpoint, status = f"{method} {_loggable(url)}", response.status_code
    shown = f"{wait:.0f} s" if wait <= 86400 else "more than a day"
    asked = (
        f"asked to wait {shown} (more than the {MAX_RETRY_AFTER_SECONDS // 60} "
        "minutes a run waits)"
    )
    if status == 429:
        error = QuotaExhausted(
            f"{endpoint} {asked}: the tenant's API quota is exhausted; sync again "
            "later."
        )
    else:
        error = ApiError(
            f"{endpoint} answered HTTP {status}: the service is unavailable and "
            f"{asked}; try again later."
        )
    error.status, error.retry_after = status, wait
    raise error


def _retry_after(response, now: datetime) -> float | None:
    """Seconds the server asks to wait, a number or an HTTP date counted from
    `now`; None when absent or unusable (NaN, infinite, negative, unreadable),
    so the normal back-off applies."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, now)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        moment = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, OverflowError):
        return None
    if moment.tzinfo is None:
        # "-0000" gives a naive time; RFC 5322 still means UTC by it.
        moment = moment.replace(tzinfo=UTC)
    # A moment already past means "now", not an unusable value.
    return max(0.0, (moment - now).total_seconds())


def _endpoint_name(url: str) -> str:
    """`/api/remediationTasks/abc/machineReferences` -> `remediationTasks/{id}/...`"""
    segments = urlsplit(url).path.strip("/").split("/")
    if segments and segments[0] == "api":
        segments = segments[1:]
    return "/".join("{id}" if i == 1 else s for i, s in enumerate(segments))


def _loggable(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
