"""Progress reporting: throttled structured events off a terminal, a rewritten line on one."""

from __future__ import annotations

import io
import json

import pytest

from syncd.diagnostics import configure
from syncd.progress import Progress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_structured_progress_at_most_every_ten_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    configure("json", 0)
    now = [0.0]
    progress = Progress("applying", "changes", 100, clock=lambda: now[0])
    for _ in range(50):
        now[0] += 0.5  # 25 s in all
        progress.advance()
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["done"] for e in events] == [20, 40]
    assert events[0]["per_second"] == 2.0 and events[0]["eta_seconds"] == 40 and events[0]["total"] == 100


def test_terminal_line_is_rewritten_and_cleared() -> None:
    stream = FakeTty()
    now = [0.0]
    progress = Progress("reading timetracker", "seats", stream=stream, clock=lambda: now[0])
    now[0] = 1.0
    progress.advance(500)
    progress.finish()
    text = stream.getvalue()
    assert text.startswith("\rreading timetracker: 500 seats (500.0/s)")
    assert text.endswith("\r" + " " * 78 + "\r")
