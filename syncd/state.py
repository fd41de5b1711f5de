"""What syncd remembers between runs, in SQLite (WAL, one transaction per logical step):

- the ownership ledger: which seats syncd assigned or adopted, under which rule, since when;
- when each person was first seen absent (grace), and how long blocked assignments have waited (seat cap);
- each group's last good read (size, content hash, time), the baseline for "suspicious" reads;
- batch intents: written before a batch is sent, cleared when its outcomes are recorded, so a run killed
  mid-apply is completed by the next one;
- run history for `syncd status`.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from syncd.errors import StateDamaged, StateError, StorageError
from syncd.identity import EmailKey
from syncd.models import GroupBaseline, Owned, Renamed

STATE_FILE = "syncd.sqlite3"
REMOVED_KEPT = timedelta(days=90)  # removals remembered this long (removal window, re-grant detection)

# Each entry upgrades the schema by one version; never edit a shipped entry, append a new one.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE owned (key TEXT PRIMARY KEY, role TEXT NOT NULL, rule TEXT NOT NULL, since TEXT NOT NULL);
    CREATE TABLE absent (key TEXT PRIMARY KEY, since TEXT NOT NULL);
    CREATE TABLE waiting (key TEXT PRIMARY KEY, since TEXT NOT NULL);
    CREATE TABLE group_reads (
        source TEXT NOT NULL, grp TEXT NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL,
        read_at TEXT NOT NULL, PRIMARY KEY (source, grp));
    CREATE TABLE intents (
        run_id TEXT NOT NULL, batch INTEGER NOT NULL, changes TEXT NOT NULL, written_at TEXT NOT NULL,
        PRIMARY KEY (run_id, batch));
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, command TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,
        exit_code INTEGER, summary TEXT);
    """,
    # issue 21 (integrity): additive only, and idempotent (IF NOT EXISTS), so steps other work appends
    # can merge in either order. run_clock: each audited run's start in insertion order and whether its
    # clock was trusted; target: what this state belongs to; removed: seats syncd removed, when (the
    # cross-run removal budget and re-grants by someone else).
    """
    CREATE TABLE IF NOT EXISTS run_clock (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, started TEXT NOT NULL,
        trusted INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS target (
        field TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS removed (
        key TEXT NOT NULL, role TEXT NOT NULL, at TEXT NOT NULL, run_id TEXT NOT NULL,
        PRIMARY KEY (key, at));
    """,
    # issue 18 (idle seats): additive and idempotent like the step before; tables of syncd.reclaim_state
    """
    CREATE TABLE IF NOT EXISTS activity (user_id TEXT PRIMARY KEY, last TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS activity_reads (
        name TEXT PRIMARY KEY, covered_from TEXT NOT NULL, read_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS reclaimed (
        key TEXT PRIMARY KEY, email TEXT NOT NULL, role TEXT NOT NULL, rule TEXT NOT NULL,
        since TEXT NOT NULL, reason TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS reclaim_warnings (key TEXT PRIMARY KEY, warned_at TEXT NOT NULL);
    """,
    # 4 (issue 16): ownership by stable ids, and the history of renames. Additive: every existing entry is
    # carried over with empty ids, which the next run fills in from the rows and people it matches.
    # Idempotent too (IF NOT EXISTS; `_migrate` skips a column that is already there): the issue-16 branch
    # shipped this step as schema 2 (see _REPLAYED_FROM).
    """
    ALTER TABLE owned ADD COLUMN target_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE owned ADD COLUMN vsts_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE owned ADD COLUMN person_id TEXT NOT NULL DEFAULT '';
    CREATE TABLE IF NOT EXISTS renames (
        before TEXT NOT NULL, after TEXT NOT NULL, person_id TEXT NOT NULL, target_id TEXT NOT NULL,
        how TEXT NOT NULL, at TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS renames_before ON renames (before);
    CREATE INDEX IF NOT EXISTS renames_after ON renames (after);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
# Steps after the first were numbered differently on the branches that wrote them (schema 2 is issue 21's
# tables on one, issue 16's ids on another): every one of them is idempotent, so an upgrade replays them all
# and a database made by any of those branches ends with every step's tables and columns.
_REPLAYED_FROM = 1  # index of the first idempotent step
_ADD_COLUMN = re.compile(r"\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Intent:
    run_id: str
    batch: int
    changes: tuple[dict[str, Any], ...]  # plan_file.change_to_dict of each change


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    command: str
    started: datetime
    finished: datetime | None
    exit_code: int | None
    summary: dict[str, Any]


_STORAGE_FAULTS = ("readonly", "read-only", "disk is full", "disk i/o error", "unable to open")


def _is_storage(error: sqlite3.DatabaseError) -> bool:
    """SQLite's words for a read-only folder, a full disk or a failing one (not damage, not a bug)."""
    return isinstance(error, sqlite3.OperationalError) and any(
        fault in str(error).lower() for fault in _STORAGE_FAULTS
    )


def _storage(path: Path, error: sqlite3.DatabaseError) -> StorageError:
    return StorageError(
        f"state database {path} cannot be written ({error}); free space or make the folder writable; "
        "nothing was sent after the failed write"
    )


_IN_LIMIT = 500  # keys per "IN (…)" query (SQLite allows 32,766 variables; smaller keeps statements short)
_RECORD_OWNED = (
    "INSERT OR REPLACE INTO owned (key, role, rule, since, target_id, vsts_id, person_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _owned_rows(entries: Mapping[EmailKey, Owned]) -> Iterator[tuple[str, ...]]:
    for k, o in entries.items():
        yield (k, o.role, o.rule, _iso(o.since), o.target_id, o.vsts_id, o.person_id)


def _column_exists(db: sqlite3.Connection, statement: str) -> bool:
    """An `ALTER TABLE … ADD COLUMN` whose column is already there (SQLite has no IF NOT EXISTS for it)."""
    adding = _ADD_COLUMN.match(statement)
    if adding is None:
        return False
    table, column = adding.groups()
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


class State:
    """One open state database. Use as a context manager; the caller holds the run lock."""

    def __init__(self, directory: Path, *, ran_before: bool = False) -> None:
        """`ran_before`: the run lock says runs happened in this folder, so a missing database is damage."""
        self.path = directory / STATE_FILE
        existed = self.path.exists()
        if ran_before and not existed:
            raise StateDamaged(
                f"state database {self.path} is missing, but runs happened in {directory} (its lock holder "
                "record is there): this is damage, not a first run; restore it from a backup, or run "
                "`syncd state rebuild --from-audit` to rebuild the ownership ledger from the audit trail"
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an intent must survive a power cut
            if existed:
                self._refuse_damage()
            self._migrate()
        except sqlite3.DatabaseError as error:
            if _is_storage(error):
                raise _storage(self.path, error) from None
            raise StateError(f"state database {self.path} is unusable: {error}") from None
        except OSError as error:
            raise StateError(f"state directory {directory} cannot be used: {error.strerror}") from None

    def __enter__(self) -> State:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise _storage(self.path, error) if _is_storage(error) else error from None
        try:
            yield self._db
        except BaseException as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(error, sqlite3.OperationalError) and _is_storage(error):
                raise _storage(self.path, error) from None
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise _storage(self.path, error) if _is_storage(error) else error from None

    def _refuse_damage(self) -> None:
        """A state file that exists but holds no schema was emptied, truncated or copied without its -wal:
        treating it as a first run would forget every seat syncd owns and every group baseline (issue 21)."""
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > 0:
            return
        self._db.close()
        raise StateDamaged(
            f"state database {self.path} exists but holds no syncd state (emptied, truncated, or copied "
            "without its -wal file); this is damage, not a first run: restore it from a backup, or run "
            "`syncd state rebuild --from-audit` to rebuild the ownership ledger from the audit trail"
        )

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema {version}, newer than this syncd understands "
                f"({SCHEMA_VERSION}); upgrade syncd or point [state] dir elsewhere"
            )
        start = min(version, _REPLAYED_FROM) if version < SCHEMA_VERSION else version
        for target in range(start, SCHEMA_VERSION):
            with self.transaction() as db:
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip() and not _column_exists(db, statement):
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {target + 1}")

    # -- ownership ledger ----------------------------------------------------------------------------
    def owned(self) -> dict[EmailKey, Owned]:
        """The ledger without its ids (issue 16): those are loaded by `owned_with_ids` only for the entries
        whose key does not settle who holds the seat (a rename, a seat gone), which is what keeps a 100,000-
        entry load as cheap as before the ids existed."""
        rows = self._db.execute("SELECT key, role, rule, since FROM owned")
        # 100,000 entries share a handful of (role, rule, since) triples (one per run that adopted or
        # assigned them), so one immutable Owned serves each triple: a quarter of the state load's CPU
        shared: dict[tuple[str, str, str], Owned] = {}
        ledger: dict[str, Owned] = {}
        for key, role, rule, since in rows:
            entry = shared.get((role, rule, since))
            if entry is None:
                entry = shared[(role, rule, since)] = Owned(role, rule, _dt(since))
            ledger[key] = entry
        return cast(dict[EmailKey, Owned], ledger)  # keys were normalised when they were recorded

    def owned_with_ids(self, keys: Collection[str] | None = None) -> dict[EmailKey, Owned]:
        """Ledger entries with their 7pace id, vstsId and person id: of `keys`, or all of them (None)."""
        query = "SELECT key, role, rule, since, target_id, vsts_id, person_id FROM owned"
        if keys is None or len(keys) > _IN_LIMIT * 20:
            rows: Iterable[tuple[str, ...]] = self._db.execute(query).fetchall()
            if keys is not None:
                wanted = set(keys)
                rows = [r for r in rows if r[0] in wanted]
        else:
            listed = list(keys)
            rows = []
            for start in range(0, len(listed), _IN_LIMIT):
                chunk = listed[start : start + _IN_LIMIT]
                marks = ",".join("?" * len(chunk))
                rows += self._db.execute(f"{query} WHERE key IN ({marks})", chunk).fetchall()
        return {EmailKey(k): Owned(r, u, _dt(s), t, v, p) for k, r, u, s, t, v, p in rows}

    def keys_without_seat_ids(self) -> set[EmailKey]:
        """Entries whose 7pace id is not known yet (a schema-1 ledger; a seat assigned but never read)."""
        return {EmailKey(k) for (k,) in self._db.execute("SELECT key FROM owned WHERE target_id = ''")}

    def record_owned(self, entries: Mapping[EmailKey, Owned]) -> None:
        with self.transaction() as db:
            db.executemany(_RECORD_OWNED, _owned_rows(entries))

    def record_seat_ids(self, seats: Mapping[EmailKey, tuple[str, str]]) -> None:
        """The 7pace id and vstsId of seats just assigned (their ledger entries were written before)."""
        if seats:
            with self.transaction() as db:
                db.executemany(
                    "UPDATE owned SET target_id = ?, vsts_id = ? WHERE key = ?",
                    ((t, v, k) for k, (t, v) in seats.items()),
                )

    def rekey(self, moves: Mapping[EmailKey, EmailKey], renamed: Iterable[Renamed], now: datetime) -> None:
        """Move ledger entries and observations to today's keys (renames), and remember each rename."""
        if not moves:
            return
        # two steps, through a key no address can have, so that two people swapping addresses swap entries
        parked = [("\x00" + old, old) for old in moves]
        pairs = [(new, "\x00" + old) for old, new in moves.items()]
        with self.transaction() as db:
            for table in ("owned", "absent", "waiting"):
                db.executemany(f"UPDATE {table} SET key = ? WHERE key = ?", parked)
                db.executemany(f"UPDATE OR REPLACE {table} SET key = ? WHERE key = ?", pairs)
            db.executemany(
                "INSERT INTO renames (before, after, person_id, target_id, how, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                ((r.before, r.key, r.person_id, r.target_id, r.how, _iso(now)) for r in renamed),
            )

    def renames_of(self, keys: Iterable[str]) -> list[tuple[str, str, str, datetime]]:
        """(before, after, how, when) of every rename reachable from `keys`, either way, oldest first."""
        pending, seen = list(keys), set[str]()
        found: dict[tuple[str, str, str], tuple[str, str, str, datetime]] = {}
        while pending:
            key = pending.pop()
            if key in seen:
                continue
            seen.add(key)
            rows = self._db.execute(
                "SELECT before, after, how, at FROM renames WHERE before = ? OR after = ?", (key, key)
            )
            for before, after, how, at in rows:
                found[(before, after, at)] = (before, after, how, _dt(at))
                pending.extend((before, after))
        return sorted(found.values(), key=lambda r: r[3])

    def forget_owned(self, keys: Iterable[EmailKey]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM owned WHERE key = ?", ((k,) for k in keys))

    # -- observations (grace, waiting) ---------------------------------------------------------------
    def absent_since(self) -> dict[EmailKey, datetime]:
        return {EmailKey(k): _dt(s) for k, s in self._db.execute("SELECT key, since FROM absent")}

    def waiting_since(self) -> dict[EmailKey, datetime]:
        return {EmailKey(k): _dt(s) for k, s in self._db.execute("SELECT key, since FROM waiting")}

    def replace_observations(
        self, absent: Mapping[EmailKey, datetime], waiting: Mapping[EmailKey, datetime]
    ) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM absent")
            db.executemany("INSERT INTO absent VALUES (?, ?)", ((k, _iso(v)) for k, v in absent.items()))
            db.execute("DELETE FROM waiting")
            db.executemany("INSERT INTO waiting VALUES (?, ?)", ((k, _iso(v)) for k, v in waiting.items()))

    # -- group baselines -----------------------------------------------------------------------------
    def group_baselines(self) -> dict[tuple[str, str], GroupBaseline]:
        rows = self._db.execute("SELECT source, grp, size, digest, read_at FROM group_reads")
        return {(s, g): GroupBaseline(size, digest, _dt(at)) for s, g, size, digest, at in rows}

    def record_group_reads(self, reads: Mapping[tuple[str, str], GroupBaseline]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO group_reads VALUES (?, ?, ?, ?, ?)",
                ((s, g, b.size, b.digest, _iso(b.read_at)) for (s, g), b in reads.items()),
            )

    # -- intents -------------------------------------------------------------------------------------
    def write_intent(self, run_id: str, batch: int, changes: Sequence[dict[str, Any]], now: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO intents VALUES (?, ?, ?, ?)",
                (run_id, batch, json.dumps(list(changes)), _iso(now)),
            )

    def settle_intent(
        self,
        run_id: str,
        batch: int,
        owned: Mapping[EmailKey, Owned],
        released: Iterable[EmailKey],
    ) -> None:
        """Record a batch's outcomes and drop its intent, atomically."""
        with self.transaction() as db:
            db.executemany(_RECORD_OWNED, _owned_rows(owned))
            db.executemany("DELETE FROM owned WHERE key = ?", ((k,) for k in released))
            db.execute("DELETE FROM intents WHERE run_id = ? AND batch = ?", (run_id, batch))

    def pending_intents(self) -> list[Intent]:
        rows = self._db.execute("SELECT run_id, batch, changes FROM intents ORDER BY written_at, batch")
        return [Intent(r, b, tuple(json.loads(c))) for r, b, c in rows]

    # -- clock and target (issue 21) -----------------------------------------------------------------
    def last_trusted_start(self) -> datetime | None:
        """The start of the latest run whose clock was trusted (insertion order, not the clock's order)."""
        row = self._db.execute(
            "SELECT started FROM run_clock WHERE trusted = 1 ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return _dt(row[0]) if row else None

    def record_run_clock(self, run_id: str, started: datetime, trusted: bool) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO run_clock (run_id, started, trusted) VALUES (?, ?, ?)",
                (run_id, _iso(started), int(trusted)),
            )

    def target_binding(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT field, value FROM target"))

    def bind_target(self, binding: Mapping[str, str]) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM target")
            db.executemany("INSERT INTO target VALUES (?, ?)", binding.items())

    def record_removed(self, run_id: str, removed: Mapping[EmailKey, str], at: datetime) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO removed VALUES (?, ?, ?, ?)",
                ((k, role, _iso(at), run_id) for k, role in removed.items()),
            )
            db.execute("DELETE FROM removed WHERE at < ?", (_iso(at - REMOVED_KEPT),))

    def removed_since(self, since: datetime) -> dict[EmailKey, datetime]:
        """Seats syncd removed at or after `since`: person → the latest removal."""
        found: dict[EmailKey, datetime] = {}
        for key, at in self._db.execute("SELECT key, at FROM removed WHERE at >= ?", (_iso(since),)):
            moment = _dt(at)
            if key not in found or moment > found[EmailKey(key)]:
                found[EmailKey(key)] = moment
        return found

    # -- run history ---------------------------------------------------------------------------------
    def start_run(self, run_id: str, command: str, now: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (run_id, command, started) VALUES (?, ?, ?)", (run_id, command, _iso(now))
            )

    def finish_run(self, run_id: str, exit_code: int, summary: Mapping[str, Any], now: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished = ?, exit_code = ?, summary = ? WHERE run_id = ?",
                (_iso(now), exit_code, json.dumps(summary, default=str), run_id),
            )

    def recent_runs(self, limit: int = 10) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT run_id, command, started, finished, exit_code, summary FROM runs "
            "ORDER BY started DESC LIMIT ?",
            (limit,),
        )
        return [
            RunRecord(r, c, _dt(s), _dt(f) if f else None, e, json.loads(j) if j else {})
            for r, c, s, f, e, j in rows
        ]
