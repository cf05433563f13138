"""Deployment settings: environment over `.streamlit/secrets.toml` over defaults,
every setting typed and checked, and one clear sentence for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from tvmdata.config import Settings, load_settings
from tvmdata.errors import ConfigError

SECRET = "s3cret-value-of-the-app"

# Every documented setting, with its default as the README table gives it.
DOCUMENTED_DEFAULTS = {
    "TVM_TENANT_ID": ("tenant_id", None),
    "TVM_CLIENT_ID": ("client_id", None),
    "TVM_CLIENT_SECRET": ("client_secret", None),
    "TVM_API_BASE": ("api_base", "https://api.security.microsoft.com"),
    "TVM_API_SCOPE": (
        "api_scope",
        "https://api.securitycenter.microsoft.com/.default",
    ),
    "TVM_GRAPH_BASE": ("graph_base", "https://graph.microsoft.com/beta"),
    "TVM_GRAPH_SCOPE": ("graph_scope", "https://graph.microsoft.com/.default"),
    "TVM_AUTHORITY_HOST": ("authority_host", "https://login.microsoftonline.com"),
    "TVM_CA_BUNDLE": ("ca_bundle", None),
    "TVM_PAGE_SIZE": ("page_size", 10000),
    "TVM_MAX_CALLS_PER_MINUTE": ("max_calls_per_minute", 90),
    "TVM_MAX_CALLS_PER_HOUR": ("max_calls_per_hour", 1350),
    "TVM_DB": ("db", Path("data/tvm.duckdb")),
    "TVM_FULL_REFRESH_HOURS": ("full_refresh_hours", 24),
    "TVM_LOCK_WAIT_SECONDS": ("lock_wait_seconds", 30),
    "TVM_MEMORY_LIMIT_MB": ("memory_limit_mb", 1024),
    "TVM_DEMO": ("demo", False),
}


@pytest.fixture
def ca_file(tmp_path) -> Path:
    path = tmp_path / "corporate-ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    return path


def write_secrets(text: str) -> Path:
    path = Path(".streamlit/secrets.toml")
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_for(monkeypatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    return str(raised.value)


def assert_one_sentence(message: str, *names: str) -> None:
    for name in names:
        assert name in message
    assert "\n" not in message
    assert message.endswith(".")


@pytest.mark.parametrize("variable", sorted(DOCUMENTED_DEFAULTS))
def test_every_documented_setting_has_its_documented_default(variable):
    field_name, default = DOCUMENTED_DEFAULTS[variable]

    assert getattr(load_settings(), field_name) == default


def test_every_documented_setting_is_read_from_its_variable(monkeypatch, ca_file):
    given = {
        "TVM_TENANT_ID": "tenant-1",
        "TVM_CLIENT_ID": "client-1",
        "TVM_CLIENT_SECRET": SECRET,
        "TVM_API_BASE": "https://eu.api.security.microsoft.com",
        "TVM_API_SCOPE": "https://api-gov.securitycenter.microsoft.us/.default",
        "TVM_GRAPH_BASE": "https://graph.microsoft.us/beta",
        "TVM_GRAPH_SCOPE": "https://graph.microsoft.us/.default",
        "TVM_AUTHORITY_HOST": "https://login.microsoftonline.us",
        "TVM_CA_BUNDLE": str(ca_file),
        "TVM_PAGE_SIZE": "500",
        "TVM_MAX_CALLS_PER_MINUTE": "40",
        "TVM_MAX_CALLS_PER_HOUR": "0",
        "TVM_DB": "elsewhere/tenant.duckdb",
        "TVM_FULL_REFRESH_HOURS": "6",
        "TVM_LOCK_WAIT_SECONDS": "90",
        "TVM_DEMO": "yes",
    }
    for name, value in given.items():
        monkeypatch.setenv(name, value)

    settings = load_settings()

    read = {name: getattr(settings, DOCUMENTED_DEFAULTS[name][0]) for name in given}
    assert read == {
        **given,
        "TVM_CA_BUNDLE": ca_file,
        "TVM_PAGE_SIZE": 500,
        "TVM_MAX_CALLS_PER_MINUTE": 40,
        "TVM_MAX_CALLS_PER_HOUR": 0,
        "TVM_DB": Path("elsewhere/tenant.duckdb"),
        "TVM_FULL_REFRESH_HOURS": 6,
        "TVM_LOCK_WAIT_SECONDS": 90,
        "TVM_DEMO": True,
    }


def test_secrets_file_fills_what_the_environment_leaves_unset():
    write_secrets(
        '[tvm]\ntenant_id = "tenant-from-file"\nclient_id = "client-from-file"\n'
        "page_size = 250\n"
    )

    settings = load_settings()

    assert settings.tenant_id == "tenant-from-file"
    assert settings.client_id == "client-from-file"
    assert settings.page_size == 250
    assert settings.api_base == "https://api.security.microsoft.com"


def test_environment_wins_over_the_secrets_file(monkeypatch):
    write_secrets('[tvm]\ntenant_id = "tenant-from-file"\npage_size = 250\n')
    monkeypatch.setenv("TVM_TENANT_ID", "tenant-from-env")
    monkeypatch.setenv("TVM_PAGE_SIZE", "75")

    settings = load_settings()

    assert (settings.tenant_id, settings.page_size) == ("tenant-from-env", 75)


def test_an_empty_variable_falls_back_to_the_secrets_file(monkeypatch):
    write_secrets('[tvm]\ntenant_id = "tenant-from-file"\n')
    monkeypatch.setenv("TVM_TENANT_ID", "")

    assert load_settings().tenant_id == "tenant-from-file"


def test_settings_outside_the_tvm_table_are_ignored():
    write_secrets('tenant_id = "top-level"\n[other]\nclient_id = "elsewhere"\n')

    settings = load_settings()

    assert (settings.tenant_id, settings.client_id) == (None, None)


def test_an_explicit_environment_and_secrets_path_are_honoured(tmp_path):
    secrets = tmp_path / "custom.toml"
    secrets.write_text('[tvm]\nclient_id = "from-custom-file"\n', encoding="utf-8")

    settings = load_settings({"TVM_TENANT_ID": "given"}, secrets_path=secrets)

    assert (settings.tenant_id, settings.client_id) == ("given", "from-custom-file")


@pytest.mark.parametrize("value", ["abc", "12.5", "1e3"])
def test_a_page_size_that_is_not_a_whole_number_is_named(monkeypatch, value):
    message = error_for(monkeypatch, "TVM_PAGE_SIZE", value)

    assert_one_sentence(message, "TVM_PAGE_SIZE", repr(value))


def test_an_empty_page_size_means_the_default(monkeypatch):
    monkeypatch.setenv("TVM_PAGE_SIZE", "")

    assert load_settings().page_size == 10000


@pytest.mark.parametrize("value", ["0", "20000", "10001"])
def test_a_page_size_outside_one_to_ten_thousand_is_refused(monkeypatch, value):
    message = error_for(monkeypatch, "TVM_PAGE_SIZE", value)

    assert_one_sentence(message, "TVM_PAGE_SIZE", "10000", value)


@pytest.mark.parametrize("value", ["1", "127"])
def test_a_memory_limit_too_small_for_duckdb_is_refused(monkeypatch, value):
    message = error_for(monkeypatch, "TVM_MEMORY_LIMIT_MB", value)

    assert_one_sentence(message, "TVM_MEMORY_LIMIT_MB", "128", value)


@pytest.mark.parametrize(
    "name", ["TVM_MAX_CALLS_PER_MINUTE", "TVM_MAX_CALLS_PER_HOUR", "TVM_PAGE_SIZE"]
)
def test_a_negative_number_is_refused_naming_the_setting(monkeypatch, name):
    message = error_for(monkeypatch, name, "-5")

    assert_one_sentence(message, name)


def test_a_page_size_of_the_wrong_type_in_the_secrets_file_is_named():
    write_secrets("[tvm]\npage_size = true\n")

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert_one_sentence(str(raised.value), "TVM_PAGE_SIZE")


def test_a_ca_bundle_that_does_not_exist_is_named(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-ca.pem"

    message = error_for(monkeypatch, "TVM_CA_BUNDLE", str(missing))

    assert_one_sentence(message, "TVM_CA_BUNDLE", str(missing))


def test_a_ca_bundle_that_is_a_directory_is_named(monkeypatch, tmp_path):
    message = error_for(monkeypatch, "TVM_CA_BUNDLE", str(tmp_path))

    assert_one_sentence(message, "TVM_CA_BUNDLE")


@pytest.mark.parametrize(
    "name",
    [
        "TVM_API_BASE",
        "TVM_API_SCOPE",
        "TVM_GRAPH_BASE",
        "TVM_GRAPH_SCOPE",
        "TVM_AUTHORITY_HOST",
    ],
)
@pytest.mark.parametrize(
    "value",
    ["api.security.microsoft.com", "ftp://api.security.microsoft.com", "https://"],
)
def test_an_address_that_is_not_absolute_https_is_named(monkeypatch, name, value):
    message = error_for(monkeypatch, name, value)

    assert_one_sentence(message, name, "https://")


@pytest.mark.parametrize("name", ["TVM_API_BASE", "TVM_AUTHORITY_HOST"])
def test_a_plain_http_address_is_refused_so_tokens_never_travel_in_clear(
    monkeypatch, name
):
    message = error_for(monkeypatch, name, "http://api.security.microsoft.com")

    assert_one_sentence(message, name, "https://")


def test_a_bad_address_in_the_secrets_file_is_named_by_its_variable():
    write_secrets('[tvm]\napi_base = "not a url"\n')

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert_one_sentence(str(raised.value), "TVM_API_BASE")


def test_a_demo_flag_that_is_not_true_or_false_is_named(monkeypatch):
    message = error_for(monkeypatch, "TVM_DEMO", "maybe")

    assert_one_sentence(message, "TVM_DEMO", "true or false")


def test_a_broken_secrets_file_is_named_with_the_fix():
    path = write_secrets('[tvm]\ntenant_id = "unterminated\n')

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert_one_sentence(str(raised.value), str(path), "not valid TOML", "fix")


def test_a_tvm_entry_that_is_not_a_table_is_refused():
    write_secrets('tvm = "tenant"\n')

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert_one_sentence(str(raised.value), "[tvm]", "table")


@pytest.mark.parametrize(
    "given, missing",
    [
        ({}, "TVM_TENANT_ID"),
        ({"tenant_id": "t"}, "TVM_CLIENT_ID"),
        ({"tenant_id": "t", "client_id": "c"}, "TVM_CLIENT_SECRET"),
        ({"client_id": "c", "client_secret": SECRET}, "TVM_TENANT_ID"),
        ({"tenant_id": "t", "client_secret": SECRET}, "TVM_CLIENT_ID"),
    ],
)
def test_missing_credentials_name_the_first_missing_one(given, missing):
    with pytest.raises(ConfigError) as raised:
        Settings(**given).require_credentials()

    message = str(raised.value)
    assert_one_sentence(message, missing)
    others = {"TVM_TENANT_ID", "TVM_CLIENT_ID", "TVM_CLIENT_SECRET"} - {missing}
    assert not [name for name in others if name in message]


def test_complete_credentials_are_accepted():
    settings = Settings(tenant_id="t", client_id="c", client_secret=SECRET)

    settings.require_credentials()


def test_a_blank_credential_in_the_environment_counts_as_missing(monkeypatch):
    monkeypatch.setenv("TVM_TENANT_ID", "t")
    monkeypatch.setenv("TVM_CLIENT_ID", "   ")
    monkeypatch.setenv("TVM_CLIENT_SECRET", SECRET)

    with pytest.raises(ConfigError) as raised:
        load_settings().require_credentials()

    assert_one_sentence(str(raised.value), "TVM_CLIENT_ID")


def test_the_client_secret_never_appears_in_the_settings_repr(monkeypatch):
    monkeypatch.setenv("TVM_CLIENT_SECRET", SECRET)
    settings = load_settings()

    shown = [repr(settings), str(settings), f"{settings}", repr([settings])]
    shown.append(repr(settings.with_overrides(page_size=5)))

    assert settings.client_secret == SECRET
    assert [text for text in shown if SECRET in text] == []
    assert "client_secret='***'" in repr(settings)


def test_the_repr_of_settings_without_a_secret_says_so():
    assert "client_secret=None" in repr(Settings())
