"""The 7pace emulator in its own process, for the benchmark, with its request log readable from outside.

    python bench/emulator_host.py --users users.csv --log-out log.json [--quota-per-second N]
                                  [--quota-per-minute N]

It is the standalone emulator (`python -m syncd.emulators.timetracker`: same class, same users file, same
quota flags) with TCP_NODELAY (see `disable_nagle`), plus what the standalone one lacks for a benchmark:
on SIGUSR1 it writes its request log
since the previous SIGUSR1 to `--log-out` (JSON, written to a temporary name and renamed, so a reader
never sees half a file) and starts a new one. SIGTERM/SIGINT stop it. The first stdout line is
`listening <base_url>`, printed once the users are loaded and the port is open.

Log format: {"requests": [[at, kind, status, entries], ...]} with `at` in the emulator's monotonic
seconds (only differences between entries mean anything).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from syncd.emulators import http_server  # noqa: E402
from syncd.emulators.timetracker import TimetrackerEmulator, load_users  # noqa: E402


def disable_nagle() -> bool:
    """Answer without Nagle's algorithm, as production HTTP servers do (TCP_NODELAY).

    The emulator's handler writes the headers and then the body in two send() calls; with Nagle on, the
    body waits for the client's delayed ACK of the headers, about 40 ms on Linux, so every small answer
    (each POST users/roles) took ~42 ms instead of ~4 ms and a sequential client could not reach 20
    requests/s. Proposed upstream: `disable_nagle_algorithm = True` on http_server._RequestHandler.
    Returns whether this process had to set it.
    """
    handler = getattr(http_server, "_RequestHandler", None)
    if handler is None or getattr(handler, "disable_nagle_algorithm", True):
        return False
    handler.disable_nagle_algorithm = True
    return True


def add_worklogs(emulator: TimetrackerEmulator, emails: list[str], count: int, days: int, idle: int) -> None:
    """`count` worklogs spread evenly over the last `days` days among every user but each `idle`-th one
    (deterministic; each created 5 minutes after the time it records)."""
    working = [e for i, e in enumerate(emails) if i % idle]
    now = datetime.now(UTC).replace(tzinfo=None)
    step = timedelta(days=days) / count
    late = timedelta(minutes=5)
    emulator.log_work_many(
        (working[i % len(working)], now - i * step, now - i * step + late) for i in range(count)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=Path, required=True)
    parser.add_argument("--log-out", type=Path, required=True)
    parser.add_argument("--token", default="bench-token")
    parser.add_argument("--quota-per-second", type=int, default=10, help="0 = off")
    parser.add_argument("--quota-per-minute", type=int, default=100, help="0 = off")
    parser.add_argument("--worklogs", type=int, default=0, help="worklogs to serve (idle-seat bench)")
    parser.add_argument("--worklog-days", type=int, default=60, help="spread over this many days")
    parser.add_argument("--idle-every", type=int, default=10, help="every Nth user logs no time")
    args = parser.parse_args()

    started = time.monotonic()
    patched = disable_nagle()
    users = load_users(args.users)
    emulator = TimetrackerEmulator(
        users,
        token=args.token,
        quota_per_second=args.quota_per_second,
        quota_per_minute=args.quota_per_minute,
    )
    if args.worklogs:
        add_worklogs(emulator, [u.email for u in users], args.worklogs, args.worklog_days, args.idle_every)
    del users  # the emulator holds its own copy
    stop = threading.Event()
    dump = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_dump(signum: int, frame: FrameType | None) -> None:
        dump.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, on_dump)
    with emulator:
        print(
            f"listening {emulator.base_url} loaded_in={time.monotonic() - started:.2f}s "
            f"nodelay_set_by_bench={patched}",
            flush=True,
        )
        while not stop.wait(0.05):
            if dump.is_set():
                dump.clear()
                logged = emulator.requests
                emulator.clear_log()
                rows = [[r.at, r.kind, r.status, r.entries] for r in logged]
                temporary = args.log_out.with_name(args.log_out.name + ".tmp")
                temporary.write_text(json.dumps({"requests": rows}), encoding="utf-8")
                os.replace(temporary, args.log_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
