"""One unattended cycle with its alerts: the stale check before, the conditions after."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from syncd.alerts.conditions import RunFacts
from syncd.alerts.notifier import Notifier
from syncd.config import Config
from syncd.cycle import CycleResult
from syncd.errors import ExitCode, SyncdError


def run_with_alerts(
    config: Config, run: Callable[[], CycleResult], clock: Callable[[], datetime]
) -> CycleResult:
    """Run one cycle between the stale check and the alerts on its outcome. Without `[[alerts]]`, just run."""
    if not config.alerts:
        return run()
    notifier = Notifier(config, clock)
    notifier.run_started()
    # issue 19: a target's alerts name it (each target keeps its own alert ledger, in its state folder)
    file = f"{config.file} (target {config.target_name})" if config.target_name else str(config.file)
    try:
        result = run()
    except SyncdError as error:
        notifier.run_finished(RunFacts(error.run_id, int(error.exit_code), file, error=str(error)))
        raise
    except Exception as error:
        notifier.run_finished(RunFacts(None, int(ExitCode.INTERNAL), file, error=type(error).__name__))
        raise
    notifier.run_finished(
        RunFacts(
            result.run_id,
            int(result.exit_code),
            file,
            plan=result.plan,
            seats_after=result.seats_after,
            problems=result.problems,
        )
    )
    return result
