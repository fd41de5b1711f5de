"""`syncd daemon`: the built-in scheduler, for hosts without Task Scheduler or systemd timers.

Each cycle is exactly `syncd run` (same lock, same audit, config re-read so edits take effect without a
restart). apscheduler 3.x runs it on `[schedule]` with `max_instances=1` and `coalesce`: a slow cycle never
overlaps the next, and missed firings collapse into one. SIGTERM or Ctrl-C lets the current batch finish,
releases the lock and exits 0.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from types import FrameType

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from syncd import config as config_module
from syncd.alerts.run import run_with_alerts
from syncd.cycle import Cycle, CycleRequest, utc_now
from syncd.errors import ConfigError, ExitCode, SyncdError

log = structlog.get_logger("syncd.daemon")

MISFIRE_GRACE_SECONDS = 15 * 60  # a firing missed by less than this (host asleep, long cycle) still runs


def _trigger(schedule: config_module.Schedule) -> IntervalTrigger | CronTrigger:
    jitter = int(schedule.jitter.total_seconds()) or None
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=UTC, jitter=jitter)
    assert schedule.every is not None
    return IntervalTrigger(seconds=schedule.every.total_seconds(), jitter=jitter, timezone=UTC)


def run_daemon(config: config_module.Config) -> int:
    stop = threading.Event()
    cycles = 0

    def cycle() -> None:
        nonlocal cycles
        if stop.is_set():
            return
        cycles += 1
        try:
            current = config_module.load(config.file)  # edits take effect at the next cycle
        except ConfigError as error:
            log.error("config invalid; cycle skipped", problems=error.lines)
            return
        request = CycleRequest("run", write=not current.dry_run, audit=True)
        if len(current.targets) > 1:  # issue 19: every target, one after another, sharing the source reads
            from syncd.multi_target import ending_lines, run_targets

            every = run_targets(current, request, current.target_names, clock=utc_now, stop=stop)
            log.info(
                "cycle finished",
                cycle=cycles,
                exit_code=int(every.exit_code),
                targets={o.name: int(o.exit_code) for o in every.outcomes},
            )
            for line in ending_lines(every):  # as a single target's failure: at error level, with its cause
                log.error("target failed", cycle=cycles, problem=line)
            for note in every.notes:  # issue 19: a state no target uses, said every cycle until it is moved
                log.warning("state in the single-target folder not used", note=note)
            return
        try:
            result = run_with_alerts(current, lambda: Cycle(current, stop=stop).run(request), utc_now)
            log.info(
                "cycle finished",
                cycle=cycles,
                exit_code=int(result.exit_code),
                changes=len(result.plan.changes),
                held=len(result.plan.held),
            )
        except SyncdError as error:
            log.error("cycle failed", cycle=cycles, exit_code=int(error.exit_code), error=str(error))
        except Exception:  # a bug in one cycle must not kill the scheduler; it is logged with its traceback
            log.exception("cycle crashed", cycle=cycles)

    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        cycle,
        _trigger(config.schedule),
        id="syncd-run",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
        next_run_time=datetime.now(UTC),  # first cycle at once, then on the schedule
    )

    def on_signal(signum: int, _: FrameType | None) -> None:
        log.info("stopping: the current batch finishes, then the lock is released", signal=signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler.start()
    log.info("daemon started", schedule=str(_trigger(config.schedule)))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)  # waits for a running cycle, which stops before its next batch
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("daemon stopped", cycles=cycles)
    return int(ExitCode.OK)
