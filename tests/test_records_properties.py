"""Property-based tests of record parsing: whatever the API sends, parsing never
crashes; a valid record keeps its values; an invalid one is skipped, counted
and logged once."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tvmdata import records
from tvmdata.records import InvalidRecord
from tvmdata.staging import StagingArea

NORMALIZERS = {
    "task": records.normalize_task,
    "recommendation": records.normalize_recommendation,
    "machine": records.normalize_machine,
    "reference": lambda raw: records.normalize_device_ref(raw, "parent"),
}

# Anything JSON can carry, with nasty strings: unicode, control characters,
# lone surrogates, SQL and markup, and huge values.
nasty_text = st.one_of(
    st.text(),
    st.sampled_from(
        [
            "",
            " ",
            "'; drop table activities; --",
            "<script>alert(1)</script>",
            '=HYPERLINK("x")',
            "\ud800",
            "名前\u202e",
            "x" * 100_000,
        ]
    ),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | nasty_text,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
field_names = st.sampled_from(
    [
        "id", "title", "status", "createdOn", "statusLastModifiedOn", "dueOn",
        "targetDevices", "fixedDevices", "rbacGroupNames", "rbacGroupId",
        "rbacGroupName", "lastSeen", "firstSeen", "exposedMachinesCount",
        "severityScore", "publicExploit", "isExcluded", "machineTags", "tags",
        "computerDnsName", "osPlatform", "recommendationName", "unknownField",
    ]
)  # fmt: skip
raw_objects = st.one_of(
    st.dictionaries(field_names, json_values, max_size=12),
    json_values,
)


@contextmanager
def captured(logger_name: str):
    """The log records one logger emits inside the block (a fresh list each
    time, unlike pytest's caplog, which hypothesis would share between
    examples)."""
    handler = logging.Handler(logging.DEBUG)
    records_seen: list[logging.LogRecord] = []
    handler.emit = records_seen.append
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield records_seen
    finally:
        logger.removeHandler(handler)


settle = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@settle
@given(kind=st.sampled_from(sorted(NORMALIZERS)), raw=raw_objects)
def test_parsing_never_crashes_and_rows_are_json(kind, raw):
    try:
        row = NORMALIZERS[kind](raw)
    except InvalidRecord:
        return
    nulled = row.pop(records.NULLED)
    assert all(isinstance(field, str) for field in nulled)
    json.dumps(row, ensure_ascii=False).encode("utf-8")


clean_text = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=60,
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 1, 1),
    timezones=st.just(UTC),
)


def api_timestamp(moment: datetime, digits: int) -> str:
    """The API's form: 0 to 7 fractional digits and a Z."""
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}0"[:digits]
    return f"{base}.{fraction}Z" if digits else f"{base}Z"


@settle
@given(
    identifier=clean_text,
    title=clean_text,
    created=moments,
    digits=st.integers(0, 7),
    target=st.integers(0, 2**31 - 1),
    fixed=st.integers(0, 2**31 - 1),
    groups=st.lists(clean_text, max_size=5),
)
def test_a_valid_task_keeps_its_values(
    identifier, title, created, digits, target, fixed, groups
):
    raw = {
        "id": identifier,
        "title": title,
        "createdOn": api_timestamp(created, digits),
        "targetDevices": target,
        "fixedDevices": str(fixed),
        "rbacGroupNames": groups,
    }

    row = records.normalize_task(raw)

    assert row[records.NULLED] == []
    assert (row["activity_id"], row["title"]) == (identifier, title)
    assert (row["target_devices"], row["fixed_devices"]) == (target, fixed)
    parsed = datetime.fromisoformat(row["created_on"])
    kept = timedelta(microseconds=created.microsecond % 10 ** (6 - min(digits, 6)))
    assert parsed == created - kept
    assert row["device_groups"] == [records.group_display_name(g) for g in groups]


@settle
@given(
    identifier=clean_text,
    exposed=st.integers(0, 2**31 - 1),
    score=st.floats(0, 10, allow_nan=False),
    flag=st.booleans(),
)
def test_a_valid_recommendation_keeps_its_values(identifier, exposed, score, flag):
    raw = {
        "id": identifier,
        "exposedMachinesCount": exposed,
        "severityScore": score,
        "publicExploit": flag,
    }

    row = records.normalize_recommendation(raw)

    assert row[records.NULLED] == []
    assert row["recommendation_id"] == identifier
    assert (row["exposed_devices"], row["severity_score"]) == (exposed, score)
    assert row["public_exploit"] is flag


@settle
@given(
    raw=st.one_of(
        json_values.filter(lambda v: not isinstance(v, dict)),
        st.dictionaries(st.sampled_from(["title", "status"]), json_values),
    )
)
def test_an_object_without_an_id_is_invalid(raw):
    for normalize in NORMALIZERS.values():
        try:
            normalize(raw)
        except InvalidRecord:
            continue
        raise AssertionError(f"{raw!r} was accepted")


@settle
@given(
    valid=st.lists(clean_text, min_size=0, max_size=6, unique=True),
    invalid=st.lists(
        st.one_of(st.none(), st.integers(), st.just({"title": "no id"})),
        min_size=1,
        max_size=6,
    ),
)
def test_invalid_records_are_skipped_counted_and_logged_once(
    tmp_path_factory, valid, invalid
):
    staging = StagingArea(tmp_path_factory.mktemp("stage") / "tvm.duckdb")
    staging.open("tenant", datetime.now(UTC), False, 1, 0)
    page = [{"id": i, "title": "ok"} for i in valid] + invalid
    with captured("tvmdata.staging") as logged:
        written = staging.write_collection("activities", [page], records.normalize_task)

    assert written == len(valid)
    assert staging.skipped() == len(invalid)
    skips = [r for r in logged if "skipping invalid" in r.getMessage()]
    assert len(skips) == 1
    lines = staging.file("activities").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["activity_id"] for line in lines] == valid
