"""Issue 15, item 1: a run that held work exits 4, a held-only-by-policy run exits 0, and `plan` follows the
same table (10 only with --detailed-exitcode). Every case through the CLI against the 7pace emulator."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser


def users(*numbers: int) -> list[str]:
    return [f"u{n:04d}@example.com" for n in numbers]


def _seat(world: Any, emails: list[str], role: str = "Team") -> None:
    world.emulator.add_users(EmulatedUser(email, role) for email in emails)


def test_mistyped_group_exits_4_for_run_plan_and_dry_run(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Users": users(1, 2), "Finance": users(3), "Admins": []})
    config = str(world.write_config(rules=(("Users", "Team"), ("Finance", "Team"))))
    assert main(["apply", "-c", config]) == 0
    config = str(world.write_config(rules=(("Users", "Team"), ("Finanse", "Team"))))
    capsys.readouterr()

    assert main(["run", "-c", config]) == 4
    err = capsys.readouterr().err
    assert "group 'Finanse' of source hr is missing" in err
    assert "1 removal(s)/downgrade(s) are held" in err
    assert world.roles()["u0003@example.com"] == "Team"  # held, not removed

    assert main(["plan", "-c", config]) == 4
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 4  # held work outranks "changes pending"
    assert main(["run", "-c", config, "--dry-run"]) == 4
    summaries = [e for e in world.audit() if e["event.action"] == "run-summary"]
    assert [s["process.exit.code"] for s in summaries] == [0, 4, 4]
    assert summaries[-1]["event.outcome"] == "failure"


def test_held_only_by_grace_exits_0(world: Any) -> None:
    world.members({"Users": users(1, 2), "Admins": []})
    config = str(world.write_config(policy='grace = "24h"\nmax_removal_percent = 100'))
    assert main(["apply", "-c", config]) == 0
    world.members({"Users": users(1, 2), "Admins": []})
    world.members({"Users": users(1, 2, 4), "Admins": []})
    assert main(["run", "-c", config]) == 0
    world.members({"Users": users(1, 4), "Admins": []})  # u0002 leaves: held by grace only
    assert main(["run", "-c", config]) == 0
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 0
    held = [e for e in world.audit() if e["event.action"] == "seat-held"]
    assert [e["user.target.email"] for e in held] == users(2)
    assert world.roles()["u0002@example.com"] == "Team"


def test_blocked_by_the_configured_seat_cap_exits_0(world: Any) -> None:
    world.members({"Users": users(1, 2, 3, 4), "Admins": []})
    config = str(world.write_config(policy='grace = "0s"\nseat_limit = 2'))
    assert main(["run", "-c", config]) == 0
    assert sorted(world.roles()) == users(1, 2)
    assert [e["user.target.email"] for e in world.audit() if e["event.action"] == "seat-blocked"] == users(
        3, 4
    )
    assert main(["plan", "-c", config]) == 0
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 0  # nothing can be done: no change pending


def test_suspicious_group_exits_4_and_plan_with_pending_changes_is_10_only_when_clean(
    world: Any,
) -> None:
    world.members({"Users": users(1, 2, 3), "Admins": users(5)})
    config = str(world.write_config())
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 10
    assert main(["plan", "-c", config]) == 0
    assert main(["apply", "-c", config]) == 0
    world.members({"Users": [], "Admins": users(5, 6)})  # Users emptied: suspicious
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 4
    assert main(["run", "-c", config]) == 4
    assert world.roles()["u0006@example.com"] == "Administrator"  # the healthy group's work was done
    assert world.roles()["u0001@example.com"] == "Team"


def test_both_exit_code_tables_list_every_code_in_decimal_and_hex_and_agree_on_4_and_5() -> None:
    import re
    from pathlib import Path

    from syncd.errors import ExitCode

    root = Path(__file__).resolve().parents[2]
    tables = {
        "README.md": r"^\| (\d+) \| (0x[0-9A-F]+) \| (.*) \|$",
        "deploy/windows-task/README.md": r"^\| (\d+) \| `(0x[0-9A-F]+)` \| (.*) \|$",
    }
    for name, pattern in tables.items():
        rows = {
            int(code): (hexa, meaning)
            for code, hexa, meaning in re.findall(
                pattern, (root / name).read_text(encoding="utf-8"), flags=re.MULTILINE
            )
        }
        assert {code: hexa for code, (hexa, _) in rows.items()} == {
            int(c): f"0x{int(c):X}" for c in ExitCode
        }, name
        assert "missing" in rows[4][1] and "suspicious" in rows[4][1], name
        assert "expand" in rows[5][1] and "refused the credentials" in rows[5][1], name
        assert "nothing, if it was the target" in rows[5][1], name
        assert "seat cap" in rows[0][1] and "grace" in rows[0][1], name


def test_every_command_and_option_has_help_and_demo_offers_no_config() -> None:
    import argparse

    from syncd.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) >= {
        "plan",
        "apply",
        "run",
        "daemon",
        "check",
        "status",
        "audit",
        "demo",
        "alerts",
    }
    for name, sub in commands.choices.items():
        assert sub.description and "\n" not in sub.description, name
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, (
                name,
                action.option_strings or action.dest,
            )
    assert "--config" not in commands.choices["demo"].format_help()
    assert main(["demo", "-c", "syncd.toml"]) == 2
