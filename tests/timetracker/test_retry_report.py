"""Issue 15: when retries run out, the message reports what happened (attempts made, seconds spent), not the
budget ("6 attempts / 300s"); a refused connection before the peer ever answered is not retried at all."""

from __future__ import annotations

import re
import socket
import time

import pytest

from syncd.emulators.faults import Fault, Faults
from syncd.errors import TargetUnreachable

from .conftest import users

QUOTA_OFF = {"quota_per_second": None, "quota_per_minute": None}


def test_exhausted_retries_report_the_attempts_made_and_the_time_spent(
    emulator_factory, target_factory
) -> None:
    emulator = emulator_factory(users(3), **QUOTA_OFF)
    emulator.set_faults(Faults(fail_after=0, outage=Fault.ERROR, error_status=503))
    target = target_factory(emulator.base_url)  # FAST: 4 attempts, waits 1 + 2 + 4 s
    with pytest.raises(TargetUnreachable) as caught:
        list(target.licensed())
    message = str(caught.value)
    assert re.search(r"did not answer usefully after 4 attempt\(s\) over [67] s: HTTP 503$", message), message
    assert "30s" not in message and "attempts /" not in message


def test_a_refused_connection_is_not_retried(target_factory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = target_factory(f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(TargetUnreachable) as caught:
        list(target.licensed())
    assert time.monotonic() - started < 1
    assert str(caught.value).startswith("connection refused: ")
