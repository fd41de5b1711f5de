"""Keeping each licensed person's last activity current at a handful of requests per run (issue 18).

The first read covers the look-back window (`[reclaim] idle_for` and a day, by the time worked). Every later
read asks only for worklogs *created* since the last complete read, less `activity_overlap` (7pace's zone for
times is undocumented), and merges them into the state by max. A failed read changes nothing and says why:
the caller then treats everyone's activity as unknown (nobody idle). The same incremental read, run right
before a reclaim is written, is the fresh re-check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from syncd.errors import SyncdError
from syncd.reclaim_settings import ReclaimSettings
from syncd.reclaim_state import ReclaimState
from syncd.targets.interface import Target
from syncd.targets.timetracker import TimetrackerTarget
from syncd.targets.timetracker_activity import WorklogReader, WorklogScan

log = structlog.get_logger("syncd.activity")


@dataclass(frozen=True)
class ActivityRead:
    """The merged last activity per 7pace user id, or None with the reason it could not be read."""

    latest: dict[str, datetime] | None
    covered_from: datetime | None
    problem: str = ""
    first: bool = False
    fresh: dict[str, datetime] | None = None  # what this read itself saw (the re-check uses it)
    requests: int = 0
    rows: int = 0


def worklog_reader(target: Target) -> WorklogReader | None:
    if not isinstance(target, TimetrackerTarget):
        return None
    settings = target.settings
    return WorklogReader(target.http, settings.api_root, settings.api_version)


def refresh(target: Target, store: ReclaimState, settings: ReclaimSettings, now: datetime) -> ActivityRead:
    """Read what is new since the last complete read (the whole window the first time) and remember it."""
    reader = worklog_reader(target)
    if reader is None:
        return ActivityRead(None, None, f"target {target.name} has no worklog reader")
    coverage = store.coverage()
    try:
        if coverage is None:
            covered_from = now - settings.lookback
            scan: WorklogScan = reader.scan(covered_from, by="timestamp", now=now)
        else:
            covered_from = coverage.covered_from
            scan = reader.scan(coverage.read_at - settings.activity_overlap, by="created", now=now)
    except SyncdError as error:
        log.warning("worklogs not read; nobody counts as idle this run", error=str(error))
        return ActivityRead(None, None, str(error))
    merged = store.record_read(scan.last_by_user, covered_from, now)
    log.info(
        "worklogs read",
        first=coverage is None,
        requests=scan.requests,
        rows=scan.rows,
        people=len(scan.last_by_user),
    )
    return ActivityRead(
        merged, covered_from, "", coverage is None, dict(scan.last_by_user), scan.requests, scan.rows
    )
