"""Who tracked time when: the latest worklog per 7pace user, read from REST `GET workLogs/all` (issue 18).

The request (docs/contract.md "7pace worklogs (activity)"): `workLogs/all?api-version=…&$count=500&$skip=N`
and one date bound, `$fromTimestamp` (the first read of the look-back window: the time worked) or
`$fromCreatedTimestamp` (later reads: what was logged since the last read, back-filled time included).
7pace documents no user filter, no order, no total and no next link, so a scan pages with `$skip` until an
empty page (a short page is not taken as the end: a server may cap pages below `$count`).

A person's activity is `max(createdTimestamp, min(timestamp, now))` over their rows, keyed by the row's
`user.id` (the id `users/roles` gives, [I]): creating a worklog is the person's act, and `timestamp` can lie
in the future. 7pace writes times without an offset ([U] which zone); they are read as UTC and the caller
widens its incremental bound by an overlap. Rows are compared as their first 19 characters
(`YYYY-MM-DDTHH:MM:SS`, fractions vary): a max is idempotent, so a row seen twice on shifting pages does no
harm and needs no dedupe set. Any unreadable row fails the whole scan: a partial scan must never make
anyone look idle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from syncd.errors import TargetProtocolError
from syncd.http import HttpClient

PAGE = 500  # "$count: Number of items to take. Maximum value: 500"
# worklogs, not users: many rows a person, so a bound of its own (10,000,000 rows), far above any window
MAX_WORKLOG_PAGES = 20_000
KIND = "GET workLogs/all"
_WIDTH = len("2026-01-01T00:00:00")


@dataclass(frozen=True, slots=True)
class WorklogScan:
    """The latest activity per 7pace user id seen by one complete scan."""

    last_by_user: dict[str, datetime]
    rows: int
    requests: int


class WorklogReader:
    """Scans `workLogs/all` through the target's HTTP client (its quota limiter and request counts)."""

    def __init__(self, client: HttpClient, api_root: str, api_version: str, page_size: int = PAGE) -> None:
        if not 1 <= page_size <= PAGE:
            raise ValueError(f"page_size must be 1..{PAGE}")
        self._client = client
        self._url = api_root + "workLogs/all"
        self._version = api_version
        self._page = page_size

    def scan(
        self,
        since: datetime,
        *,
        by: Literal["timestamp", "created"],
        now: datetime,
        until: datetime | None = None,
    ) -> WorklogScan:
        """Every worklog after `since` (and before `until`), by its time worked or by when it was created,
        one max per user."""
        bound = "$fromTimestamp" if by == "timestamp" else "$fromCreatedTimestamp"
        since_text = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        bounds: dict[str, str | int] = {bound: since_text}
        if until is not None:
            upper = "$toTimestamp" if by == "timestamp" else "$toCreatedTimestamp"
            bounds[upper] = until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        now_text = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        latest: dict[str, str] = {}
        rows = requests = skip = 0
        first_ids: str | None = None
        for _ in range(MAX_WORKLOG_PAGES):
            step = f"reading worklogs (GET workLogs/all, {bound}={since_text}, $skip={skip})"
            _, body = self._client.request(
                "GET",
                self._url,
                step=step,
                kind=KIND,
                params={"api-version": self._version, "$count": self._page, "$skip": skip, **bounds},
            )
            requests += 1
            page = body.get("data") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise TargetProtocolError(f'{step}: the answer has no list of worklogs in "data"')
            if not page:
                break
            head = _row_id(page[0])
            if skip and head is not None and head == first_ids:
                raise TargetProtocolError(
                    f"{step}: the same worklogs came back again; the server is not paging"
                )
            first_ids = head
            for number, row in enumerate(page, start=skip):
                user, moment = _activity(row, now_text)
                if user is None:
                    raise TargetProtocolError(f"{step}: worklog {number} has no readable user id or time")
                if moment > latest.get(user, ""):
                    latest[user] = moment
            rows += len(page)
            skip += len(page)
        else:
            raise TargetProtocolError(
                f"reading worklogs: more than {MAX_WORKLOG_PAGES} pages; narrow the look-back"
            )
        last: dict[str, datetime] = {}
        for user, moment in latest.items():
            try:
                last[user] = datetime.fromisoformat(moment).replace(tzinfo=UTC)
            except ValueError:
                raise TargetProtocolError(
                    f"reading worklogs: {moment!r} of user {user} is not a date and time"
                ) from None
        return WorklogScan(last, rows, requests)


def _row_id(row: object) -> str | None:
    return str(row.get("id")) if isinstance(row, dict) and row.get("id") is not None else None


def _activity(row: object, now_text: str) -> tuple[str | None, str]:
    """(user id, activity as a 19-character stamp); (None, "") when the row cannot be read."""
    if not isinstance(row, dict):
        return None, ""
    user: Any = row.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    created = row.get("createdTimestamp")
    worked = row.get("timestamp")
    if not isinstance(user_id, str) or not user_id:
        return None, ""
    stamps = [s[:_WIDTH] for s in (created, worked) if isinstance(s, str) and len(s) >= _WIDTH]
    if not stamps:
        return None, ""
    if isinstance(worked, str) and len(worked) >= _WIDTH:
        # a worklog may be dated in the future; it still proves activity today, not later
        stamps = [min(s, now_text) for s in stamps]
    return user_id.casefold(), max(stamps)
