"""The exceptions `tvmdata` raises. Each message is one sentence a user can act on."""

import errno

import duckdb


class TvmError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(TvmError):
    """A setting is missing or malformed."""


class AuthError(TvmError):
    """Sign-in to Microsoft Entra ID failed (wrong tenant, client id or secret)."""


class PermissionMissing(TvmError):
    """The API answered 403: the app registration lacks a permission."""


class QuotaExhausted(TvmError):
    """The API kept answering 429 after the bounded number of retries."""


class ApiError(TvmError):
    """The API answered with an error the client could not recover from."""


class InvalidResponse(TvmError):
    """The API answered 200 with a body that is not valid JSON or of the wrong shape."""


class TlsError(TvmError):
    """The server's certificate is not trusted."""


class DatabaseLocked(TvmError):
    """The DuckDB file stayed locked by another process for longer than the wait."""


class TenantMismatch(TvmError):
    """The database holds another tenant's data."""


class SyncAlreadyRunning(TvmError):
    """Another sync holds the sync lock."""


class StoreError(TvmError):
    """The database file cannot be used (corrupt, foreign or too new)."""


class SyncFailed(TvmError):
    """A sync run stopped on an unexpected fault; the previous data is unchanged."""


class SignInRequired(TvmError):
    """Sign-in is on and nobody is signed in."""


class AccessRefused(TvmError):
    """The user may not use the dashboard, or may not do what was tried."""


class FieldsRefused(TvmError):
    """A form cannot be saved; `errors` maps each field to a sentence saying
    what to fix, so a page can show each message next to its field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_DISK_FULL_WORDS = ("no space left", "file too large", "disk quota")


def is_disk_full(exc: BaseException) -> bool:
    """True for a write refused because the disk (or a size limit) is full,
    raised by Python (OSError) or by DuckDB (which reports it in its message)."""
    if isinstance(exc, OSError):
        return exc.errno in _DISK_FULL_ERRNOS
    return isinstance(exc, duckdb.Error) and any(
        word in str(exc).lower() for word in _DISK_FULL_WORDS
    )
