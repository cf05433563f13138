"""Playing IT in demo mode: the emulator's fix-devices control, over HTTP."""

from __future__ import annotations

import pytest
import requests

from tests.test_cli import cli, cli_env, one_line
from tvmdata import demo
from tvmdata.emulator import CONTROL_HEADER
from tvmdata.errors import ConfigError

CHROME = "va-_-google-_-chrome"


def info_of(emulator) -> dict:
    return {
        "base_url": emulator.base_url,
        "client_secret": emulator.client_secret,
        "ca_path": str(emulator.ca_path),
    }


def exposed_ids(emulator, rec_id=CHROME) -> list[str]:
    return sorted(
        ref["id"] for ref in emulator.tenant()["recommendationMachines"][rec_id]
    )


def test_fixing_a_share_drops_the_first_devices_and_the_count(emulator):
    before = exposed_ids(emulator)

    fixed = demo.fix_devices(CHROME, 0.5, info=info_of(emulator))

    half = -(-len(before) // 2)
    assert fixed == before[:half]
    assert exposed_ids(emulator) == before[half:]
    rec = next(r for r in emulator.tenant()["recommendations"] if r["id"] == CHROME)
    assert rec["exposedMachinesCount"] == len(before) - half


def test_a_tiny_share_still_fixes_one_device_and_nothing_left_fixes_none(emulator):
    before = exposed_ids(emulator)

    assert demo.fix_devices(CHROME, 0.01, info=info_of(emulator)) == before[:1]
    demo.fix_devices(CHROME, 1.0, info=info_of(emulator))
    assert demo.fix_devices(CHROME, 1.0, info=info_of(emulator)) == []


def test_refusals_come_back_as_one_sentence(emulator):
    with pytest.raises(ConfigError, match="No recommendation 'nope'"):
        demo.fix_devices("nope", 0.5, info=info_of(emulator))
    with pytest.raises(ConfigError, match="share must be above 0"):
        demo.fix_devices(CHROME, 1.5, info=info_of(emulator))


def test_the_control_needs_the_client_secret(emulator):
    response = requests.post(
        f"{emulator.base_url}/_emulator/fix-devices",
        json={"recommendationId": CHROME},
        headers={CONTROL_HEADER: "guess"},
        verify=str(emulator.ca_path),
        timeout=10,
    )

    assert response.status_code == 403
    assert exposed_ids(emulator)


def test_without_a_running_demo_emulator_the_error_says_how_to_start_it(tmp_path):
    with pytest.raises(ConfigError, match="python -m tvmdata demo up"):
        demo.fix_devices(CHROME)


def test_the_cli_names_what_is_missing_in_one_line(tmp_path):
    missing_id = cli("demo", "fix", env=cli_env(), cwd=tmp_path)
    not_running = cli("demo", "fix", CHROME, env=cli_env(), cwd=tmp_path)

    assert missing_id.returncode == 1
    assert "Name the recommendation to fix" in one_line(missing_id)
    assert not_running.returncode == 1
    assert "python -m tvmdata demo up" in one_line(not_running)
