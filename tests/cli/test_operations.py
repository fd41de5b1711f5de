"""Running unattended: status, metrics, the audit search, dated diagnostic files, the daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from syncd.cli import main


def users(*numbers: int) -> list[str]:
    return [f"u{n:04d}@example.com" for n in numbers]


def test_metrics_file_after_a_run(world: Any) -> None:
    world.members({"Users": users(1, 2), "Admins": users(3)})
    config = world.write_config(extra="")
    config.write_text('metrics_file = "syncd.prom"\n' + config.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["run", "-c", str(config)]) == 0
    text = (world.root / "syncd.prom").read_text(encoding="utf-8")
    assert "syncd_last_run_exit_code 0\n" in text
    assert 'syncd_seats{when="before"} 0\n' in text and 'syncd_seats{when="after"} 3\n' in text
    assert 'syncd_last_run_changes{action="seat-assign",outcome="success"} 3\n' in text
    assert "# TYPE syncd_last_run_success gauge\nsyncd_last_run_success 1\n" in text


def test_audit_search_answers_why_a_person_has_a_seat(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(1, 2), "Admins": []})
    config = str(world.write_config())
    assert main(["run", "-c", config]) == 0
    world.members({"Users": users(1, 2), "Admins": users(2)})
    assert main(["run", "-c", config]) == 0
    capsys.readouterr()
    assert main(["audit", "-c", config, "--user", "U0002@example.com", "--last"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "role-change" in out[0] and "Team → Administrator" in out[0] and "'Admins' (hr)" in out[0]
    assert main(["audit", "-c", config, "--action", "seat-assign", "--format", "jsonl", "--since", "1h"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(e["user.target.email"] for e in events) == users(1, 2)
    assert main(["audit", "-c", config, "--user", "nobody@example.com"]) == 0
    assert "No matching audit events." in capsys.readouterr().out


def test_status_shows_runs_and_pending_removals(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(1, 2), "Admins": []})
    config = str(world.write_config(policy='grace = "24h"\nmax_removal_percent = 100'))
    assert main(["run", "-c", config]) == 0
    world.members({"Users": users(1), "Admins": []})
    assert main(["run", "-c", config]) == 0
    capsys.readouterr()
    assert main(["status", "-c", config, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["exit_code"] for r in data["runs"]] == [0, 0]
    assert [p["key"] for p in data["pending_in_grace"]] == users(2)
    assert data["seats"]["owned_by_syncd"] == 2
    assert main(["status", "-c", config]) == 0
    assert "Pending in grace (1):" in capsys.readouterr().out


def test_unattended_runs_keep_dated_diagnostic_files(world: Any) -> None:
    world.members({"Users": users(1), "Admins": []})
    config = str(world.write_config())
    assert main(["run", "-c", config]) == 0
    (log_file,) = (world.root / "logs").glob("syncd-*.log")
    records = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    assert any(r.get("event") == "batch applied" for r in records)
    assert world.token not in log_file.read_text(encoding="utf-8")


def test_daemon_runs_cycles_and_stops_cleanly_on_sigterm(world: Any) -> None:
    world.members({"Users": users(1), "Admins": []})
    config = world.write_config(extra="")
    config.write_text(config.read_text(encoding="utf-8") + '\n[schedule]\nevery = "1s"\n', encoding="utf-8")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "syncd", "daemon", "-c", str(config), "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        summaries: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            summaries = [e for e in world.audit() if e["event.action"] == "run-summary"]
            if len(summaries) >= 2:
                break
            time.sleep(0.1)
        assert len(summaries) >= 2, "the daemon did not complete two cycles"
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=10)
    assert daemon.returncode == 0, err
    assert world.roles() == {"u0001@example.com": "Team"}
    assert summaries[0]["syncd.seats.after"] == 1 and summaries[1]["syncd.planned"]["seat-assign"] == 0
    assert '"event": "daemon stopped"' in err


def test_max_runtime_stops_between_batches_and_the_next_run_continues(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from syncd.emulators.faults import Faults

    world.members({"Users": users(*range(30)), "Admins": []})
    config = str(world.write_config(batch_size=5))
    world.emulator.set_faults(Faults(latency=0.6, methods=frozenset({"POST"})))
    assert main(["run", "-c", config, "--max-runtime", "1s"]) == 4
    out = capsys.readouterr()
    assert "not applied: stopped before the end" in out.err
    done = len(world.roles())
    assert 0 < done < 30 and done % 5 == 0
    world.emulator.set_faults(Faults())
    assert main(["run", "-c", config]) == 0
    assert len(world.roles()) == 30
