"""Never do harm: each safety rule as a scenario through the CLI against the 7pace emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd import config as config_module
from syncd import plan_file
from syncd.cli import main
from syncd.cycle import Cycle, CycleRequest
from syncd.emulators.faults import Faults
from syncd.emulators.timetracker import EmulatedUser


def users(*numbers: int) -> list[str]:
    return [f"u{n:04d}@example.com" for n in numbers]


def seated(world: Any, roles: dict[str, str]) -> None:
    for email, role in roles.items():
        world.emulator.set_role(email, role)


def removals(world: Any) -> list[str]:
    return sorted(e["user.target.email"] for e in world.audit() if e["event.action"] == "seat-unassign")


def held(world: Any) -> list[tuple[str, str]]:
    return sorted(
        (e["user.target.email"], e["syncd.held.why"])
        for e in world.audit()
        if e["event.action"] == "seat-held"
    )


def test_mistyped_group_removes_nobody(world: Any) -> None:
    world.members({"Users": users(1, 2, 3), "Admins": []})
    config = str(world.write_config())
    assert main(["apply", "-c", config]) == 0
    config = str(world.write_config(rules=(("Userz", "Team"), ("Admins", "Administrator"))))
    assert main(["run", "-c", config]) == 4  # held work is not success (issue 15)
    assert world.roles() == dict.fromkeys(users(1, 2, 3), "Team")
    assert removals(world) == []
    assert [email for email, _ in held(world)] == users(1, 2, 3)
    assert all("group 'Userz' of hr is missing" in why for _, why in held(world))


def test_source_down_removes_nobody_and_exits_5(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world.members({"Users": users(1, 2), "Admins": []})
    config = world.write_config()
    assert main(["apply", "-c", str(config)]) == 0
    # Admins now comes from an Azure DevOps organisation that cannot be reached (nothing listens there)
    monkeypatch.setenv("SYNCD_TEST_PAT", "sentinel-pat")
    text = (
        config.read_text(encoding="utf-8")
        .replace(
            'group = "Admins"\nrole = "Administrator"',
            'group = "[contoso]\\\\Admins"\nrole = "Administrator"',
        )
        .replace(
            '[[rules]]\nsource = "hr"\ngroup = "[contoso]', '[[rules]]\nsource = "ado"\ngroup = "[contoso]'
        )
    )
    text += (
        '\n[[sources]]\nname = "ado"\ntype = "azure_devops"\norganization = "contoso"\n'
        'pat = { env = "SYNCD_TEST_PAT" }\nvssps_url = "https://127.0.0.1:9"\ntimeout = 2\n'
    )
    config.write_text(text, encoding="utf-8")
    world.members({"Users": users(2, 3), "Admins": []})  # u0001 left, u0003 joined
    assert main(["run", "-c", str(config)]) == 5
    # the join is applied (safe); the removal is held: u0001 might be an admin in the unreachable source
    assert world.roles() == dict.fromkeys(users(1, 2, 3), "Team")
    assert removals(world) == []
    assert [email for email, _ in held(world)] == users(1)


def test_emptied_group_is_held_as_suspicious(world: Any) -> None:
    world.members({"Users": users(1, 2, 3), "Admins": []})
    config = str(world.write_config())
    assert main(["apply", "-c", config]) == 0
    world.members({"Users": [], "Admins": []})
    assert main(["run", "-c", config]) == 4
    assert world.roles() == dict.fromkeys(users(1, 2, 3), "Team")
    assert all("is suspicious: empty now, 3 member(s) at its last good read" in why for _, why in held(world))


def test_sixty_percent_shrink_is_held(world: Any) -> None:
    world.members({"Users": users(*range(10)), "Admins": []})
    config = str(world.write_config(policy='grace = "0s"\nmax_removal_percent = 100'))
    assert main(["apply", "-c", config]) == 0
    world.members({"Users": users(*range(4)), "Admins": []})
    assert main(["run", "-c", config]) == 4
    assert len(world.roles()) == 10
    assert len(held(world)) == 6 and "shrank 60% (10 → 4)" in held(world)[0][1]
    # a 40 % shrink is within max_group_shrink_percent = 50 and is applied
    world.members({"Users": users(*range(6)), "Admins": []})
    assert main(["run", "-c", config]) == 0
    assert sorted(world.roles()) == users(*range(6))


def test_unmanaged_keep_versus_remove(world: Any) -> None:
    seated(world, {"u0030@example.com": "Team", "u0031@example.com": "Budget"})
    world.members({"Users": users(1), "Admins": []})
    keep = str(world.write_config())
    assert main(["run", "-c", keep]) == 0
    assert world.roles() == {
        "u0001@example.com": "Team",
        "u0030@example.com": "Team",
        "u0031@example.com": "Budget",
    }
    remove = str(world.write_config(policy='grace = "0s"\nunmanaged = "remove"\nmax_removal_percent = 100'))
    assert main(["run", "-c", remove]) == 0
    assert world.roles() == {"u0001@example.com": "Team"}


def test_removing_a_rule_unwinds_exactly_its_seats(world: Any) -> None:
    seated(world, {"u0030@example.com": "Team"})  # a manual seat syncd never assigned
    world.members({"Users": users(1, 2), "Admins": users(5), "Contractors": users(7, 8)})
    rules = (("Users", "Team"), ("Admins", "Administrator"), ("Contractors", "Product"))
    config = str(world.write_config(rules=rules, policy='grace = "0s"\nmax_removal_percent = 100'))
    assert main(["apply", "-c", config]) == 0
    config = str(world.write_config(rules=rules[:2], policy='grace = "0s"\nmax_removal_percent = 100'))
    assert main(["run", "-c", config]) == 0
    assert world.roles() == {
        "u0001@example.com": "Team",
        "u0002@example.com": "Team",
        "u0005@example.com": "Administrator",
        "u0030@example.com": "Team",
    }
    assert removals(world) == users(7, 8)


def test_protected_admin_survives_a_rule_that_would_remove_them(world: Any) -> None:
    world.members({"Users": users(1), "Admins": users(2, 3)})
    policy = (
        'grace = "0s"\nunmanaged = "remove"\nmax_removal_percent = 100\nprotected = ["U0002@Example.com"]'
    )
    config = str(world.write_config(policy=policy))
    assert main(["apply", "-c", config]) == 0
    world.members({"Users": users(1), "Admins": users(3)})  # a 50 % shrink: within the default limit
    assert main(["run", "-c", config]) == 0
    assert world.roles()["u0002@example.com"] == "Administrator"
    assert removals(world) == []


def test_grace_expiry_and_return_within_grace(world: Any) -> None:
    world.members({"Users": users(1, 2), "Admins": []})
    config_path = world.write_config(policy='grace = "24h"\nmax_removal_percent = 100')
    config = config_module.load(config_path)
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def run_at(moment: datetime) -> Any:
        return Cycle(config, clock=lambda: moment).run(CycleRequest("run", write=True, audit=True))

    run_at(start)
    world.members({"Users": users(1), "Admins": []})  # u0002 leaves
    first = run_at(start + timedelta(hours=1))
    assert [(h.change.email, h.cause, h.due) for h in first.plan.held] == [
        ("u0002@example.com", "grace", start + timedelta(hours=25))
    ]
    assert run_at(start + timedelta(hours=24)).plan.changes == ()
    world.members({"Users": users(1, 2), "Admins": []})  # back within grace: removal cancelled
    assert run_at(start + timedelta(hours=24, minutes=30)).plan.held == ()
    world.members({"Users": users(1), "Admins": []})  # leaves again: a new grace period starts
    again = run_at(start + timedelta(hours=26))
    assert [h.due for h in again.plan.held] == [start + timedelta(hours=50)]
    done = run_at(start + timedelta(hours=50))
    assert [(c.email, c.action.value) for c in done.plan.changes] == [("u0002@example.com", "seat-unassign")]
    assert world.roles() == {"u0001@example.com": "Team"}


def test_seat_cap_blocks_then_releases(world: Any) -> None:
    world.members({"Users": users(1, 2, 3, 4), "Admins": users(9)})
    config = str(world.write_config(policy='grace = "0s"\nseat_limit = 3\nmax_removal_percent = 100'))
    assert main(["run", "-c", config]) == 0
    # the admin first, then by e-mail: u0001, u0002; u0003 and u0004 blocked
    assert world.roles() == {
        "u0009@example.com": "Administrator",
        "u0001@example.com": "Team",
        "u0002@example.com": "Team",
    }
    blocked = sorted(e["user.target.email"] for e in world.audit() if e["event.action"] == "seat-blocked")
    assert blocked == users(3, 4)
    world.members({"Users": users(2, 3, 4), "Admins": users(9)})  # u0001 leaves: one seat frees
    assert main(["run", "-c", config]) == 0
    assert sorted(world.roles()) == users(2, 3, 9)


def test_reviewed_plan_applies_exactly_and_drift_is_refused(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Users": users(1, 2), "Admins": []})
    config = str(world.write_config())
    plan = str(world.root / "plan.json")
    assert main(["plan", "-c", config, "--out", plan]) == 0
    assert main(["apply", "-c", config, "--plan", plan]) == 0
    assert sorted(world.roles()) == users(1, 2)
    # the same plan again: the target has changed since, so it has drifted
    capsys.readouterr()
    assert main(["apply", "-c", config, "--plan", plan]) == 3
    assert "the world has drifted since this plan was made" in capsys.readouterr().err
    # a plan older than 24 h is refused
    world.members({"Users": users(1, 2, 3), "Admins": []})
    assert main(["plan", "-c", config, "--out", plan]) == 0
    data = json.loads(Path(plan).read_text(encoding="utf-8"))
    data["created"] = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    Path(plan).write_text(json.dumps(data), encoding="utf-8")
    capsys.readouterr()
    assert main(["apply", "-c", config, "--plan", plan]) == 3  # an edited `created`: the seal says so
    assert "plan was edited after it was made (created do(es) not match its seal)" in capsys.readouterr().err
    # made 25 h ago (re-sealed here as syncd would have sealed it then): too old
    body = {k: v for k, v in data.items() if k not in ("seal", "signature")}
    Path(plan).write_text(json.dumps(plan_file.sealed(body)), encoding="utf-8")
    assert main(["apply", "-c", config, "--plan", plan]) == 3
    assert "plan is 25 h old (limit 24 h)" in capsys.readouterr().err
    assert sorted(world.roles()) == users(1, 2)


def test_override_only_with_a_reviewed_plan(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(*range(10)), "Admins": []})
    policy = 'grace = "0s"\nmax_removals = 2\nmax_group_shrink_percent = 100'
    config = str(world.write_config(policy=policy))
    assert main(["apply", "-c", config]) == 0
    assert main(["apply", "-c", config, "--override-guards"]) == 2
    assert "--override-guards is accepted only together with --plan" in capsys.readouterr().err
    world.members({"Users": users(*range(5)), "Admins": []})
    assert main(["run", "-c", config]) == 3  # 5 removals > max_removals = 2
    assert len(world.roles()) == 10
    plan = str(world.root / "plan.json")
    capsys.readouterr()
    assert main(["plan", "-c", config, "--out", plan]) == 3  # printed and saved, but a run would stop
    assert (
        "a run would stop here (exit 3): 5 seat removals exceed policy.max_removals = 2"
        in capsys.readouterr().err
    )
    assert main(["apply", "-c", config, "--plan", plan]) == 3  # still guarded without the override
    assert main(["apply", "-c", config, "--plan", plan, "--override-guards"]) == 0
    assert sorted(world.roles()) == users(*range(5))


def test_removal_percent_guard_stops_before_any_write(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The relative guard on its own: 3 removals of 20 seats (15 %) are few in number (max_removals = 50)
    but above max_removal_percent = 10, so the run stops (exit 3) with nothing sent; 2 (10 %) pass."""
    world.members({"Users": users(*range(20)), "Admins": []})
    policy = 'grace = "0s"\nmax_removals = 50\nmax_removal_percent = 10\nmax_group_shrink_percent = 100'
    config = str(world.write_config(policy=policy))
    assert main(["apply", "-c", config]) == 0
    world.members({"Users": users(*range(17)), "Admins": []})
    world.emulator.clear_log()
    capsys.readouterr()
    assert main(["run", "-c", config]) == 3
    err = capsys.readouterr().err
    assert "3 seat removals are 15.0% of 20 seats, above policy.max_removal_percent = 10" in err, err
    assert world.emulator.count("POST users/roles") == 0
    assert sorted(world.roles()) == users(*range(20))
    world.members({"Users": users(*range(18)), "Admins": []})
    assert main(["run", "-c", config]) == 0
    assert sorted(world.roles()) == users(*range(18))


def _syncd(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", *args, "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_concurrent_runs_one_exits_6(world: Any) -> None:
    world.members({"Users": users(*range(30)), "Admins": []})
    config = world.write_config(batch_size=1)
    world.emulator.set_faults(Faults(latency=0.05, methods=frozenset({"POST"})))
    first = _syncd(config, "run")
    try:
        deadline = time.monotonic() + 30
        while world.emulator.count("POST users/roles") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        second = _syncd(config, "run")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 6, err
        assert "another syncd run holds the lock" in err and f"pid {first.pid}" in err
    finally:
        first.communicate(timeout=120)
    assert first.returncode == 0
    assert len(world.roles()) == 30


@pytest.mark.parametrize("kill_after_posts", [1, 4, 9])
def test_sigkill_between_batches_is_converged_by_the_next_run(world: Any, kill_after_posts: int) -> None:
    world.emulator.add_users(EmulatedUser(f"n{i:03d}@example.com") for i in range(120))
    seated(world, dict.fromkeys(users(*range(20)), "Team"))
    members = [f"n{i:03d}@example.com" for i in range(120)]
    world.members({"Users": members, "Admins": users(1)})
    policy = 'grace = "0s"\nunmanaged = "remove"\nmax_removal_percent = 100\nmax_removals = 100'
    config = world.write_config(batch_size=10, policy=policy)
    world.emulator.set_faults(Faults(latency=0.03, methods=frozenset({"POST"})))
    victim = _syncd(config, "run")
    deadline = time.monotonic() + 60
    while world.emulator.count("POST users/roles") < kill_after_posts and time.monotonic() < deadline:
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    world.emulator.set_faults(Faults())

    assert main(["run", "-c", str(config)]) == 0
    expected = dict.fromkeys(members, "Team") | {"u0001@example.com": "Administrator"}
    assert world.roles() == expected
    assert main(["plan", "-c", str(config), "--detailed-exitcode"]) == 0
    # every entry the emulator received is covered by an intent record written before it was sent
    intended = {
        email
        for e in world.audit()
        if e["event.action"] == "batch-intent"
        for email in e["syncd.batch.emails"]
    }
    changed = {
        e["user.target.email"]
        for e in world.audit()
        if e["event.action"] in ("seat-assign", "role-change", "seat-unassign")
    }
    assert changed <= intended
    intents = [e for e in world.audit() if e["event.action"] == "batch-intent"]
    assert len(intents) >= world.emulator.count("POST users/roles")  # each POST was announced first
    # u0001 promoted, the 19 other unmanaged seats removed: each person changed, none missed
    assert sorted(e for e in changed if e.startswith("u")) == users(*range(20))
