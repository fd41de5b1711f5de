"""Issue 19: several targets in one config — two 7pace organisations and one TrackingTime account planned,
applied and re-planned empty in one run; one target failing leaves the others applied and the exit code says
so; `--target` limits a command to one target; a reviewed plan is bound to the targets it covers; a rule
without a target is a one-line config error; a single-target state carries over unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from syncd import config as config_module
from syncd.config import Config
from syncd.cycle import CycleRequest, utc_now
from syncd.errors import ExitCode
from syncd.multi_target import run_targets, worst
from syncd.reading import opened_target
from tests.support.cli import run_cli as run
from tests.support.configs import USERS_ARE_TEAM, local_target

from .conftest import Fleet

PEOPLE = {"Users": ["ann@example.com", "bob@example.com"], "Admins": ["ann@example.com"]}


def test_three_targets_plan_apply_replan_empty(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    fleet.members(PEOPLE)
    cfg = str(fleet.write_config(top='metrics_file = "metrics.prom"\n'))

    code, out, err = run(["plan", "-c", cfg, "--detailed-exitcode"], capsys)
    assert code == 10, out + err
    assert "target org-a (timetracker)" in out and "target tt (trackingtime)" in out
    assert "Total: 3 target(s), 0 not ok" in out

    code, out, err = run(["apply", "-c", cfg], capsys)
    assert code == 0, out + err
    assert fleet.org_a.roles_by_email() == {
        "ann@example.com": "Administrator",
        "bob@example.com": "Team",
        "old@example.com": "Team",  # unmanaged = keep: a seat syncd never gave stays
    }
    assert fleet.org_b.roles_by_email() == {"ann@example.com": "Team", "bob@example.com": "Team"}
    assert fleet.tt.roles_by_email() == {
        "owner@example.com": "ADMIN",
        "ann@example.com": "CO_WORKER",  # invited
        "bob@example.com": "CO_WORKER",  # re-opened, not invited again
    }
    for name in ("org-a", "org-b", "tt"):
        assert f"Target {name} (" in out and f"{name} 0" in out
    assert "Total: 3 target(s), 0 not ok; applied 6 of 6 change(s); seats 2 → 8" in out

    code, out, _ = run(["plan", "-c", cfg, "--detailed-exitcode"], capsys)
    assert code == 0, out
    assert "0 change(s) planned" in out

    # every event names its target; each target has its own state folder
    changes = [e for e in fleet.audit() if e.get("event.action") in ("seat-assign", "role-change")]
    assert {e["syncd.target.name"] for e in changes} == {"org-a", "org-b", "tt"}
    assert {e["syncd.target"] for e in changes} == {"timetracker", "trackingtime"}
    folders = sorted(p.name for p in (fleet.root / "state").iterdir() if (p / "syncd.sqlite3").exists())
    assert len(folders) == 3 and any(f.startswith("trackingtime-") for f in folders)

    metrics = (fleet.root / "metrics.prom").read_text(encoding="utf-8")
    assert 'syncd_last_run_exit_code{target="org-b"} 0' in metrics
    assert 'syncd_seats{target="tt",when="after"} 3' in metrics
    assert "\nsyncd_last_run_exit_code 0\n" in metrics  # the run's own, for one alert rule

    code, out, err = run(["check", "-c", cfg], capsys)
    assert code == 0, out + err
    assert "3 targets" in out and "target org-b:" in out and "target tt:" in out

    code, out, _ = run(["status", "-c", cfg], capsys)
    assert code == 0
    assert "== target org-a (timetracker) ==" in out and "== target tt (trackingtime) ==" in out
    assert "Total: 3 target(s); 8 seat(s) held" in out


def test_one_target_failing_leaves_the_others_applied(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.members(PEOPLE)
    cfg = str(fleet.write_config(top='metrics_file = "metrics.prom"\n'))
    (fleet.root / "tt.txt").write_text("not-the-app-password", encoding="utf-8")  # TrackingTime refuses us

    code, out, err = run(["run", "-c", cfg], capsys)
    assert code == ExitCode.UNREACHABLE, out + err
    assert fleet.org_a.roles_by_email()["ann@example.com"] == "Administrator"
    assert fleet.org_b.roles_by_email() == {"ann@example.com": "Team", "bob@example.com": "Team"}
    assert fleet.tt.roles_by_email() == {"owner@example.com": "ADMIN"}
    assert "Target tt (trackingtime): exit 5" in out
    assert "exit 5, the worst of: org-a 0, org-b 0, tt 5" in out
    assert "target tt:" in err
    metrics = (fleet.root / "metrics.prom").read_text(encoding="utf-8")
    assert 'syncd_last_run_exit_code{target="tt"} 5' in metrics  # stopped before planning: still reported
    assert 'syncd_seats{target="tt"' not in metrics and 'syncd_seats{target="org-a",when="after"}' in metrics
    assert "\nsyncd_last_run_exit_code 5\n" in metrics and metrics.count("# TYPE syncd_seats gauge") == 1


def test_a_crashing_target_does_not_stop_the_others(fleet: Fleet) -> None:
    fleet.members(PEOPLE)
    config = config_module.load(fleet.write_config())

    @contextmanager
    def broken_b(view: Config) -> Iterator[Any]:
        if view.target_name == "org-b":
            raise RuntimeError("simulated bug")
        with opened_target(view) as target:
            yield target

    request = CycleRequest("apply", write=True, audit=True)
    result = run_targets(config, request, config.target_names, clock=utc_now, open_target=broken_b)
    assert [int(o.exit_code) for o in result.outcomes] == [0, 1, 0]
    assert result.exit_code is ExitCode.INTERNAL
    assert "simulated bug" in result.outcome("org-b").error
    assert fleet.org_b.roles_by_email() == {}
    assert fleet.tt.roles_by_email()["ann@example.com"] == "CO_WORKER"


def test_target_flag_limits_a_command_to_one_target(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    fleet.members(PEOPLE)
    cfg = str(fleet.write_config())
    code, out, err = run(["apply", "-c", cfg, "--target", "org-b"], capsys)
    assert code == 0, out + err
    assert fleet.org_b.roles_by_email() == {"ann@example.com": "Team", "bob@example.com": "Team"}
    assert fleet.org_a.roles_by_email() == {"old@example.com": "Team"}
    assert fleet.tt.roles_by_email() == {"owner@example.com": "ADMIN"}
    assert "Target org-a" not in out

    code, out, _ = run(["plan", "-c", cfg, "--format", "csv"], capsys)
    rows = out.splitlines()
    assert code == 0 and rows[0].startswith("target,status,action")
    assert {r.split(",")[0] for r in rows[1:]} == {"org-a", "tt"}  # org-b has nothing left to do

    code, _, err = run(["plan", "-c", cfg, "--target", "org-c"], capsys)
    assert code == ExitCode.CONFIG
    assert err.count("\n") == 1 and "org-a, org-b, tt" in err

    # commands that act on one target ask which
    code, _, err = run(["state", "-c", cfg, "rebind"], capsys)
    assert code == ExitCode.CONFIG and "--target NAME" in err


def test_reviewed_plan_is_bound_to_its_targets(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    fleet.members(PEOPLE)
    cfg = str(fleet.write_config())
    plan = str(fleet.root / "plan.json")
    code, out, err = run(["plan", "-c", cfg, "--out", plan], capsys)
    assert code == 0, out + err
    saved = json.loads(Path(plan).read_text(encoding="utf-8"))
    assert list(saved["targets"]) == ["org-a", "org-b", "tt"] and "seal" in saved

    code, _, err = run(["apply", "-c", cfg, "--target", "org-a", "--plan", plan], capsys)
    assert code == ExitCode.GUARD and "covers target(s) org-a, org-b, tt" in err
    assert fleet.org_a.roles_by_email() == {"old@example.com": "Team"}

    one = str(fleet.root / "one.json")
    assert run(["plan", "-c", cfg, "--target", "tt", "--out", one], capsys)[0] == 0
    code, _, err = run(["apply", "-c", cfg, "--plan", one], capsys)
    assert code == ExitCode.GUARD and "covers target(s) tt" in err

    code, out, err = run(["apply", "-c", cfg, "--plan", plan], capsys)
    assert code == 0, out + err
    assert fleet.tt.roles_by_email()["ann@example.com"] == "CO_WORKER"


def test_a_guard_stops_one_target_and_its_plan_is_bound_to_it(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """org-a would remove a seat nobody's group explains (unmanaged = remove) but max_removals = 0: its guard
    stops it (exit 3) while org-b and tt are applied; the plan it saved is applied with --target org-a only."""
    fleet.members(PEOPLE)
    cfg = fleet.write_config(
        extra='unmanaged = "remove"\nmax_removals = 0\nprotected = ["owner@example.com"]\n'
    )
    code, out, err = run(["run", "-c", str(cfg)], capsys)
    assert code == ExitCode.GUARD, out + err
    assert "Target org-a (timetracker): exit 3" in out and "org-b 0, tt 0" in out
    assert fleet.org_b.roles_by_email() == {"ann@example.com": "Team", "bob@example.com": "Team"}
    assert fleet.org_a.roles_by_email() == {"old@example.com": "Team"}
    line = next(e for e in err.splitlines() if "target org-a:" in e)
    refused = line.split("Review ", 1)[1].split(" and, if")[0]
    assert "with several targets, apply it with --target org-a" in line

    code, _, err = run(["apply", "-c", str(cfg), "--plan", refused, "--override-guards"], capsys)
    assert code == ExitCode.GUARD and "covers target(s) org-a" in err
    code, out, err = run(
        ["apply", "-c", str(cfg), "--target", "org-a", "--plan", refused, "--override-guards"], capsys
    )
    assert code == 0, out + err
    assert fleet.org_a.roles_by_email() == {"ann@example.com": "Administrator", "bob@example.com": "Team"}


def test_rule_without_target_is_one_line(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    fleet.members(PEOPLE)
    rules = '\n[[rules]]\nsource = "hr"\ngroup = "Users"\nrole = "Team"\n'
    cfg = str(fleet.write_config(rules=rules))
    code, _, err = run(["plan", "-c", cfg], capsys)
    assert code == ExitCode.CONFIG
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "rules[0].target" in lines[0] and "org-a, org-b, tt" in lines[0]

    named = rules + 'target = "org-z"\n'
    code, _, err = run(["plan", "-c", str(fleet.write_config(rules=named))], capsys)
    assert code == ExitCode.CONFIG and "no target is named 'org-z'" in err and "org-a, org-b, tt" in err


def test_target_and_targets_together_is_one_line(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    fleet.members(PEOPLE)
    cfg = fleet.write_config()
    cfg.write_text(
        f'[target]\nurl = "{fleet.org_a.base_url}"\ntoken = "x"\n' + cfg.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    code, _, err = run(["check", "--offline", "-c", str(cfg)], capsys)
    assert code == ExitCode.CONFIG
    assert len(err.splitlines()) == 1 and "both [target] and [[targets]]" in err


def test_single_target_state_carries_over(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    """A state made by a single-target config (the previous release's layout: `state/<type>-<host>-<path>`,
    bound to its organisation) is used as is when the config grows to several targets: the seat syncd gave
    bob in OrgA is still syncd's, so when bob leaves it is removed (unmanaged = keep would keep it else)."""
    fleet.members(PEOPLE)
    single = single_target_config(fleet, fleet.root / "syncd.toml")
    code, out, err = run(["apply", "-c", str(single)], capsys)
    assert code == 0, out + err
    assert fleet.org_a.roles_by_email()["bob@example.com"] == "Team"
    before = sorted(p.name for p in (fleet.root / "state").iterdir())

    fleet.members({"Users": ["ann@example.com"], "Admins": ["ann@example.com"]})
    cfg = str(fleet.write_config())  # the same file, now with three [[targets]]
    code, out, err = run(["apply", "-c", cfg], capsys)
    assert code == 0, out + err
    assert "bob@example.com" not in fleet.org_a.roles_by_email()  # syncd's seat, removed
    assert fleet.org_a.roles_by_email()["old@example.com"] == "Team"  # never syncd's: kept
    after = sorted(p.name for p in (fleet.root / "state").iterdir())
    assert set(before) < set(after) and len(after) == 3


def single_target_config(fleet: Fleet, path: Path) -> Path:
    """A config of the previous release's shape: one [target], OrgA."""
    target = local_target(fleet.org_a.onprem_url("OrgA"), 'token = { file = "a.txt" }')
    policy = '[policy]\ngrace = "0s"\nmax_removal_percent = 100\n'
    path.write_text("\n".join([target, USERS_ARE_TEAM, policy]), encoding="utf-8")
    return path


def test_plan_files_do_not_cross_between_one_and_several_targets(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.members(PEOPLE)
    cfg = str(fleet.write_config())
    several = str(fleet.root / "set.json")
    assert run(["plan", "-c", cfg, "--target", "org-a", "--out", several], capsys)[0] == 0
    single = str(single_target_config(fleet, fleet.root / "single.toml"))
    code, _, err = run(["apply", "-c", single, "--plan", several], capsys)
    assert code == ExitCode.GUARD and "several targets" in err

    one = str(fleet.root / "one.json")
    assert run(["plan", "-c", single, "--out", one], capsys)[0] == 0
    code, _, err = run(["apply", "-c", cfg, "--target", "org-a", "--plan", one], capsys)
    assert code == ExitCode.GUARD and "single-target config" in err
    assert fleet.org_a.roles_by_email() == {"old@example.com": "Team"}

    assert run(["plan", "-c", single, "--target", "timetracker"], capsys)[0] == 0
    code, _, err = run(["plan", "-c", single, "--target", "org-a"], capsys)
    assert code == ExitCode.CONFIG and "defined: timetracker" in err


def test_worst_exit_code_order() -> None:
    assert worst([ExitCode.OK, ExitCode.PARTIAL, ExitCode.UNREACHABLE]) is ExitCode.UNREACHABLE
    assert worst([ExitCode.GUARD, ExitCode.UNREACHABLE]) is ExitCode.GUARD
    assert worst([ExitCode.LOCKED, ExitCode.PARTIAL]) is ExitCode.PARTIAL
    assert worst([ExitCode.CONFIG, ExitCode.INTERNAL]) is ExitCode.INTERNAL
    assert worst([ExitCode.OK, ExitCode.LOCKED]) is ExitCode.LOCKED
    assert worst([]) is ExitCode.OK
