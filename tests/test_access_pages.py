"""The pages with sign-in on: a real secrets file with `[auth]` and `[access]`,
users of each role and scope set through `AppTest.user`, and what each one
sees (exact activity ids), exports and may press."""

from __future__ import annotations

import csv
import io

import pytest
from streamlit.testing.v1 import AppTest

from pages import common
from tests.conftest import capture_downloads
from tests.test_access import AUTH
from tests.test_pages import REPO, live_environment, run_on_page
from tvmdata import access, opsettings, store
from tvmdata.sync import sync_tenant

RULES = """
[access]
allowed = ["contoso.test"]
unscoped = "all"

[access.roles]
"lead@contoso.test" = "admin"
"req@contoso.test" = "requester"

[access.scopes]
"eng@contoso.test" = ["Engineering"]
"fin@contoso.test" = ["Finance"]
"""
REMEDIATION = "pages/remediation.py"
RECOMMENDATIONS = "pages/recommendations.py"
SETTINGS = "pages/settings.py"
HOME = "pages/home.py"
CHROME = "a1c3e5f7-0000-4000-8000-000000000001"
JAVA = "a1c3e5f7-0000-4000-8000-000000000004"


@pytest.fixture
def signed(monkeypatch, settings, tmp_path):
    """A synced store and sign-in configured in a secrets file of its own."""
    sync_tenant(settings)
    live_environment(monkeypatch, settings)
    monkeypatch.delenv("TVM_SIGN_IN")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(AUTH + RULES)
    monkeypatch.setattr(access, "SECRETS_FILE", secrets)
    monkeypatch.setattr(opsettings, "SECRETS_FILE", secrets)
    return settings


def open_as(page: str, email: str | None, params: dict | None = None) -> AppTest:
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=30)
    app.query_params.update({"status": "All", **(params or {})})
    app.user = {"is_logged_in": email is not None, "email": email or ""}
    return run_on_page(app, page)


def active_in(settings, group: str | None) -> list[str]:
    """Every activity the store holds for `group` (None: all), straight from
    the table, newest first as the list orders them."""
    where = "" if group is None else "where list_contains(device_groups, $group)"
    with store.connect(settings.db) as con:
        rows = con.execute(
            f"select activity_id from activities {where} "
            "order by created_on desc, activity_id",
            {"group": group} if group else {},
        ).fetchall()
    return [r[0] for r in rows]


def listed(app: AppTest) -> list[str]:
    return app.dataframe[0].value["activity_id"].tolist() if app.dataframe else []


def exported(files: dict[str, bytes]) -> list[str]:
    """The activity ids in the list's CSV download (from `capture_downloads`)."""
    csv_bytes = next(v for k, v in files.items() if k.startswith("activities-"))
    rows = csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig")))
    return [row["Activity id"] for row in rows]


def test_nobody_signed_in_sees_only_the_sign_in_button(signed):
    app = open_as(REMEDIATION, None)

    assert not app.exception
    assert [b.label for b in app.button] == ["Sign in with Microsoft"]
    assert not app.dataframe
    assert app.markdown[0].value == "Sign in with your Microsoft account to continue."


def test_a_user_outside_the_allowed_list_is_refused_in_plain_words(signed):
    app = open_as(REMEDIATION, "someone@elsewhere.test")

    assert not app.exception
    assert [t.value for t in app.title] == ["Access refused"]
    assert app.error[0].value.startswith(
        "someone@elsewhere.test may not use this dashboard."
    )
    assert [b.label for b in app.button] == ["Sign out"]
    assert not app.dataframe


@pytest.mark.parametrize(
    ("email", "group"),
    [
        ("eng@contoso.test", "Engineering"),
        ("fin@contoso.test", "Finance"),
        ("lead@contoso.test", None),
        ("someone@contoso.test", None),
    ],
)
def test_each_user_sees_and_exports_only_their_device_groups(
    signed, email, group, monkeypatch
):
    files = capture_downloads(monkeypatch)

    app = open_as(REMEDIATION, email)

    assert not app.exception and not app.error
    assert listed(app) == active_in(signed, group)
    assert exported(files) == active_in(signed, group)


def test_two_users_loading_the_same_page_in_turn_get_their_own_rows(signed):
    # The data cache is shared by every session: the scope must be in its key.
    first = open_as(REMEDIATION, "eng@contoso.test")
    second = open_as(REMEDIATION, "fin@contoso.test")
    third = open_as(REMEDIATION, "eng@contoso.test")

    assert listed(first) == active_in(signed, "Engineering")
    assert listed(second) == active_in(signed, "Finance")
    assert listed(second) != listed(first)
    assert listed(third) == listed(first)


def test_the_sidebar_offers_only_the_users_groups(signed):
    app = open_as(REMEDIATION, "fin@contoso.test")

    picker = app.sidebar.multiselect(key="device_groups")
    assert [picker.format_func(o) for o in picker.options] == ["Finance"]
    assert "Signed in as fin@contoso.test · viewer · 1 device group" in [
        c.value for c in app.sidebar.caption
    ]


def test_a_scoped_user_cannot_open_an_activity_outside_their_groups(signed):
    outside = open_as(REMEDIATION, "eng@contoso.test", {"activity": JAVA})
    engineering = open_as(REMEDIATION, "eng@contoso.test", {"activity": CHROME})
    finance = open_as(REMEDIATION, "fin@contoso.test", {"activity": CHROME})

    assert outside.warning[0].value.startswith("No remediation activity has the id")
    # Chrome's activity covers both groups; its exposed devices are in Finance.
    assert engineering.title[0].value == "Update Google Chrome"
    assert device_groups_shown(engineering) == []
    assert device_groups_shown(finance) == ["Finance", "Finance"]


def device_groups_shown(app: AppTest) -> list[str]:
    """The device group of every device row in the detail's device tables."""
    return [
        group
        for table in app.dataframe
        if "computer_dns_name" in table.value.columns
        for group in table.value["group_name"]
    ]


def test_a_viewer_gets_no_write_controls(signed):
    detail = open_as(REMEDIATION, "someone@contoso.test", {"activity": CHROME})
    request = open_as(
        RECOMMENDATIONS,
        "someone@contoso.test",
        {"recommendation": "va-_-contoso-_-reader"},
    )

    for app in (detail, request):
        assert not app.exception
        keys = {b.key for b in app.button} | {b.key for b in app.sidebar.button}
        assert "detail_mark_complete" not in keys
        assert "sync_now" not in keys
    assert not [f for f in request.get("form")]
    assert (
        "Your role (viewer) can read and export; filing requests needs the "
        "requester role." in [c.value for c in request.caption]
    )


def test_a_requester_gets_the_request_form_and_mark_complete(signed):
    detail = open_as(REMEDIATION, "req@contoso.test", {"activity": CHROME})
    request = open_as(
        RECOMMENDATIONS, "req@contoso.test", {"recommendation": "va-_-contoso-_-reader"}
    )

    assert "detail_mark_complete" in {b.key for b in detail.button}
    assert "sync_now" in {b.key for b in detail.sidebar.button}
    assert request.get("form")


def test_settings_are_for_admins_with_the_audit_log(signed):
    viewer = open_as(SETTINGS, "req@contoso.test")
    admin = open_as(SETTINGS, "lead@contoso.test")

    # Not an admin: the page is not offered, and the address falls back to Home.
    assert [t.value for t in viewer.title] == ["Remediation overview"]
    assert not viewer.exception
    assert "Audit log" in [s.value for s in admin.subheader]
    assert admin.get("download_button")


def test_the_device_groups_page_keeps_to_the_users_groups(signed):
    outside = open_as("pages/device_groups.py", "eng@contoso.test", {"group": "101"})
    inside = open_as("pages/device_groups.py", "fin@contoso.test", {"group": "101"})

    assert not outside.exception and not inside.exception
    assert outside.warning[0].value == (
        "No device group has the id 101: choose one in the table."
    )
    assert outside.dataframe[0].value["group_name"].tolist() == ["Engineering"]
    assert inside.dataframe[0].value["group_name"].tolist() == ["Finance"]
    assert "Finance" in [s.value for s in inside.subheader]


def test_a_user_with_no_groups_sees_nothing_and_is_told_why(
    signed, tmp_path, monkeypatch
):
    access.SECRETS_FILE.write_text(AUTH + RULES.replace('unscoped = "all"\n', ""))
    files = capture_downloads(monkeypatch)

    app = open_as(REMEDIATION, "someone@contoso.test")

    assert not app.exception
    assert listed(app) == [] and exported(files) == []
    assert [w.value for w in app.sidebar.warning] == [common.NO_GROUPS_LINE]
