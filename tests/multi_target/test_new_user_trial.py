"""Issue 19 follow-ups from a new-user trial: what a config with several targets writes on disk when a run
fails, which pricing each target gets, and the hints and labels the commands print."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from syncd.errors import ExitCode

from .conftest import Fleet

PEOPLE = {"Users": ["ann@example.com", "bob@example.com"], "Admins": ["ann@example.com"]}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


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
