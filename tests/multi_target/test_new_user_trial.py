"""Issue 19 follow-ups from a new-user trial: what a config with several targets writes on disk when a run
fails, which pricing each target gets, and the hints and labels the commands print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncd.errors import ExitCode
from tests.support.cli import closed_port
from tests.support.cli import run_cli as run
from tests.support.configs import FILE_SOURCE, USERS_ARE_TEAM, local_target, rule

from .conftest import Fleet

PEOPLE = {"Users": ["ann@example.com", "bob@example.com"], "Admins": ["ann@example.com"]}


def diagnostic_errors(folder: Path) -> list[dict[str, Any]]:
    lines = [
        line for path in sorted(folder.glob("syncd-*.log")) for line in path.read_text("utf-8").splitlines()
    ]
    return [r for r in map(json.loads, lines) if r.get("level") == "error"]


def test_a_failed_run_names_each_failing_target_and_its_cause_in_the_diagnostic_log(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.members(PEOPLE)
    port = closed_port()
    cfg = str(fleet.write_config(tt_url=f"http://127.0.0.1:{port}/api/v4"))
    code, out, err = run(["run", "-c", cfg], capsys)
    assert code == ExitCode.UNREACHABLE, out + err

    (ending,) = diagnostic_errors(fleet.root / "logs")
    assert ending["exit_code"] == 5
    assert ending["event"].startswith("run ended with exit 5: target tt: exit 5: ")
    (problem,) = ending["problems"]  # org-a and org-b ended 0: not named
    assert problem.startswith("target tt: exit 5: ") and f"127.0.0.1:{port}" in problem
    assert "audit log has this run's records" not in ending["event"]


SEVENPACE_PRICING = """
[pricing]
model = "7pace"
price_per_seat = 9.0
period = "month"
renewal = "2099-01-01"
currency = "USD"
assignable = 15
plan = "Team"
"""


def test_a_trackingtime_target_never_takes_the_7pace_pricing(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """The top-level `[pricing]` (7pace's model) prices the 7pace targets only; the TrackingTime target, with no
    `[targets.pricing]`, shows no cost block rather than 7pace's assignable users and credits."""
    fleet.members(PEOPLE)
    cfg = str(fleet.write_config(extra=SEVENPACE_PRICING))
    code, out, err = run(["plan", "-c", cfg, "--target", "tt"], capsys)
    assert code == 0, out + err
    assert "assignable" not in out and "credit" not in out and "USD" not in out, out
    code, out, err = run(["plan", "-c", cfg, "--target", "org-a"], capsys)
    assert code == 0, out + err
    assert "limit 15 assignable users (plan Team)" in out, out


def test_a_target_pricing_of_another_vendor_is_one_config_line(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.members(PEOPLE)
    cfg = fleet.write_config()
    text = cfg.read_text(encoding="utf-8").replace(
        "requests_per_second = 0\n\n[[sources]]",
        "requests_per_second = 0\n"
        + SEVENPACE_PRICING.replace("[pricing]", "[targets.pricing]")
        + "\n[[sources]]",
    )
    cfg.write_text(text, encoding="utf-8")
    code, _, err = run(["check", "--offline", "-c", str(cfg)], capsys)
    assert code == ExitCode.CONFIG
    (line,) = err.splitlines()
    assert "targets[2].pricing.model" in line and "per-active-user" in line, line


PER_ACTIVE_USER_PRICING = """\
[pricing]
model = "per-active-user"
price_per_seat = 7
period = "month"
renewal = "2099-01-01"
currency = "USD"
"""


def test_a_top_level_pricing_that_fits_no_target_is_said_in_one_line(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[[targets]]` with one 7pace entry and `[pricing] model = "per-active-user"`: the config loads, the plan
    shows no per-active-user cost block, and `check` says why in one line. The same table under the previous
    release's `[target]` keeps pricing its one target as it always did (single-target configs are unchanged)."""
    fleet.members(PEOPLE)
    pricing = PER_ACTIVE_USER_PRICING
    url, token = fleet.org_a.onprem_url("OrgA"), 'token = { file = "a.txt" }'
    listed = fleet.root / "listed.toml"
    listed.write_text(
        "\n".join(
            [
                local_target(url, token, name="org-a"),
                FILE_SOURCE,
                rule("Users", "Team", target="org-a"),
                pricing,
            ]
        ),
        encoding="utf-8",
    )
    code, out, err = run(["check", "--offline", "-c", str(listed)], capsys)
    assert code == 0, out + err
    notes = [line for line in out.splitlines() if "pricing.model" in line]
    assert len(notes) == 1 and "fits none of the targets" in notes[0], out
    code, out, err = run(["plan", "-c", str(listed)], capsys)
    assert code == 0, out + err
    assert "USD" not in out, out

    single = fleet.root / "single.toml"
    single.write_text("\n".join([local_target(url, token), USERS_ARE_TEAM, pricing]), encoding="utf-8")
    code, out, err = run(["check", "--offline", "-c", str(single)], capsys)
    assert code == 0 and "pricing.model" not in out, out + err
    code, out, err = run(["plan", "-c", str(single)], capsys)
    assert code == 0, out + err
    assert "USD" in out, out


def test_the_apply_hint_of_a_plan_for_one_target_names_it_and_works(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.members(PEOPLE)
    cfg = str(fleet.write_config())
    out_file = str(fleet.root / "pt.json")
    code, out, err = run(["plan", "-c", cfg, "--target", "tt", "--out", out_file], capsys)
    assert code == 0, out + err
    hint = out.split("apply it with: ", 1)[1].splitlines()[0]
    assert hint == f"syncd apply -c {cfg} --target tt --plan {out_file}", hint
    code, out, err = run(hint.split()[1:], capsys)  # the printed command, as the user would paste it
    assert code == 0, out + err
    assert fleet.tt.roles_by_email()["ann@example.com"] == "CO_WORKER"

    code, out, err = run(["plan", "-c", cfg, "--out", out_file], capsys)  # every target: no --target
    assert f"apply it with: syncd apply -c {cfg} --plan {out_file}\n" in out, out


def test_check_labels_each_target_line_with_its_name(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.members(PEOPLE)
    cfg = str(fleet.write_config())
    code, out, err = run(["check", "-c", cfg], capsys)
    assert code == 0, out + err
    block = out.split("target org-b:\n", 1)[1].split("target tt:\n", 1)[0]
    assert "ok    target org-b: 0 seat(s) held" in block, out
    assert "target timetracker" not in out and "target trackingtime" not in out, out
