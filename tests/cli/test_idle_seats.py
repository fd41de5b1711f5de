"""Idle seats end to end (issue 18): the 7pace emulator serves worklogs over real HTTP; syncd reads them,
lists idle seats with their cost, reclaims them in reclaim mode, remembers and gives them back."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd import config as config_module
from syncd.cli import main
from syncd.cycle import Cycle, CycleRequest
from syncd.emulators.timetracker_worklogs import WorklogContract
from syncd.identity import EmailKey
from tests.cli.test_alerts import smtp, test_ca

KIND = "GET worklogs/all"
__all__ = ["smtp", "test_ca"]  # SMTP server fixtures of the alert tests (aiosmtpd on 127.0.0.1)


def users(*numbers: int) -> list[str]:
    return [f"u{n:04d}@example.com" for n in numbers]


def reclaim_table(mode: str = "report", extra: str = "") -> str:
    return f'[reclaim]\nidle_for = "60d"\nmin_seat_age = "0s"\nmode = "{mode}"\n{extra}\n'


def setup(
    world: Any,
    mode: str = "report",
    extra: str = "",
    groups: dict[str, list[str]] | None = None,
    sources: str = "",
) -> str:
    """u1 worked yesterday, u2 90 days ago, u3 never; all three are in Users (Team)."""
    world.members(groups or {"Users": users(1, 2, 3), "Admins": []})
    path = world.write_config(
        policy='grace = "0s"\nmax_removal_percent = 100', extra=reclaim_table(mode, extra)
    )
    text = path.read_text(encoding="utf-8").replace("\n[[rules]]", sources + "\n[[rules]]", 1)
    path.write_text(text, encoding="utf-8")
    config = str(path)
    now = datetime.now(UTC)
    world.emulator.log_work("u0001@example.com", now - timedelta(days=1))
    world.emulator.log_work("u0002@example.com", now - timedelta(days=90))
    assert main(["run", "-c", config]) == 0  # assigns the three seats
    assert world.roles() == dict.fromkeys(users(1, 2, 3), "Team")
    return config


def test_report_mode_lists_idle_seats_and_changes_nothing(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = setup(world)
    capsys.readouterr()
    assert main(["plan", "-c", config]) == 0
    out = capsys.readouterr().out
    assert "Idle seats: 2 idle seats (add [pricing] to see what they cost)" in out
    assert "u0002@example.com  Team  no time tracked since at least" in out
    assert "u0003@example.com  Team  no time tracked since at least" in out
    assert "u0001" not in out.split("Idle seats:")[1]
    assert "No changes" in out
    assert main(["idle", "-c", config, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["email"] for r in rows] == users(2, 3) or [r["email"] for r in rows] == users(3, 2)
    assert {r["status"] for r in rows} == {"reported"} and {r["rule"] for r in rows} == {"rules[0]"}
    assert main(["run", "-c", config]) == 0
    assert world.roles() == dict.fromkeys(users(1, 2, 3), "Team")
    capsys.readouterr()
    assert main(["status", "-c", config, "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["idle_summary"] == "2 idle seats (add [pricing] to see what they cost)"
    assert sorted(s["email"] for s in status["idle"]) == users(2, 3) and status["reclaimed"] == []


def test_idle_needs_a_reclaim_table(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(1), "Admins": []})
    config = str(world.write_config())
    assert main(["idle", "-c", config]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f'syncd: error: {config}: idle: add a [reclaim] table (idle_for = "60d") to judge idle seats'
    )


def test_reclaim_mode_reclaims_remembers_and_gives_back(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = setup(
        world,
        "reclaim",
        'regrant_group = { source = "hr", group = "Again" }',
        {"Users": users(1, 2, 3), "Admins": [], "Again": []},
    )
    capsys.readouterr()
    assert main(["run", "-c", config]) == 0
    assert world.roles() == {"u0001@example.com": "Team"}
    reclaims = [
        e for e in world.audit() if e.get("syncd.rule") == "reclaim" and e["event.outcome"] == "success"
    ]
    assert sorted(e["user.target.email"] for e in reclaims) == users(2, 3)
    assert all(
        "no time tracked" in e["event.reason"] and "reclaim.idle_for = 60d" in e["event.reason"]
        for e in reclaims
    )
    # remembered: the group still selects them, the next run does not give the seat back
    capsys.readouterr()
    assert main(["plan", "-c", config]) == 0
    assert "No changes" in capsys.readouterr().out
    assert main(["status", "-c", config]) == 0
    status = capsys.readouterr().out
    assert "Reclaimed (2)" in status and "u0002@example.com  Team" in status
    # grant: audited; the next run assigns the seat again
    assert main(["grant", "-c", config, "U0003@example.com"]) == 0
    assert any(
        e["event.action"] == "reclaim-grant" and e["user.target.email"] == "u0003@example.com"
        for e in world.audit()
    )
    assert main(["grant", "-c", config, "u0001@example.com"]) == 2
    # regrant group: u2 asks for the seat back
    world.members({"Users": users(1, 2, 3), "Admins": [], "Again": users(2)})
    world.emulator.log_work("u0003@example.com", datetime.now(UTC))  # u3 works again: not reclaimed anew
    assert main(["run", "-c", config]) == 0
    assert world.roles() == dict.fromkeys(users(1, 2, 3), "Team")
    assert any(
        e["event.action"] == "reclaim-regrant" and e["user.target.email"] == "u0002@example.com"
        for e in world.audit()
    )


def test_a_worklog_between_plan_and_apply_cancels_that_reclaim(world: Any, tmp_path: Path) -> None:
    config = setup(world, "reclaim")
    saved = tmp_path / "plan.json"
    assert main(["plan", "-c", config, "--out", str(saved)]) == 0
    planned = json.loads(saved.read_text(encoding="utf-8"))["changes"]
    assert sorted(c["email"] for c in planned if c["rule"] == "reclaim") == users(2, 3)
    world.emulator.log_work("u0002@example.com", datetime.now(UTC) - timedelta(hours=2), datetime.now(UTC))
    assert main(["apply", "-c", config, "--plan", str(saved)]) == 0
    assert world.roles() == dict.fromkeys(users(1, 2), "Team")
    held = [e for e in world.audit() if e["event.action"] == "seat-held"]
    assert [e["user.target.email"] for e in held] == users(2)
    assert "reclaim cancelled: time tracked at" in held[0]["syncd.held.why"]


def test_a_failed_activity_read_makes_nobody_idle(
    world: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = setup(world, "reclaim")
    saved = tmp_path / "plan.json"
    assert main(["plan", "-c", config, "--out", str(saved)]) == 0
    world.emulator.worklogs.set_contract(WorklogContract(fail="forbidden"))
    # the re-check before the write fails: every reclaim is held
    capsys.readouterr()
    assert main(["apply", "-c", config, "--plan", str(saved)]) == 4  # held work is not success
    assert "syncd: 2 reclaim(s) held: reclaim held: activity re-check failed" in capsys.readouterr().err
    assert world.roles() == dict.fromkeys(users(1, 2, 3), "Team")
    held = [e for e in world.audit() if e["event.action"] == "seat-held"]
    assert sorted(e["user.target.email"] for e in held) == users(2, 3)
    assert all("activity re-check failed" in e["syncd.held.why"] for e in held)
    capsys.readouterr()
    assert main(["plan", "-c", config]) == 0
    out = capsys.readouterr().out
    assert "idle seats not judged: activity unknown" in out and "Idle seats:" not in out


def test_exempt_people_and_groups_are_never_idle(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(
        world,
        "reclaim",
        'exempt = ["U0003@example.com"]\nexempt_groups = [{ source = "hr", group = "Managers" }]',
        {"Users": users(1, 2, 3), "Admins": [], "Managers": users(2)},
    )
    assert main(["run", "-c", config]) == 0
    assert world.roles() == dict.fromkeys(users(1, 2, 3), "Team")
    capsys.readouterr()
    assert main(["plan", "-c", config]) == 0
    assert "2 seat(s) in reclaim roles are exempt" in capsys.readouterr().out


def test_cost_of_idle_seats_under_the_pricing_model(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pricing = '\n[pricing]\nmodel = "7pace"\nprice_per_seat = "9.00"\nperiod = "month"\ncurrency = "USD"\nplan = "Team"\nassignable = 20\n'
    today = datetime.now(UTC).date()
    renewal = (today.replace(day=1) + timedelta(days=32)).replace(day=1)  # the first of next month
    config = setup(world, "report", pricing + f"renewal = {renewal.isoformat()}\n")
    capsys.readouterr()
    assert main(["plan", "-c", config]) == 0
    out = capsys.readouterr().out
    first = today.replace(day=1)
    days = (renewal - first).days
    left = (renewal - today).days - 1
    credit = (2 * 9 * 100 * left + days // 2) // days  # cents, half-up
    assert (
        f"2 idle seats: USD 18.00 a month; USD {credit // 100}.{credit % 100:02d} credit if reclaimed today"
        in out
    )


def test_incremental_reads_cost_a_handful_of_requests(world: Any) -> None:
    world.members({"Users": users(1, 2, 3), "Admins": []})
    config = str(
        world.write_config(extra=reclaim_table("report", 'activity_overlap = "1h"\nactivity_budget = 0'))
    )
    now = datetime.now(UTC)
    for i in range(1200):
        world.emulator.log_work(f"u{1 + i % 3:04d}@example.com", now - timedelta(days=10, minutes=i))
    world.emulator.clear_log()
    assert main(["run", "-c", config]) == 0
    assert world.emulator.count(KIND) == 4  # 500 + 500 + 200 + the empty page that ends the scan
    world.emulator.clear_log()
    assert main(["run", "-c", config]) == 0
    assert world.emulator.count(KIND) == 1  # nothing created since the last read: one empty page
    for i in range(3):
        world.emulator.log_work(f"u{i + 1:04d}@example.com", datetime.now(UTC))
    world.emulator.clear_log()
    assert main(["run", "-c", config]) == 0
    assert world.emulator.count(KIND) == 2


def test_warn_before_then_reclaim(world: Any) -> None:
    world.members({"Users": users(1, 2), "Admins": []})
    path = world.write_config(
        policy='grace = "0s"\nmax_removal_percent = 100', extra=reclaim_table("reclaim", 'warn_before = "7d"')
    )
    config = config_module.load(path)
    start = datetime.now(UTC)
    world.emulator.log_work("u0001@example.com", start - timedelta(days=1))
    clock = [start]

    def run() -> None:
        Cycle(config, clock=lambda: clock[0]).run(CycleRequest("run", write=True, audit=True))

    run()  # assigns
    run()  # u2 is idle: warned, not reclaimed
    assert world.roles() == dict.fromkeys(users(1, 2), "Team")
    warnings = [e for e in world.audit() if e["event.action"] == "reclaim-warning"]
    assert [e["user.target.email"] for e in warnings] == users(2)
    clock[0] = start + timedelta(days=3)
    world.emulator.log_work("u0001@example.com", clock[0])
    run()  # still within the warning period; no second warning
    assert world.roles() == dict.fromkeys(users(1, 2), "Team")
    assert len([e for e in world.audit() if e["event.action"] == "reclaim-warning"]) == 1
    clock[0] = start + timedelta(days=8)
    world.emulator.log_work("u0001@example.com", clock[0])
    run()
    assert world.roles() == {"u0001@example.com": "Team"}


def test_reclaims_count_toward_the_removal_guards_and_the_cap(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = setup(world, "reclaim")
    path = Path(config)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("max_removal_percent = 100", "max_removal_percent = 100\nmax_removals = 1"),
        encoding="utf-8",
    )
    assert main(["run", "-c", config]) == 3  # two reclaims exceed policy.max_removals = 1: nothing applied
    assert world.roles() == dict.fromkeys(users(1, 2, 3), "Team")
    assert "2 seat removals exceed policy.max_removals = 1" in capsys.readouterr().err
    path.write_text(path.read_text(encoding="utf-8") + "max_per_run = 1\n", encoding="utf-8")
    assert main(["run", "-c", config]) == 0
    assert len(world.roles()) == 2  # one reclaimed this run, the other waits for the next
    assert main(["run", "-c", config]) == 0
    assert world.roles() == {"u0001@example.com": "Team"}


def test_a_reclaimed_person_who_leaves_the_group_is_forgotten(world: Any) -> None:
    config = setup(world, "reclaim")
    assert main(["run", "-c", config]) == 0
    assert world.roles() == {"u0001@example.com": "Team"}
    world.members({"Users": users(1, 2), "Admins": []})  # u3 leaves
    assert main(["run", "-c", config]) == 0
    assert [
        e["user.target.email"] for e in world.audit() if e["event.action"] == "reclaim-forgotten"
    ] == users(3)
    world.members({"Users": users(1, 2, 3), "Admins": []})  # u3 is re-added: the rules give a seat again
    assert main(["run", "-c", config]) == 0
    assert world.roles() == dict.fromkeys(users(1, 3), "Team")


def test_the_idle_list_shows_who_never_used_azure_devops(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from syncd.emulators.azure_devops import AdoDirectory, AzureDevOpsEmulator
    from syncd.emulators.http_server import EmulatorServer

    directory = AdoDirectory(organization="contoso", tenant="tenant")
    for email in users(1, 2, 3):
        directory.add_user(email)
    ado = AzureDevOpsEmulator(directory, pats={"ado-pat"})
    ado.entitlements.last_accessed["u0002@example.com"] = "2026-11-20T10:00:00Z"
    server = EmulatorServer(ado.handle).start()
    ado.base_url = server.base_url
    try:
        (world.root / "pat.txt").write_text("ado-pat", encoding="utf-8")
        (world.root / "pat.txt").chmod(0o600)
        source = (
            f'\n[[sources]]\nname = "ado"\ntype = "azure_devops"\norganization = "contoso"\n'
            f'vssps_url = "{ado.base_url}"\npat = {{ file = "pat.txt" }}\nallow_insecure_http = true\n'
        )
        devops = f'devops_source = "ado"\ndevops_url = "{ado.base_url}"\n'
        config = setup(world, "report", devops, sources=source)
        capsys.readouterr()
        assert main(["idle", "-c", config, "--format", "csv"]) == 0
        rows = {
            r["email"]: r["devops_last_access"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))
        }
        assert rows == {"u0002@example.com": "2026-11-20", "u0003@example.com": "never"}
        assert main(["plan", "-c", config]) == 0
        assert "Azure DevOps: never used" in capsys.readouterr().out
    finally:
        server.stop()


def test_a_reclaim_recorded_by_a_run_killed_before_its_write_is_finished_or_undone(world: Any) -> None:
    from syncd.reclaim_state import Reclaimed, ReclaimState
    from syncd.state import State

    config = setup(world)  # report mode: nothing reclaimed yet
    path = Path(config)
    path.write_text(
        path.read_text(encoding="utf-8").replace('mode = "report"', 'mode = "reclaim"'), encoding="utf-8"
    )
    # what a run killed between recording its reclaims and sending them leaves behind
    state_dir = config_module.load(path).state_dir
    with State(state_dir) as state:
        when = datetime.now(UTC)
        ReclaimState(state).record_reclaimed(
            Reclaimed(k, k, "Team", "reclaim", when, "no time tracked") for k in map(EmailKey, users(1, 2))
        )
    assert main(["run", "-c", config]) == 0
    # u2 (idle) loses the seat under the recorded reclaim; u1 (working) keeps it and is reclaimed no more
    assert world.roles() == {"u0001@example.com": "Team"}
    done = [
        e for e in world.audit() if e["event.action"] == "seat-unassign" and e["event.outcome"] == "success"
    ]
    finishing = [e for e in done if e["event.reason"].startswith("finishing the reclaim of ")]
    assert [e["user.target.email"] for e in finishing] == users(2)
    assert finishing[0]["syncd.rule"] == "reclaim"
    with State(state_dir) as state:
        assert sorted(ReclaimState(state).reclaimed()) == users(2, 3)


def test_the_first_read_is_spread_over_runs_by_the_budget(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Users": users(1, 2, 3), "Admins": []})
    config = str(world.write_config(extra=reclaim_table("report", "activity_budget = 5")))
    now = datetime.now(UTC)
    for i in range(1200):  # u1 and u2 worked 10 days ago; u3 never
        world.emulator.log_work(f"u{1 + i % 2:04d}@example.com", now - timedelta(days=10, minutes=i))
    assert main(["run", "-c", config]) == 0  # assigns the seats
    counts = []
    for _ in range(4):
        world.emulator.clear_log()
        capsys.readouterr()
        assert main(["plan", "-c", config]) == 0
        counts.append(world.emulator.count(KIND))
        out = capsys.readouterr().out
        if "Idle seats:" in out:
            break
        assert "idle seats not judged: activity unknown (first worklog read in progress:" in out
    # weekly slices of 1, 4 (1,200 rows), then 1 each: at most the budget plus one slice per run, and each
    # later run first reads what was created since the previous one (1 request)
    assert counts[0] == 5 and all(c <= 5 + 4 for c in counts)
    assert "Idle seats: 1 idle seat" in out and "u0003@example.com" in out.split("Idle seats:")[1]


def test_in_one_run_a_worklog_logged_after_planning_cancels_that_reclaim(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncd.idle_seats import IdleSeatStep

    config = setup(world, "reclaim")
    original = IdleSeatStep.before_write

    def worklog_then_write(self: IdleSeatStep, *args: Any) -> Any:
        world.emulator.log_work("u0003@example.com", datetime.now(UTC))  # u3 logs time right now
        return original(self, *args)

    monkeypatch.setattr(IdleSeatStep, "before_write", worklog_then_write)
    assert main(["run", "-c", config]) == 0  # a worklog cancelling a reclaim is the policy working
    assert world.roles() == dict.fromkeys(users(1, 3), "Team")
    held = [e for e in world.audit() if e["event.action"] == "seat-held"]
    assert [e["user.target.email"] for e in held] == users(3)
    assert held[0]["syncd.held.why"].startswith("reclaim cancelled: time tracked at ")


def test_warn_before_mails_the_person_through_an_alerts_email_entry(
    world: Any, smtp: Any, test_ca: Any
) -> None:
    from tests.cli.test_alerts import email_alert

    box, port = smtp
    world.members({"Users": users(1, 2), "Admins": []})
    path = world.write_config(
        policy='grace = "0s"\nmax_removal_percent = 100',
        extra=reclaim_table("reclaim", 'warn_before = "7d"\nwarn_channel = "ops-mail"'),
    )
    path.write_text(path.read_text(encoding="utf-8") + email_alert(world, port, test_ca), encoding="utf-8")
    world.emulator.log_work("u0001@example.com", datetime.now(UTC) - timedelta(days=1))
    assert main(["run", "-c", str(path)]) == 0  # assigns
    assert main(["run", "-c", str(path)]) == 0  # u2 idle: warned by mail, not reclaimed
    assert world.roles() == dict.fromkeys(users(1, 2), "Team")
    mails = [m for m in box.messages if m["X-Syncd-Event"] == "reclaim-warning"]
    assert [str(m["To"]) for m in mails] == users(2)
    assert str(mails[0]["Subject"]).startswith(
        "[syncd ALERT] Your 7pace Timetracker seat will be reclaimed on "
    )
    assert "no time tracked since at least" in mails[0].get_content()
    warning = [e for e in world.audit() if e["event.action"] == "reclaim-warning"]
    assert warning[0]["event.outcome"] == "success" and warning[0]["syncd.alert.channel"] == "ops-mail"
    assert main(["run", "-c", str(path)]) == 0
    assert len([m for m in box.messages if m["X-Syncd-Event"] == "reclaim-warning"]) == 1  # warned once


def test_a_warning_that_cannot_be_sent_is_not_a_warning(
    world: Any, test_ca: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.cli.test_alerts import _free_port, email_alert

    world.members({"Users": users(1, 2), "Admins": []})
    path = world.write_config(
        policy='grace = "0s"\nmax_removal_percent = 100',
        extra=reclaim_table("reclaim", 'warn_before = "7d"\nwarn_channel = "ops-mail"'),
    )
    path.write_text(
        path.read_text(encoding="utf-8") + email_alert(world, _free_port(), test_ca), encoding="utf-8"
    )
    world.emulator.log_work("u0001@example.com", datetime.now(UTC) - timedelta(days=1))
    assert main(["run", "-c", str(path)]) == 0
    capsys.readouterr()
    assert main(["run", "-c", str(path)]) == 0
    assert "syncd: reclaim warning to u0002@example.com not sent (ops-mail): " in capsys.readouterr().err
    failed = [e for e in world.audit() if e["event.action"] == "reclaim-warning"]
    assert [e["event.outcome"] for e in failed] == ["failure"]
    config = config_module.load(path)
    from syncd.reclaim_state import ReclaimState
    from syncd.state import State

    with State(config.state_dir) as state:
        assert ReclaimState(state).warnings() == {}  # the next run tries again; the reclaim waits
