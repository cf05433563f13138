"""Deployment settings: environment (`TVM_*`) over `.streamlit/secrets.toml` over
defaults.

These are the settings an operator sets once per deployment (tenant, credentials,
API hosts, scopes, CA bundle, database path, pacing). They are shown read-only in
the dashboard. Settings that users change at run time live in the database.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from tvmdata.errors import ConfigError

SECRETS_FILE = Path(".streamlit/secrets.toml")
SECRETS_TABLE = "tvm"


@dataclass(frozen=True)
class Settings:
    """Every deployment setting, typed. Field `x` is read from `TVM_X`."""

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    api_base: str = "https://api.security.microsoft.com"
    api_scope: str = "https://api.securitycenter.microsoft.com/.default"
    graph_base: str = "https://graph.microsoft.com/beta"
    graph_scope: str = "https://graph.microsoft.com/.default"
    authority_host: str = "https://login.microsoftonline.com"
    ca_bundle: Path | None = None
    page_size: int = 10000
    # A tenth under Defender's documented limits (100 a minute, 1,500 an hour
    # per app and tenant), so a paced client never reaches them.
    max_calls_per_minute: int = 90
    max_calls_per_hour: int = 1350
    db: Path = Path("data/tvm.duckdb")
    full_refresh_hours: int = 24
    lock_wait_seconds: int = 30
    # DuckDB's working memory per connection; past it, work spills to disk.
    # Keeps the sync of a 200,000-device tenant under 2 GB; 0 leaves DuckDB
    # its own limit (80% of the machine's memory).
    memory_limit_mb: int = 1024
    http_timeout_seconds: int = 60
    max_retries: int = 6
    demo: bool = False
    # "none" runs a live tenant without sign-in; see tvmdata.access.
    sign_in: str | None = None

    def __repr__(self) -> str:
        # Keeps the client secret out of logs, tracebacks and pages.
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["client_secret"]:
            shown["client_secret"] = "***"
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)

    def require_credentials(self) -> None:
        """Raise `ConfigError` naming the first missing credential setting."""
        for name in ("tenant_id", "client_id", "client_secret"):
            if not getattr(self, name):
                raise ConfigError(
                    f"{env_name(name)} is not set: put it in the environment or "
                    f"under [{SECRETS_TABLE}] in {SECRETS_FILE} "
                    "(or use the demo tenant with --demo)."
                )


def settings_environment(settings: Settings) -> dict[str, str]:
    """The `TVM_*` variables that give another process exactly these settings
    (for the sync started in the background, and for tests)."""
    environment = {}
    for field in fields(Settings):
        value = getattr(settings, field.name)
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            environment[env_name(field.name)] = text
    return environment


def env_name(field_name: str) -> str:
    return "TVM_" + field_name.upper()


def load_settings(
    environ: dict[str, str] | None = None, secrets_path: Path | None = None
) -> Settings:
    """Read the settings, environment first, then the secrets file, then defaults.

    Args:
        environ: the environment to read (default `os.environ`).
        secrets_path: the TOML file to read (default `.streamlit/secrets.toml`).

    Raises:
        ConfigError: a value is malformed; the message names the setting.
    """
    environ = os.environ if environ is None else environ
    file_values = _read_secrets(secrets_path or SECRETS_FILE)
    values = {}
    for field in fields(Settings):
        raw = environ.get(env_name(field.name))
        if raw is None or raw == "":
            raw = file_values.get(field.name)
        if raw is None or raw == "":
            continue
        values[field.name] = _convert(field.name, field.type, raw)
    return Settings(**values)


def _read_secrets(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}): fix the file.") from exc
    table = document.get(SECRETS_TABLE, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{SECRETS_TABLE}] in {path} must be a table of settings.")
    return table


def _convert(name: str, kind: str, raw):
    setting = env_name(name)
    if "int" in kind:
        return _to_int(setting, raw)
    if "bool" in kind:
        return _to_bool(setting, raw)
    if "Path" in kind:
        return _to_path(name, setting, raw)
    text = str(raw).strip()
    if name.endswith(("_base", "_host", "_scope")):
        _check_url(setting, text)
    return text


def _to_int(setting: str, raw) -> int:
    try:
        number = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{setting} must be a whole number, not {raw!r}.") from None
    if number < 0:
        raise ConfigError(f"{setting} must not be negative, got {number}.")
    if setting == "TVM_PAGE_SIZE" and not 1 <= number <= 10000:
        raise ConfigError(f"TVM_PAGE_SIZE must be between 1 and 10000, got {number}.")
    if setting == "TVM_MEMORY_LIMIT_MB" and 0 < number < 128:
        raise ConfigError(
            f"TVM_MEMORY_LIMIT_MB must be at least 128, got {number} "
            "(0 leaves DuckDB its own limit, 80% of the machine's memory)."
        )
    return number


def _to_bool(setting: str, raw) -> bool:
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{setting} must be true or false, not {raw!r}.")


def _to_path(name: str, setting: str, raw) -> Path:
    path = Path(str(raw)).expanduser()
    if name == "ca_bundle" and not _is_pem_bundle(path):
        raise ConfigError(
            f"{setting} points at {path}, which is not a PEM file of CA "
            "certificates (-----BEGIN CERTIFICATE-----): give the path of one."
        )
    return path


def _is_pem_bundle(path: Path) -> bool:
    try:
        return b"-----BEGIN CERTIFICATE-----" in path.read_bytes()
    except OSError:
        return False


def _check_url(setting: str, text: str) -> None:
    parts = urlsplit(text)
    # Plain http would send the client secret and access tokens in clear.
    if parts.scheme != "https" or not parts.netloc:
        raise ConfigError(
            f"{setting} must be an absolute https:// address, not {text!r}."
        )
