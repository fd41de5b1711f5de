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
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from syncd.errors import StateError
from syncd.identity import EmailKey
from syncd.reconcile import Owned

SCHEMA_VERSION = 2
STATE_FILE = "syncd.sqlite3"

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
    # 2: idle seats (issue 18), tables of syncd.reclaim_state
    """
    CREATE TABLE activity (user_id TEXT PRIMARY KEY, last TEXT NOT NULL);
    CREATE TABLE activity_reads (name TEXT PRIMARY KEY, covered_from TEXT NOT NULL, read_at TEXT NOT NULL);
    CREATE TABLE reclaimed (
        key TEXT PRIMARY KEY, email TEXT NOT NULL, role TEXT NOT NULL, rule TEXT NOT NULL,
        since TEXT NOT NULL, reason TEXT NOT NULL);
    CREATE TABLE reclaim_warnings (key TEXT PRIMARY KEY, warned_at TEXT NOT NULL);
    """,
)


@dataclass(frozen=True, slots=True)
class GroupBaseline:
    size: int
    digest: str
    read_at: datetime


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


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


class State:
    """One open state database. Use as a context manager; the caller holds the run lock."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an intent must survive a power cut
            self._migrate()
        except sqlite3.DatabaseError as error:
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
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema {version}, newer than this syncd understands "
                f"({SCHEMA_VERSION}); upgrade syncd or point [state] dir elsewhere"
            )
        for target in range(version, SCHEMA_VERSION):
            with self.transaction() as db:
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {target + 1}")

    # -- ownership ledger ----------------------------------------------------------------------------
    def owned(self) -> dict[EmailKey, Owned]:
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

    def record_owned(self, entries: Mapping[EmailKey, Owned]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO owned (key, role, rule, since) VALUES (?, ?, ?, ?)",
                ((k, o.role, o.rule, _iso(o.since)) for k, o in entries.items()),
            )

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
            db.executemany(
                "INSERT OR REPLACE INTO owned (key, role, rule, since) VALUES (?, ?, ?, ?)",
                ((k, o.role, o.rule, _iso(o.since)) for k, o in owned.items()),
            )
            db.executemany("DELETE FROM owned WHERE key = ?", ((k,) for k in released))
            db.execute("DELETE FROM intents WHERE run_id = ? AND batch = ?", (run_id, batch))

    def pending_intents(self) -> list[Intent]:
        rows = self._db.execute("SELECT run_id, batch, changes FROM intents ORDER BY written_at, batch")
        return [Intent(r, b, tuple(json.loads(c))) for r, b, c in rows]

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
