"""The CLI in-process through `main([...])`, against the 7pace emulator over real HTTP: every documented exit
code, the output formats, and the audit trail."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from syncd import cli
from syncd import config as config_module
from syncd.cli import main
from syncd.emulators.timetracker import Contract, EmulatedUser


def users(*numbers: int) -> list[str]:
    return [f"u{n:04d}@example.com" for n in numbers]


def test_apply_then_plan_is_empty_exit_0(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(1, 2, 3), "Admins": users(3)})
    config = str(world.write_config())
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 10
    out = capsys.readouterr().out
    assert "Assign 3 seat(s):" in out and "u0003@example.com  None → Administrator" in out
    assert main(["apply", "-c", config]) == 0
    assert world.roles() == {
        "u0001@example.com": "Team",
        "u0002@example.com": "Team",
        "u0003@example.com": "Administrator",
    }
    capsys.readouterr()
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 0
    assert "No changes" in capsys.readouterr().out
    events = world.audit()
    assigns = [e for e in events if e["event.action"] == "seat-assign"]
    assert sorted(e["user.target.email"] for e in assigns) == users(1, 2, 3)
    assert all(e["event.outcome"] == "success" and e["syncd.dry_run"] is False for e in assigns)
    admin = next(e for e in assigns if e["user.target.email"] == "u0003@example.com")
    assert admin["user.target.roles"] == ["None"] and admin["user.changes.roles"] == ["Administrator"]
    assert (
        admin["syncd.rule"] == "rules[1]"
        and admin["group.name"] == "Admins"
        and admin["syncd.source"] == "hr"
    )
    (summary,) = [e for e in events if e["event.action"] == "run-summary"]
    assert summary["syncd.seats.before"] == 0 and summary["syncd.seats.after"] == 3
    assert summary["process.exit.code"] == 0


def test_plan_formats_json_and_csv(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(1, 2), "Admins": []})
    config = str(world.write_config())
    assert main(["plan", "-c", config, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["seat-assign"] == 2 and data["seats"] == {"before": 0, "after": 2, "limit": None}
    assert [c["email"] for c in data["changes"]] == users(1, 2)
    assert main(["plan", "-c", config, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["status"], r["action"], r["email"], r["after"], r["rule"]) for r in rows] == [
        ("planned", "seat-assign", "u0001@example.com", "Team", "rules[0]"),
        ("planned", "seat-assign", "u0002@example.com", "Team", "rules[0]"),
    ]


def test_config_error_exit_2(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": []})
    path = world.write_config(policy='grace = "forever"')
    assert main(["run", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"syncd: error: {path}: policy.grace: 'forever' is not a duration; use e.g. '90s', '45m', '24h', '7d', '1h30m'\n"
    )


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--format", "xml"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'xml'" in err and len(err.strip().splitlines()) == 1


def test_internal_error_exit_1_one_line(world: Any, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    def broken(_args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setitem(cli.COMMANDS, "plan", broken)
    assert main(["plan"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("syncd: internal error: RuntimeError: boom") and "Traceback" not in err


def test_guard_exit_3_nothing_written(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    seated = {f"u{n:04d}@example.com": "Team" for n in range(60)}
    world.emulator.add_users(EmulatedUser(email, role) for email, role in seated.items())
    world.members({"Users": users(*range(60)), "Admins": []})
    config = str(world.write_config(policy='grace = "0s"\nunmanaged = "remove"\nmax_removal_percent = 100'))
    assert main(["apply", "-c", config]) == 0
    world.members({"Users": users(*range(9)), "Admins": []})  # 51 leave
    # a big shrink is first held as suspicious; accept it as a real change to reach the global guard
    config = str(
        world.write_config(
            policy='grace = "0s"\nunmanaged = "remove"\nmax_removals = 50\n'
            "max_removal_percent = 100\nmax_group_shrink_percent = 100"
        )
    )
    world.emulator.clear_log()
    capsys.readouterr()
    assert main(["run", "-c", config]) == 3
    err = capsys.readouterr().err
    assert "51 seat removals exceed policy.max_removals = 50" in err and "refused-plan-" in err
    assert world.emulator.count("POST users/roles") == 0
    assert len(world.roles()) == 60
    assert [e for e in world.audit() if e["event.action"] == "guard-stop"]


def test_people_outside_the_organization_are_left_alone_not_failed_every_hour(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Users": [*users(1, 2), "ghost1@example.com", "ghost2@example.com"], "Admins": []})
    config = str(world.write_config())
    assert main(["plan", "-c", config]) == 0
    out = capsys.readouterr().out
    assert "Left alone, nothing sent (2):" in out
    assert (
        "ghost1@example.com  not-in-organization: cannot be assigned yet: not a user of the organization"
        in out
    )
    assert main(["run", "-c", config]) == 0
    assert world.roles() == {"u0001@example.com": "Team", "u0002@example.com": "Team"}
    posted = [r for r in world.emulator.requests if r.kind == "POST users/roles"]
    assert [r.entries for r in posted] == [2]  # the ghosts were never sent
    left = [e for e in world.audit() if e["event.action"] == "seat-left-alone"]
    assert sorted(e["user.target.email"] for e in left) == ["ghost1@example.com", "ghost2@example.com"]
    assert {e["syncd.left_alone.kind"] for e in left} == {"not-in-organization"}
    assert main(["status", "-c", config]) == 0
    assert "ghost2@example.com  not-in-organization" in capsys.readouterr().out


def test_partial_failure_exit_4_with_failure_events(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # a 7pace that cannot list its organization's users (today's behaviour): the two people it does not
    # know are sent, and come back as failedEntries for exactly them
    world.emulator.contract = Contract(users_listing=False, include_none_roles=False)
    world.members({"Users": [*users(1, 2), "ghost1@example.com", "ghost2@example.com"], "Admins": []})
    config = str(world.write_config())
    assert main(["run", "-c", config]) == 4
    assert world.roles() == {"u0001@example.com": "Team", "u0002@example.com": "Team"}
    failures = [
        e for e in world.audit() if e.get("event.outcome") == "failure" and e["event.action"] == "seat-assign"
    ]
    assert sorted(e["user.target.email"] for e in failures) == ["ghost1@example.com", "ghost2@example.com"]
    assert all(e["error.message"] for e in failures)
    assert "FAILED ghost1@example.com" in capsys.readouterr().out


def test_bad_token_exit_5_and_token_never_printed(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(1), "Admins": []})
    config = world.write_config()
    (world.root / "token.txt").write_text("sentinel-wrong-token", encoding="utf-8")
    assert main(["-vv", "run", "-c", str(config)]) == 5
    captured = capsys.readouterr()
    err_lines = [line for line in captured.err.splitlines() if line.startswith("syncd: error:")]
    assert (len(err_lines) == 1 and "401" in err_lines[0]) or "token" in err_lines[0]
    everything = captured.out + captured.err + "".join(json.dumps(e) for e in world.audit())
    assert "sentinel-wrong-token" not in everything and world.token not in everything
    assert world.roles() == {}


def test_lock_held_exit_6(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from syncd.runlock import RunLock

    world.members({"Users": users(1), "Admins": []})
    config = world.write_config()
    with RunLock(config_module.load(config).state_dir, "run"):
        assert main(["run", "-c", str(config)]) == 6
    assert "another syncd run holds the lock" in capsys.readouterr().err
    assert world.roles() == {}


def test_dry_run_changes_nothing_but_audits(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(1), "Admins": []})
    config = str(world.write_config())
    assert main(["run", "--dry-run", "-c", config]) == 0
    assert world.roles() == {}
    planned = [e for e in world.audit() if e["event.action"] == "seat-assign"]
    assert (
        len(planned) == 1 and planned[0]["syncd.dry_run"] is True and planned[0]["event.outcome"] == "unknown"
    )


def test_check_offline_and_online(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(1, 2), "Admins": []})
    config = str(world.write_config(rules=(("Users", "Team"), ("Admnis", "Administrator"))))
    assert main(["check", "--offline", "-c", config]) == 0
    assert "configuration is valid (1 source(s), 2 rule(s)" in capsys.readouterr().out
    assert main(["check", "-c", config]) == 2  # the mistyped group is missing
    out = capsys.readouterr().out
    assert "rules[0] hr: Users: ok, 2 member(s)" in out
    assert "FAIL  rules[1] hr: Admnis: missing" in out
    assert "target timetracker: 0 seat(s) held" in out


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("syncd ")
    assert main(["--help"]) == 0
    assert "   6 (0x6)  another run holds the lock" in capsys.readouterr().out


def test_demo_end_to_end(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "applied 12 of 12 change(s); exit code 0" in out
    # issue 19: the demo has two targets (7pace and TrackingTime); the re-plan is empty for both
    assert "trackingtime: applied 11 of 11 change(s); exit code 0" in out
    assert out.count("No changes: every seat already matches the rules.") == 2
    assert (tmp_path / "demo" / "logs").is_dir()
