"""What syncd remembers for idle seats (issue 18), in the state database's tables of schema step 3 (additive):

- `activity`: each 7pace user id's latest activity seen (the max of every read so far);
- `activity_reads`: row "worklogs": since when the activity is complete (`covered_from`, the first read's
  window start) and when the last complete read started (`read_at`, the next incremental bound); row
  "worklogs-backfill" while the first read is spread over several runs (read back to `covered_from`);
- `reclaimed`: people whose seat syncd took back; they stay unassigned although their group still selects
  them, until `syncd grant` or the regrant group;
- `reclaim_warnings`: when a person was warned that their seat would be reclaimed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from syncd.identity import EmailKey
from syncd.state import State

_READ = "worklogs"
_BACKFILL = "worklogs-backfill"


@dataclass(frozen=True, slots=True)
class ActivityCoverage:
    covered_from: datetime  # activity is complete from here on
    read_at: datetime  # the last complete read started here


@dataclass(frozen=True, slots=True)
class Reclaimed:
    key: EmailKey
    email: str
    role: str
    rule: str
    since: datetime
    reason: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class ReclaimState:
    """Reads and writes the idle-seat tables of one open State (one transaction per call)."""

    def __init__(self, state: State) -> None:
        self._state = state

    def activity(self) -> dict[str, datetime]:
        with self._state.transaction() as db:
            rows = db.execute("SELECT user_id, last FROM activity").fetchall()
        return {u: datetime.fromisoformat(t) for u, t in rows}

    def coverage(self) -> ActivityCoverage | None:
        return self._coverage_row(_READ)

    def backfill(self) -> ActivityCoverage | None:
        """An unfinished first read: worklogs are read back to `covered_from`, changes up to `read_at`."""
        return self._coverage_row(_BACKFILL)

    def _coverage_row(self, name: str) -> ActivityCoverage | None:
        with self._state.transaction() as db:
            row = db.execute(
                "SELECT covered_from, read_at FROM activity_reads WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            return None
        return ActivityCoverage(datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1]))

    def record_read(
        self,
        latest: Mapping[str, datetime],
        covered_from: datetime,
        read_at: datetime,
        *,
        partial: bool = False,
    ) -> dict[str, datetime]:
        """Merge one read (max with what is known) and move the bounds; returns the merged map. A `partial`
        read is a step of the first read (the backfill); the step that completes it is not partial."""
        with self._state.transaction() as db:
            known = {
                u: datetime.fromisoformat(t) for u, t in db.execute("SELECT user_id, last FROM activity")
            }
            newer = {u: t for u, t in latest.items() if u not in known or t > known[u]}
            db.executemany(
                "INSERT OR REPLACE INTO activity (user_id, last) VALUES (?, ?)",
                ((u, _iso(t)) for u, t in newer.items()),
            )
            db.execute(
                "INSERT OR REPLACE INTO activity_reads (name, covered_from, read_at) VALUES (?, ?, ?)",
                (_BACKFILL if partial else _READ, _iso(covered_from), _iso(read_at)),
            )
            if not partial:
                db.execute("DELETE FROM activity_reads WHERE name = ?", (_BACKFILL,))
        return known | newer

    # -- reclaimed seats ---------------------------------------------------------------------------------
    def reclaimed(self) -> dict[EmailKey, Reclaimed]:
        with self._state.transaction() as db:
            rows = db.execute("SELECT key, email, role, rule, since, reason FROM reclaimed").fetchall()
        return {
            EmailKey(k): Reclaimed(EmailKey(k), e, r, rule, datetime.fromisoformat(s), why)
            for k, e, r, rule, s, why in rows
        }

    def record_reclaimed(self, entries: Iterable[Reclaimed]) -> None:
        with self._state.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO reclaimed VALUES (?, ?, ?, ?, ?, ?)",
                ((r.key, r.email, r.role, r.rule, _iso(r.since), r.reason) for r in entries),
            )
            db.executemany("DELETE FROM reclaim_warnings WHERE key = ?", ((r.key,) for r in entries))

    def forget_reclaimed(self, keys: Iterable[EmailKey]) -> int:
        with self._state.transaction() as db:
            return sum(db.execute("DELETE FROM reclaimed WHERE key = ?", (k,)).rowcount for k in keys)

    # -- warnings ----------------------------------------------------------------------------------------
    def warnings(self) -> dict[EmailKey, datetime]:
        with self._state.transaction() as db:
            rows = db.execute("SELECT key, warned_at FROM reclaim_warnings").fetchall()
        return {EmailKey(k): datetime.fromisoformat(t) for k, t in rows}

    def replace_warnings(self, warned: Mapping[EmailKey, datetime]) -> None:
        with self._state.transaction() as db:
            db.execute("DELETE FROM reclaim_warnings")
            db.executemany(
                "INSERT INTO reclaim_warnings VALUES (?, ?)", ((k, _iso(t)) for k, t in warned.items())
            )
