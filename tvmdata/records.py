"""Turn raw API objects into rows of the store, whatever shape they arrive in.

The Defender API drifts from its documentation: optional fields are absent, null
or empty strings; `rbacGroupNames` is a list or null; `rbacGroupId` a number or a
string; timestamps carry 0 to 7 fractional digits with or without a zone; new
fields appear without notice. Every function here returns a dict whose keys are
the store's column names, or raises `InvalidRecord` for an object that cannot be
used at all (then the sync skips it and counts it).
"""

from __future__ import annotations

import ast
import logging
from datetime import UTC, datetime

log = logging.getLogger(__name__)

UNASSIGNED_ID = 0
UNASSIGNED_NAME = "Unassigned"
# Names Defender uses for devices outside every device group.
_UNASSIGNED_NAMES = {"", "unassignedgroup", "unassigned"}

_TASK_FIELDS = {
    "title": "title",
    "description": "description",
    "relatedComponent": "related_component",
    "requesterId": "requester_id",
    "requesterEmail": "requester_email",
    "requesterNotes": "requester_notes",
    "status": "status",
    "type": "remediation_type",
    "category": "category",
    "productivityImpactRemediationType": "productivity_impact",
    "priority": "priority",
    "completionMethod": "completion_method",
    "completerId": "completer_id",
    "completerEmail": "completer_email",
    "scid": "scid",
    "productId": "product_id",
    "vendorId": "vendor_id",
    "nameId": "name_id",
    "recommendedVersion": "recommended_version",
    "recommendedVendor": "recommended_vendor",
    "recommendedProgram": "recommended_program",
}
_TASK_TIMES = {"createdOn": "created_on", "statusLastModifiedOn": "status_changed_on"}
_TASK_COUNTS = {"targetDevices": "target_devices", "fixedDevices": "fixed_devices"}
_ALWAYS_KNOWN = {"@odata.context", "id", "dueOn", "rbacGroupNames"}

_REC_FIELDS = {
    "recommendationName": "name",
    "productName": "product_name",
    "vendor": "vendor",
    "recommendedVersion": "recommended_version",
    "recommendationCategory": "category",
    "subCategory": "sub_category",
    "remediationType": "remediation_type",
    "status": "status",
    "relatedComponent": "related_component",
}
_REC_COUNTS = {
    "weaknesses": "weaknesses",
    "totalMachineCount": "total_devices",
    "exposedMachinesCount": "exposed_devices",
    "nonProductivityImpactedAssets": "no_user_impact_devices",
    "exposedCriticalDevices": "exposed_critical_devices",
}
_REC_NUMBERS = {
    "severityScore": "severity_score",
    "configScoreImpact": "config_score_impact",
    "exposureImpact": "exposure_impact",
}
_REC_FLAGS = {"publicExploit": "public_exploit", "activeAlert": "active_alert"}
_REC_LISTS = {"associatedThreats": "associated_threats", "tags": "tags"}

_MACHINE_FIELDS = {
    "computerDnsName": "computer_dns_name",
    "osPlatform": "os_platform",
    "version": "os_version",
    "healthStatus": "health_status",
    "onboardingStatus": "onboarding_status",
    "exposureLevel": "exposure_level",
    "riskScore": "risk_score",
    "deviceValue": "device_value",
    "mergedIntoMachineId": "merged_into",
    "managedBy": "managed_by",
}
_MACHINE_TIMES = {"firstSeen": "first_seen", "lastSeen": "last_seen"}

_REF_FIELDS = {
    "computerDnsName": "computer_dns_name",
    "osPlatform": "os_platform",
}

_reported_unknown: set[tuple[str, str]] = set()


class InvalidRecord(ValueError):
    """An API object that cannot be stored (not an object, or without an id)."""


NULLED = "_nulled"
"""Key of the list of fields whose values were unusable and stored as NULL; the
staging area pops it to count them."""


class _Reader:
    """Reads the fields of one raw object; an unusable value in an optional field
    becomes None and is noted, so one odd field never costs the whole record."""

    def __init__(self, raw, kind: str):
        if not isinstance(raw, dict):
            raise InvalidRecord(f"expected an object, got {type(raw).__name__}")
        self.raw = raw
        self.kind = kind
        self.nulled: list[str] = []

    def value(self, parse, field: str, default=None):
        try:
            parsed = parse(self.raw.get(field), field)
        except InvalidRecord:
            self.nulled.append(field)
            return default
        return default if parsed is None else parsed

    def columns(self, parse, mapping: dict[str, str]) -> dict:
        return {column: self.value(parse, key) for key, column in mapping.items()}

    def identifier(self, column: str) -> dict:
        try:
            identifier = parse_text(self.raw.get("id"))
        except InvalidRecord:
            identifier = None
        if not identifier:
            keys = sorted(self.raw)[:8]
            raise InvalidRecord(f"{self.kind} without an id (keys: {keys})")
        return {column: identifier}

    def finish(self, row: dict, *known: dict) -> dict:
        row[NULLED] = self.nulled
        _note_unknown(self.kind, self.raw, *known)
        return row


def normalize_task(raw: dict) -> dict:
    """Map a remediation activity object to a row of `activities`."""
    read = _Reader(raw, "remediationTask")
    row = read.identifier("activity_id")
    row.update(read.columns(_text, _TASK_FIELDS))
    row.update(read.columns(parse_timestamp, _TASK_TIMES))
    row.update(read.columns(parse_count, _TASK_COUNTS))
    row["due_on"] = read.value(parse_date, "dueOn")
    names = read.value(_text_list, "rbacGroupNames", default=[])
    row["device_groups"] = [group_display_name(n) for n in names]
    return read.finish(row, _TASK_FIELDS, _TASK_TIMES, _TASK_COUNTS)


def normalize_recommendation(raw: dict) -> dict:
    """Map a security recommendation object to a row of `recommendations`."""
    read = _Reader(raw, "recommendation")
    row = read.identifier("recommendation_id")
    row.update(read.columns(_text, _REC_FIELDS))
    row.update(read.columns(parse_count, _REC_COUNTS))
    row.update(read.columns(parse_number, _REC_NUMBERS))
    row.update(read.columns(parse_flag, _REC_FLAGS))
    for key, column in _REC_LISTS.items():
        row[column] = read.value(_text_list, key, default=[])
    return read.finish(row, _REC_FIELDS, _REC_COUNTS, _REC_NUMBERS, _REC_FLAGS)


def normalize_machine(raw: dict) -> dict:
    """Map a machine object to a row of `machines` (with its device group)."""
    read = _Reader(raw, "machine")
    row = read.identifier("machine_id")
    row.update(read.columns(_text, _MACHINE_FIELDS))
    row.update(read.columns(parse_timestamp, _MACHINE_TIMES))
    group_id = read.value(parse_count, "rbacGroupId")
    group_name = read.value(_text, "rbacGroupName")
    row["group_id"], row["group_name"] = parse_group(group_id, group_name)
    row["machine_tags"] = read.value(_text_list, "machineTags", default=[])
    row["is_excluded"] = read.value(parse_flag, "isExcluded")
    row[NULLED] = read.nulled
    return row


def normalize_device_ref(raw: dict, parent_id: str) -> dict:
    """Map an exposed-device reference (`machineReferences`) to a row."""
    read = _Reader(raw, "machineReference")
    row = read.identifier("machine_id")
    row.update(read.columns(_text, _REF_FIELDS))
    row["parent_id"] = parent_id
    name = read.value(_text, "rbacGroupName")
    row["group_name"] = group_display_name(name) if name is not None else None
    row[NULLED] = read.nulled
    return row


def parse_group(group_id, group_name) -> tuple[int | None, str]:
    """Return the device group's (id, display name), folding every form of
    "no group" (id 0, null or empty name, `UnassignedGroup`) into Unassigned."""
    name = parse_text(group_name)
    number = parse_count(group_id, "rbacGroupId")
    if number in (None, UNASSIGNED_ID) and _is_unassigned(name):
        return UNASSIGNED_ID, UNASSIGNED_NAME
    if number == UNASSIGNED_ID or (name and _is_unassigned(name)):
        return UNASSIGNED_ID, UNASSIGNED_NAME
    # Without an id the group is matched by name when the sync merges.
    return number, name or f"Group {number}"


def group_display_name(name: str | None) -> str:
    return UNASSIGNED_NAME if _is_unassigned(name) else name


def parse_text(value) -> str | None:
    """Absent, null and empty or blank strings all become None."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise InvalidRecord(f"expected text, got {type(value).__name__}")
    # Lone surrogates (broken UTF-16 in the source) cannot be stored as UTF-8.
    text = str(value).encode("utf-8", "replace").decode("utf-8").strip()
    return text or None


def parse_text_list(value) -> list[str]:
    """A list of names: lists stay lists, null and empty mean no names, and a
    list sent as text (`["A", "B"]` or `['A', 'B']`) is read as that list; any
    other text is one name."""
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        listed = _list_in_text(value)
        value = [value] if listed is None else listed
    if not isinstance(value, list):
        raise InvalidRecord(f"expected a list of names, got {type(value).__name__}")
    return [t for t in (parse_text(v) for v in value) if t is not None]


def _list_in_text(text: str) -> list | None:
    """The names of a list written as text, or None when `text` is not one."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return None
    try:
        found = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(found, list):
        return None
    if not all(isinstance(item, str) or item is None for item in found):
        return None
    return found


def parse_count(value, field: str) -> int | None:
    """Whole numbers, also when sent as strings; None when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRecord(f"{field} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRecord(f"{field} must be a number, got {value!r}") from None
    if not number.is_integer() or abs(number) > 2**31 - 1:
        raise InvalidRecord(f"{field} must be a whole number, got {value!r}")
    return int(number)


def parse_number(value, field: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRecord(f"{field} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidRecord(f"{field} must be a number, got {value!r}") from None


def parse_flag(value, field: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise InvalidRecord(f"{field} must be true or false, got {value!r}")


def parse_timestamp(value, field: str = "timestamp") -> str | None:
    """Parse an API timestamp into an ISO string in UTC.

    Accepts 0 to 7 fractional digits (beyond 6 are cut, not rounded), `Z` or an
    offset, or no zone at all (then UTC).
    """
    text = parse_text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.upper())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    except (ValueError, OverflowError):
        raise InvalidRecord(f"{field} is not a timestamp: {text[:40]!r}") from None


def parse_date(value, field: str = "date") -> str | None:
    """A due date as YYYY-MM-DD: the calendar day the value names, in its own
    offset when it has one (`2021-02-11T00:00:00+01:00` is 11 February), since
    a due date is a day someone chose, not a moment."""
    parse_timestamp(value, field)  # one rule for what counts as a timestamp
    text = parse_text(value)
    if text is None:
        return None
    return datetime.fromisoformat(text.upper()).date().isoformat()


def _text(value, field: str) -> str | None:
    try:
        return parse_text(value)
    except InvalidRecord as exc:
        raise InvalidRecord(f"{field}: {exc}") from None


def _text_list(value, field: str) -> list[str]:
    try:
        return parse_text_list(value)
    except InvalidRecord as exc:
        raise InvalidRecord(f"{field}: {exc}") from None


def _is_unassigned(name: str | None) -> bool:
    return name is None or name.strip().lower() in _UNASSIGNED_NAMES


def _note_unknown(kind: str, raw: dict, *mappings: dict) -> None:
    known = set().union(*mappings) | _ALWAYS_KNOWN | set(_REC_LISTS)
    for key in raw.keys() - known:
        if (kind, key) not in _reported_unknown:
            _reported_unknown.add((kind, key))
            log.debug("ignoring unknown %s field %r", kind, key)
