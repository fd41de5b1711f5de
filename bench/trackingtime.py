"""TrackingTime target: what a full read and a large apply cost in requests and time (issue 19).

Not a test: prints figures. Against the TrackingTime emulator on 127.0.0.1 with the client limiter off, so the
wall time is syncd's and the emulator's own; the line "at 3 requests/s" is what the same request count takes
at the target's default client rate (TrackingTime publishes no quota).

    .venv/bin/python bench/trackingtime.py [--users 1000] [--page-size 200]
"""

from __future__ import annotations

import argparse
import os
import time

from syncd.emulators.trackingtime import TrackingTimeEmulator, TtUser
from syncd.identity import normalise_email
from syncd.models import Action, Change, Reason
from syncd.secrets import SecretRef
from syncd.targets.trackingtime import TrackingTimeSettings, TrackingTimeTarget

PASSWORD = "bench-app-password"


def change(email: str, before: str, after: str) -> Change:
    key = normalise_email(email)
    assert key is not None
    action = Action.ASSIGN if before == "None" else Action.UNASSIGN if after == "None" else Action.CHANGE
    return Change(key, email, action, before, after, Reason("bench"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--users", type=int, default=1000, help="users in the account (TrackingTime's cap is 1,000)"
    )
    parser.add_argument("--page-size", type=int, default=200)
    args = parser.parse_args()
    n = args.users
    people = [TtUser(f"u{i:06d}@bench.example", archived=i % 4 == 3) for i in range(n)]
    os.environ["SYNCD_BENCH_TT"] = PASSWORD
    with TrackingTimeEmulator(people, app_password=PASSWORD, account_id=1) as emulator:
        settings = TrackingTimeSettings(
            api_url=emulator.api_url,
            account_id=1,
            app_password=SecretRef("env", "SYNCD_BENCH_TT", "bench"),
            page_size=args.page_size,
            requests_per_second=0,
        )
        target = TrackingTimeTarget(settings)
        started = time.perf_counter()
        seats = sum(1 for _ in target.licensed())
        read_s = time.perf_counter() - started
        reads = emulator.count("GET users")
        print(f"read: {n} users ({seats} active) in {reads} GETs, {read_s * 1000:.0f} ms")

        # a churn of n/2 changes: a quarter archives, a quarter re-opens, half invitations of new people
        quarter = n // 8
        batch = [change(f"u{i:06d}@bench.example", "CO_WORKER", "None") for i in range(0, 8 * quarter, 8)][
            :quarter
        ]
        batch += [change(f"u{i:06d}@bench.example", "None", "CO_WORKER") for i in range(3, n, 4)][:quarter]
        batch += [change(f"new{i:06d}@bench.example", "None", "CO_WORKER") for i in range(2 * quarter)]
        emulator.clear_log()
        started = time.perf_counter()
        results = []
        for start in range(0, len(batch), settings.batch_size):
            results += target.apply(batch[start : start + settings.batch_size])
        apply_s = time.perf_counter() - started
        kinds: dict[str, int] = {}
        for request in emulator.requests:
            kinds[request.kind] = kinds.get(request.kind, 0) + 1
        ok = sum(1 for r in results if r.outcome.value == "success")
        total = sum(kinds.values())
        print(
            f"apply: {len(batch)} changes ({ok} succeeded) in {total} requests {kinds}, "
            f"{apply_s * 1000:.0f} ms"
        )
        print(f"at 3 requests/s (the default client rate): read {reads / 3:.1f} s, apply {total / 3:.0f} s")
        target.close()


if __name__ == "__main__":
    main()
