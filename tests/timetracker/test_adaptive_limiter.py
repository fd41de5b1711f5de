"""The adaptive side of syncd.http.RateLimiter (used by the 7pace target): learn a lower quota from a 429,
then recover slowly. Pure: a fake clock, no sleeping."""

from __future__ import annotations

from syncd.http import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_429_lowers_the_fullest_window_to_what_the_peer_accepted_and_recovers_slowly() -> None:
    t = FakeTime()
    limiter = RateLimiter(
        ((10, 1.0), (100, 60.0)), clock=t.clock, sleep=t.sleep, adaptive=True, recover_after=60
    )
    for _ in range(6):  # the peer accepts 5 per second, the sixth is refused
        limiter.acquire()
    limiter.throttled(1.0)
    assert limiter.limits == (5, 100)
    assert limiter.acquire() == 1.0  # the Retry-After is honoured
    t.now += 61
    limiter.acquire()  # a calm minute: one more per second again
    assert limiter.limits == (6, 100)


def test_a_429_with_nothing_accepted_halves_at_most() -> None:
    t = FakeTime()
    limiter = RateLimiter(((10, 1.0), (100, 60.0)), clock=t.clock, sleep=t.sleep, adaptive=True)
    limiter.acquire()
    limiter.throttled(None)
    assert limiter.limits == (5, 100)
    assert limiter.acquire() == 0.0


def test_the_minute_window_is_lowered_when_it_is_the_full_one() -> None:
    t = FakeTime()
    limiter = RateLimiter(((10, 1.0), (100, 60.0)), clock=t.clock, sleep=t.sleep, adaptive=True)
    for _ in range(41):  # 2 per second for 20 s; the peer allows 40 per minute
        limiter.acquire()
        t.now += 0.5
    limiter.throttled(40.0)
    assert limiter.limits == (10, 50)  # 40 accepted, but never below half in one step
    assert limiter.acquire() == 40.0
    limiter.throttled(30.0)  # after the 40 s wait, 38 of the accepted requests are still inside the minute
    assert limiter.limits == (10, 38)


def test_without_adaptive_a_429_only_defers() -> None:
    t = FakeTime()
    limiter = RateLimiter(((10, 1.0),), clock=t.clock, sleep=t.sleep)
    limiter.acquire()
    limiter.throttled(2.0)
    assert limiter.limits == (10,)
    assert limiter.acquire() == 2.0
