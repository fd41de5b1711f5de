"""The worklogs of the emulated 7pace organisation, served as `GET {base}/workLogs/all` (issue 18).

What 7pace documents (REST CRUD API v3, docs/contract.md "7pace worklogs (activity)"): `$count` (page size,
at most 500), `$skip`, `$fromTimestamp` / `$toTimestamp` and `$fromCreatedTimestamp` / `$toCreatedTimestamp`
("greater than" / "less than"), rows `{"id", "timestamp", "length", "user": {…}, "createdTimestamp", …}` in
`{"data": […]}`, no user filter, no total, no next link. Everything else is [U] and a field of
`WorklogContract`, so a test can flip it and check the client does not depend on it:

- `bounds`: "exclusive" (the documented wording, default) or "inclusive";
- `created_filter`: "honoured" (default) or "ignored" (the created-time bounds are silently dropped, as the
  third-party note on `_userId` reports for another name);
- `order`: "created" (oldest created first, so worklogs added while paging land on later pages: default) or
  "newest-first" (newest `timestamp` first: a worklog added while paging shifts every page);
- `page_cap`: the server returns at most this many rows per page even when `$count` asks for more;
- `fail`: "" or "forbidden" (403, as a token without the Product/Budget/Administrator right gets).

Timestamps are naive ISO strings (7pace sends no offset); the emulator compares them as written.
"""

from __future__ import annotations

import threading
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

MAX_COUNT = 500
_STAMP = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True, slots=True)
class WorklogContract:
    bounds: Literal["exclusive", "inclusive"] = "exclusive"
    created_filter: Literal["honoured", "ignored"] = "honoured"
    order: Literal["created", "newest-first"] = "created"
    page_cap: int = MAX_COUNT
    fail: Literal["", "forbidden"] = ""


@dataclass(frozen=True, slots=True)
class _Worklog:
    created: str
    timestamp: str
    id: str
    user: dict[str, str]


class WorklogError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def stamp(moment: datetime) -> str:
    """A worklog time as 7pace writes it: naive, to the second (the emulator's clock is UTC)."""
    return moment.strftime(_STAMP)


class WorklogStore:
    """Worklogs kept sorted by created time; filtered results are cached per query until the next add."""

    def __init__(self, contract: WorklogContract | None = None) -> None:
        self.contract = contract or WorklogContract()
        self._lock = threading.Lock()
        self._rows: list[_Worklog] = []
        self._created: list[str] = []
        self._cache: dict[tuple[str | None, ...], list[_Worklog]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, user: dict[str, str], timestamp: datetime, created: datetime | None = None) -> str:
        """One worklog of `user` (the user's REST fields) starting at `timestamp`, created at `created`
        (default: the same time). Returns its id."""
        return self.add_many([(user, timestamp, created or timestamp)])[0]

    def add_many(self, entries: list[tuple[dict[str, str], datetime, datetime]]) -> list[str]:
        made = [_Worklog(stamp(c), stamp(t), str(uuid.uuid4()), u) for u, t, c in entries]
        with self._lock:
            self._rows.extend(made)
            self._rows.sort(key=lambda w: w.created)
            self._created = [w.created for w in self._rows]
            self._cache.clear()
        return [w.id for w in made]

    def set_contract(self, contract: WorklogContract) -> None:
        with self._lock:
            self.contract = contract
            self._cache.clear()

    def page(self, params: dict[str, str | None]) -> list[dict[str, Any]]:
        """One page of `workLogs/all` for these query parameters (`$`-names, values as sent)."""
        contract = self.contract
        if contract.fail == "forbidden":
            raise WorklogError(403, 'Requires user rights with roles "Product", "Budget" or "Administrator"')
        try:
            count = int(params.get("$count") or MAX_COUNT)
            skip = int(params.get("$skip") or 0)
        except ValueError:
            raise WorklogError(400, "$count and $skip are integers") from None
        if count < 1 or skip < 0 or count > MAX_COUNT:
            raise WorklogError(400, f"The maximum value for the $count parameter is {MAX_COUNT}")
        bounds = tuple(
            _bound(params.get(name))
            for name in ("$fromTimestamp", "$toTimestamp", "$fromCreatedTimestamp", "$toCreatedTimestamp")
        )
        with self._lock:
            rows = self._cache.get(bounds)
            if rows is None:
                rows = self._cache[bounds] = self._select(*bounds)
            chosen = rows[skip : skip + min(count, contract.page_cap)]
        return [_row(w) for w in chosen]

    def _select(
        self, from_ts: str | None, to_ts: str | None, from_created: str | None, to_created: str | None
    ) -> list[_Worklog]:
        inclusive = self.contract.bounds == "inclusive"
        rows = self._rows
        if self.contract.created_filter == "honoured" and (from_created or to_created):
            low = 0
            if from_created:
                low = (bisect_left if inclusive else bisect_right)(self._created, from_created)
            high = len(rows)
            if to_created:
                high = (bisect_right if inclusive else bisect_left)(self._created, to_created)
            rows = rows[low:high]
        if from_ts:
            rows = [w for w in rows if w.timestamp > from_ts or (inclusive and w.timestamp == from_ts)]
        if to_ts:
            rows = [w for w in rows if w.timestamp < to_ts or (inclusive and w.timestamp == to_ts)]
        if self.contract.order == "newest-first":
            rows = sorted(rows, key=lambda w: w.timestamp, reverse=True)
        return rows


def _bound(value: str | None) -> str | None:
    """A filter value as a comparable naive stamp: 7pace's documented example has no zone; a trailing `Z`
    or offset is dropped (the emulator reads every value in its own zone) and a date means its midnight."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WorklogError(400, f"cannot read {value!r} as a date and time") from None
    return stamp(parsed.replace(tzinfo=None))


def _row(worklog: _Worklog) -> dict[str, Any]:
    return {
        "id": worklog.id,
        "timestamp": worklog.timestamp,
        "length": 3600,
        "billableLength": None,
        "workItemId": None,
        "comment": "",
        "user": worklog.user,
        "addedByUser": worklog.user,
        "createdTimestamp": worklog.created,
        "editedTimestamp": worklog.created,
        "flags": {"isTracked": False, "isManuallyEntered": True},
    }
