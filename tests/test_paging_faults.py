"""Paging against servers that misbehave: next-page links on Defender's other
hosts or in odd case, links to hosts that must not get the token, and servers
that never stop giving pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from requests.adapters import HTTPAdapter

from tests.conftest import shared_file
from tvmdata import client as client_module
from tvmdata.auth import make_session
from tvmdata.client import connect_defender
from tvmdata.errors import InvalidResponse

DOCS = ("data", "mde-docs-examples")
MACHINES = r"^/api/machines$"
_NEXT_LINK = re.compile(r'"@odata\.nextLink"\s*:\s*"([^"]+)"')


class _ServedByEmulator(HTTPAdapter):
    """Answers for a Microsoft host from the emulator, recording each URL asked."""

    def __init__(self, emulator_base: str, asked: list[str]):
        super().__init__()
        self._base = emulator_base
        self._asked = asked

    def send(self, request, **kwargs):
        self._asked.append(request.url)
        parts = urlsplit(request.url)
        request.url = f"{self._base}{parts.path}?{parts.query}"
        return super().send(request, **kwargs)


def client_reaching(settings, emulator, fake_clock, hosts: list[str], asked: list):
    """A client whose session reaches each of `hosts` through the emulator."""
    session = make_session(settings)
    for host in hosts:
        session.mount(f"https://{host}/", _ServedByEmulator(emulator.api_base, asked))
    return connect_defender(settings, fake_clock, session=session)


def docs_next_links() -> dict[str, str]:
    """The nextLink of each of Microsoft's documented examples that has one (the
    examples are read as text: some are not valid JSON)."""
    links = {}
    for path in sorted(shared_file(*DOCS).glob("*.json")):
        found = _NEXT_LINK.search(path.read_text(encoding="utf-8"))
        if found:
            links[path.name] = found.group(1)
    return links


def full_page(*ids: str, link: str | None = None) -> dict:
    body = {"value": [{"id": i} for i in ids]}
    if link:
        body["@odata.nextLink"] = link
    return {"status": 200, "body": body}


def documented_links(on_defender_host: bool) -> list[str]:
    return [
        link
        for link in docs_next_links().values()
        if urlsplit(link).hostname.startswith("api.") == on_defender_host
    ]


def test_the_documented_examples_carry_next_links_on_both_kinds_of_host():
    hosts = {urlsplit(link).hostname for link in docs_next_links().values()}

    assert hosts == {
        "api.securitycenter.microsoft.com",
        "wpatdadi-eus-stg.cloudapp.net",
    }


@pytest.mark.parametrize("link", documented_links(on_defender_host=True))
def test_a_documented_next_link_on_defenders_older_host_is_followed_verbatim(
    settings, emulator, fake_clock, link
):
    path = urlsplit(link).path
    emulator.script(
        f"^{re.escape(path)}$",
        [full_page("a1", link=link), full_page("a2")],
    )
    asked = []
    client = client_reaching(
        settings, emulator, fake_clock, ["api.securitycenter.microsoft.com"], asked
    )

    ids = [row["id"] for page in client.iter_pages(path) for row in page]

    assert ids == ["a1", "a2"]
    assert asked == [link]


@pytest.mark.parametrize("link", documented_links(on_defender_host=False))
def test_a_documented_next_link_on_a_staging_host_is_refused(
    settings, emulator, fake_clock, link
):
    host = urlsplit(link).hostname
    emulator.script(MACHINES, [full_page("m1", link=link)])
    asked = []
    client = client_reaching(settings, emulator, fake_clock, [host], asked)

    with pytest.raises(InvalidResponse) as raised:
        list(client.fetch_machines())

    assert str(raised.value) == (
        f"GET /api/machines gave a next-page link to another host (https://{host}); "
        "it was not followed, so the access token stayed with Defender."
    )
    assert asked == []


@pytest.mark.parametrize(
    "host",
    [
        "api.security.microsoft.com",
        "api.securitycenter.microsoft.com",
        "us.api.security.microsoft.com",
        "eu.api.securitycenter.microsoft.com",
        "uk.api.security.microsoft.com",
        "au.api.securitycenter.microsoft.com",
        "swa.api.security.microsoft.com",
        "ina.api.securitycenter.microsoft.com",
    ],
)
@pytest.mark.parametrize("written", [str.lower, str.upper])
def test_next_links_on_every_documented_defender_host_are_followed(
    settings, emulator, fake_clock, host, written
):
    link = f"{written('https://' + host)}/api/machines?$skiptoken=Ab%3D"
    emulator.script(MACHINES, [full_page("m1", "m2", link=link), full_page("m3")])
    asked = []
    client = client_reaching(settings, emulator, fake_clock, [host], asked)

    ids = [m["id"] for page in client.fetch_machines() for m in page]

    assert ids == ["m1", "m2", "m3"]
    assert asked == [f"https://{host}/api/machines?$skiptoken=Ab%3D"]


def test_a_next_link_in_upper_case_to_the_configured_host_is_followed(
    settings, emulator, fake_clock
):
    origin = emulator.api_base.upper()
    link = f"{origin}/api/machines?$skiptoken=Xy"
    emulator.script(MACHINES, [full_page("m1", link=link), full_page("m2")])

    pages = list(connect_defender(settings, fake_clock).fetch_machines())

    assert [m["id"] for page in pages for m in page] == ["m1", "m2"]
    sent = [raw for _, raw in emulator.requests if raw.startswith("/api/machines")]
    assert sent[1] == "/api/machines?$skiptoken=Xy"


@pytest.mark.parametrize(
    "link",
    [
        "http://api.security.microsoft.com/api/machines?$skiptoken=a",
        "https://api.security.microsoft.com.example.net/api/machines",
        "https://api.security.microsoft.com@example.net/api/machines",
        "https://api.security.microsoft.com:8443/api/machines",
        "https://fr.api.security.microsoft.com/api/machines",
        "https://api.securitycenter.windows.com/api/machines",
        "https://example.net/api/machines",
        "/api/machines?$skiptoken=a",
        " https://api.security.microsoft.com/api/machines",
    ],
)
def test_a_next_link_anywhere_else_is_refused_before_any_request(
    settings, emulator, fake_clock, link
):
    emulator.script(MACHINES, [full_page("m1", link=link)])
    asked = []
    session = make_session(settings)
    for prefix in ("http://", "https://api.", "https://example.net", "https://fr."):
        session.mount(prefix, _ServedByEmulator(emulator.api_base, asked))
    client = connect_defender(settings, fake_clock, session=session)

    with pytest.raises(InvalidResponse, match="next-page link to another host"):
        list(client.fetch_machines())

    assert asked == []
    assert emulator.calls["machines"] == 1


# --------------------------------------------------------------------------------
# Servers that never stop giving pages


def test_a_server_ignoring_skip_stops_paging_at_the_second_page(
    settings, emulator, fake_clock
):
    emulator.script(MACHINES, [full_page("m1", "m2")] * 40)
    client = connect_defender(settings.with_overrides(page_size=2), fake_clock)

    with pytest.raises(InvalidResponse) as raised:
        list(client.fetch_machines())

    assert str(raised.value) == (
        "GET /api/machines answered the next page with rows it had already given "
        "(it ignores $skip); paging stopped: check that TVM_API_BASE is Defender's "
        "API."
    )
    assert emulator.calls["machines"] == 2


def test_pages_that_cycle_through_rows_already_given_stop_paging(
    settings, emulator, fake_clock
):
    cycle = [full_page("m1", "m2"), full_page("m3", "m4")]
    emulator.script(MACHINES, cycle * 20)
    client = connect_defender(settings.with_overrides(page_size=2), fake_clock)

    with pytest.raises(InvalidResponse, match="rows it had already given"):
        list(client.fetch_machines())

    assert emulator.calls["machines"] == 3


def test_identical_pages_without_ids_stop_paging(settings, emulator, fake_clock):
    same = {"status": 200, "body": {"value": [{"name": "a"}, {"name": "b"}]}}
    emulator.script(MACHINES, [same] * 40)
    client = connect_defender(settings.with_overrides(page_size=2), fake_clock)

    with pytest.raises(InvalidResponse, match="rows it had already given"):
        list(client.fetch_machines())

    assert emulator.calls["machines"] == 2


def test_new_rows_on_every_page_stop_at_the_page_bound(
    settings, emulator, fake_clock, monkeypatch
):
    monkeypatch.setattr(client_module, "MAX_ROWS_PER_LISTING", 6)
    endless = [full_page(f"m{2 * n}", f"m{2 * n + 1}") for n in range(40)]
    emulator.script(MACHINES, endless)
    client = connect_defender(settings.with_overrides(page_size=2), fake_clock)

    with pytest.raises(InvalidResponse) as raised:
        list(client.fetch_machines())

    assert str(raised.value) == (
        "GET /api/machines was still giving pages after 4 of them; paging stopped: "
        "check that TVM_API_BASE is Defender's API."
    )
    assert emulator.calls["machines"] == 4


def test_the_page_bound_allows_the_largest_listing_at_the_largest_top():
    guard = client_module._PagingGuard("/api/machines", 10_000)

    assert guard.max_pages == 501


def test_a_listing_that_ends_normally_is_not_stopped(settings, emulator, fake_clock):
    emulator.script(
        MACHINES, [full_page("m1", "m2"), full_page("m3", "m4"), full_page("m5")]
    )
    client = connect_defender(settings.with_overrides(page_size=2), fake_clock)

    ids = [m["id"] for page in client.fetch_machines() for m in page]

    assert ids == ["m1", "m2", "m3", "m4", "m5"]
