"""Whole cycles over a target read you can trust (issue 14): what syncd plans and sends when 7pace pages
short, breaks off, holds a person twice, spells roles its own way, or holds roles the config does not know."""

from __future__ import annotations

import json
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulators.faults import Fault, Faults
from syncd.emulators.timetracker import Contract, EmulatedUser

ADMINS = [f"a{i:03d}@example.com" for i in range(250)]


def test_short_pages_never_turn_an_administrator_into_a_new_team_seat(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's first finding: a 7pace paging by 100 made syncd stop after 100 of 250 seats, so 150
    Administrators in a Team group got "assign None → Team" (a downgrade no guard saw). Failed on main."""
    world.emulator.contract = Contract(page_cap=100)
    world.emulator.add_users(EmulatedUser(email, "Administrator") for email in ADMINS)
    world.members({"Users": ADMINS, "Admins": []})
    config = str(world.write_config(rules=(("Users", "Team"),)))
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 0
    assert "No changes" in capsys.readouterr().out
    assert main(["run", "-c", config]) == 0
    assert set(world.roles().values()) == {"Administrator"}
    assert world.emulator.count("POST users/roles") == 0


@pytest.mark.parametrize(
    ("contract", "faults", "why"),
    [
        (Contract(page_cap=100, skip_honoured=False), Faults(), "target read partial: "),
        (Contract(page_cap=100), Faults(script={3: Fault.HTML}), "answered with an HTML page"),
    ],
    ids=["skip-ignored", "page-3-fails"],
)
def test_a_read_that_breaks_off_mid_way_writes_nothing_and_exits_5(
    world: Any, capsys: pytest.CaptureFixture[str], contract: Contract, faults: Faults, why: str
) -> None:
    world.emulator.contract = contract
    world.emulator.add_users(EmulatedUser(email, "Administrator") for email in ADMINS)
    world.members({"Users": ADMINS[:10], "Admins": []})  # 240 seats nobody selects any more
    config = str(
        world.write_config(
            policy='grace = "0s"\nunmanaged = "remove"\nmax_removal_percent = 100\nmax_removals = 1000'
        )
    )
    world.emulator.set_faults(faults)
    assert main(["run", "-c", config]) == 5
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("syncd:")]
    assert len(err) == 1 and err[0].startswith("syncd: error: ") and why in err[0], err
    assert world.emulator.count("POST users/roles") == 0
    assert len(world.roles()) == 250


def test_the_same_person_twice_in_7pace_is_ambiguous_nothing_sent_seats_counted(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # one e-mail on two 7pace users with different ids (the emulator keys users by e-mail, so the second
    # account's row is given ann's address on the way out)
    world.emulator.add_users(
        [
            EmulatedUser("ann@example.com", "Team", id="id-1"),
            EmulatedUser("ann.second@example.com", "Budget", id="id-2"),
            EmulatedUser("bob@example.com", "Team"),
        ]
    )
    world.members({"Users": ["ann@example.com", "bob@example.com", "u0001@example.com"], "Admins": []})
    config = str(world.write_config())
    original = world.emulator._row

    def twice(user: Any) -> dict[str, Any]:
        row = original(user)
        if user.email == "ann.second@example.com":
            row = {**row, "email": "ANN@example.com"}
        return row

    world.emulator._row = twice
    assert main(["plan", "-c", config]) == 4
    out = capsys.readouterr().out
    assert (
        "ann@example.com  ambiguous: 7pace holds this e-mail on several users (id-1: Team, id-2: Budget)"
        in out
    )
    assert "Seats: 3 → 4 (+1)" in out  # both of ann's rows are seats, and bob's; u0001 is new
    # held for an admin to clear (7pace holds ann twice): not a success to a scheduler (issue 15)
    assert main(["run", "-c", config]) == 4
    assert world.roles() == {
        "ann@example.com": "Team",
        "ann.second@example.com": "Budget",
        "bob@example.com": "Team",
        "u0001@example.com": "Team",
    }
    assert [r.entries for r in world.emulator.requests if r.kind == "POST users/roles"] == [1]  # not ann


def test_roles_in_another_case_compare_equal_and_unknown_roles_are_left_alone(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.emulator.contract = Contract(role_case="lower")
    world.emulator.add_role("Default")
    world.emulator.add_users(
        [
            EmulatedUser("ann@example.com", "Team"),
            EmulatedUser("bob@example.com", "Administrator"),
            EmulatedUser("cy@example.com", "Default"),
        ]
    )
    world.members({"Users": ["ann@example.com", "cy@example.com"], "Admins": ["bob@example.com"]})
    config = str(world.write_config())
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 0
    out = capsys.readouterr().out
    assert "No changes" in out
    assert "cy@example.com  unknown-role: 7pace role 'default' is not in [roles] order" in out
    assert main(["run", "-c", config]) == 0
    assert world.roles() == {
        "ann@example.com": "Team",
        "bob@example.com": "Administrator",
        "cy@example.com": "Default",
    }


def test_check_probe_prints_the_contract_report_and_check_lists_the_roles(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.emulator.contract = Contract(page_cap=100, role_case="lower")
    world.emulator.add_users(EmulatedUser(email, "Administrator") for email in ADMINS)
    world.members({"Users": ADMINS, "Admins": []})
    config = str(world.write_config())
    capsys.readouterr()
    assert main(["check", "-c", config, "--probe"]) == 0
    out = capsys.readouterr().out
    assert "Contract probe of " in out
    assert "FALLBACK target read" in out and "pages by 100 rows" in out
    assert "administrator ×250 (= Administrator, sent as administrator)" in out
    assert main(["check", "-c", config, "--probe", "--format", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert {f["item"] for f in body["findings"]} >= {"api-version", "$skip honoured", "identity fields"}
    assert main(["check", "-c", config]) == 0
    assert "roles the server returns: administrator ×250 (= Administrator" in capsys.readouterr().out
    world.emulator.contract = Contract(page_cap=100, skip_honoured=False)
    assert main(["check", "-c", config, "--probe"]) == 5
    assert "REFUSES  $skip honoured" in capsys.readouterr().out
    assert world.emulator.count("POST users/roles") == 0


def test_a_person_7pace_has_is_written_by_its_id_never_in_the_exports_spelling(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import unicodedata

    nfc = unicodedata.normalize("NFC", "josé@example.com")
    nfd = unicodedata.normalize("NFD", nfc)
    world.emulator.add_users(
        [EmulatedUser(nfc, "None", id="id-jose"), EmulatedUser("ann@example.com", "Team", id="id-ann")]
    )
    world.members({"Users": [nfd, "ANN@example.com"], "Admins": ["ann@example.com"]})
    config = str(world.write_config())
    assert main(["plan", "-c", config, "--format", "json"]) == 0
    planned = {c["target_id"]: c["email"] for c in json.loads(capsys.readouterr().out)["changes"]}
    assert planned == {"id-jose": nfc, "id-ann": "ann@example.com"}  # 7pace's ids and spellings
    assert main(["run", "-c", config]) == 0
    assert world.roles()[nfc] == "Team" and world.roles()["ann@example.com"] == "Administrator"
    assert nfd not in json.dumps(world.audit(), ensure_ascii=False)
