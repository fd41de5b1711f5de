"""SIGTERM/SIGINT handling for `run` and `apply` (syncd/stopping.py): the first signal asks for a stop, the
wait after it is bounded, a second signal does not wait."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from syncd.stopping import stop_on_signals


def test_the_first_signal_asks_for_a_stop_and_the_wait_is_bounded() -> None:
    stop = threading.Event()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), stop_on_signals(stop, grace=0.3):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
        time.sleep(10)  # a batch that does not finish: the grace period ends it
    assert time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_a_second_signal_does_not_wait() -> None:
    stop = threading.Event()
    with pytest.raises(KeyboardInterrupt), stop_on_signals(stop, grace=30):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(5)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)


def test_a_run_that_ends_in_time_is_not_interrupted() -> None:
    stop = threading.Event()
    with stop_on_signals(stop, grace=0.2):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    time.sleep(0.4)  # the timer was cancelled when the block ended
    assert stop.is_set()
