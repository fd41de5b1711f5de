"""Idle seats for people (table lines) and for a manager's review (CSV, JSON): `syncd plan`, `syncd idle`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from syncd.models import IdleSeat

CSV_COLUMNS = (
    "email",
    "role",
    "rule",
    "idle_since",
    "days_idle",
    "worklog_seen",
    "status",
    "devops_last_access",
)
TABLE_LIMIT = 50
DEVOPS_TEXT = {"never": "never used", "not listed": "not a user"}


def idle_lines(seats: Sequence[IdleSeat], summary: str, *, limit: int = TABLE_LIMIT) -> list[str]:
    """The plan's "Idle seats" block: the summary line, then one line per seat (oldest idle first)."""
    if not summary:
        return []
    out = [f"Idle seats: {summary}"]
    width = max((len(s.email) for s in seats[:limit]), default=0)
    for seat in seats[:limit]:
        since = seat.idle_since.strftime("%Y-%m-%d")
        what = f"no time tracked since {'' if seat.tracked else 'at least '}{since}"
        devops = (
            f"; Azure DevOps: {DEVOPS_TEXT.get(seat.devops, 'last ' + seat.devops)}" if seat.devops else ""
        )
        out.append(
            f"  . {seat.email:<{width}}  {seat.role}  {what}, {seat.days} days; {seat.rule}; {seat.status}"
            + devops
        )
    if len(seats) > limit:
        out.append(f"  … and {len(seats) - limit} more (syncd idle --format csv lists them all)")
    return out


def _row(s: IdleSeat) -> tuple[str, str, str, str, int, str, str, str]:
    tracked = "yes" if s.tracked else "no"
    return (s.email, s.role, s.rule, s.idle_since.date().isoformat(), s.days, tracked, s.status, s.devops)


def idle_csv(seats: Sequence[IdleSeat]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180, as plan --format csv
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_row(s) for s in seats)
    return buffer.getvalue()


def idle_json(seats: Sequence[IdleSeat], summary: str) -> str:
    rows = [dict(zip(CSV_COLUMNS, _row(s), strict=True)) for s in seats]
    return json.dumps({"summary": summary, "idle": rows}, indent=2, ensure_ascii=False) + "\n"
