"""`syncd audit`: read the audit trail without jq (Windows servers have none). Filters by person, action,
outcome, run and time across the dated files; prints a table or JSON Lines. "Why does ann have a seat?" is
`syncd audit --user ann@contoso.com --last`; any of a person's identifiers (UPN, an old address, the 7pace
or immutable id) finds the same events (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from syncd.identity import normalise_identifier


@dataclass(frozen=True)
class AuditFilter:
    user: str | None = None  # normalised e-mail (or any identifier key, issue 16)
    also: frozenset[str] = frozenset()  # the same person's other keys (renames), identifiers, ids
    actions: frozenset[str] = frozenset()
    outcome: str | None = None
    run_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    changes_only: bool = False  # --last: only events that describe a person's seat


_PERSON_ACTIONS = frozenset(
    {"seat-assign", "role-change", "seat-unassign", "seat-blocked", "seat-held", "seat-renamed"}
)


def _files(directory: Path, since: datetime | None) -> list[Path]:
    found: list[tuple[date, Path]] = []
    for path in directory.glob("audit-*.jsonl"):
        try:
            day = date.fromisoformat(path.stem.removeprefix("audit-"))
        except ValueError:
            continue
        if since is None or day >= since.date() - timedelta(days=1):
            found.append((day, path))
    return [path for _, path in sorted(found)]


def events(directory: Path, wanted: AuditFilter) -> Iterator[dict[str, Any]]:
    """Matching events, oldest first. Unparseable lines (a crash mid-write) are skipped, not fatal."""
    for path in _files(directory, wanted.since):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(event, dict) and _matches(event, wanted):
                    yield event


def _matches(event: dict[str, Any], wanted: AuditFilter) -> bool:
    action = str(event.get("event.action", ""))
    if wanted.actions and action not in wanted.actions:
        return False
    if wanted.changes_only and action not in _PERSON_ACTIONS:
        return False
    if wanted.outcome and event.get("event.outcome") != wanted.outcome:
        return False
    if wanted.run_id and not str(event.get("syncd.run.id", "")).startswith(wanted.run_id):
        return False
    if wanted.user and not _about(event, {wanted.user, *wanted.also}):
        return False
    if wanted.since or wanted.until:
        try:
            stamp = datetime.fromisoformat(str(event["@timestamp"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            return False
        if wanted.since and stamp < wanted.since:
            return False
        if wanted.until and stamp > wanted.until:
            return False
    return True


def _about(event: dict[str, Any], names: set[str]) -> bool:
    """Whether the event concerns a person known by any of `names` (identifier keys, 7pace/immutable ids)."""
    found = {normalise_identifier(str(event.get(f, ""))) for f in _PERSON_FIELDS}
    found.update(normalise_identifier(str(e)) for e in event.get("syncd.batch.emails", ()))
    for item in event.get("syncd.identifiers", ()):
        found.add(normalise_identifier(str(item).partition(":")[2]))
    return not names.isdisjoint(found)


_PERSON_FIELDS = (
    "user.target.email",
    "syncd.person.key",
    "syncd.person.id",
    "user.target.id",
    "syncd.renamed.from",
)


def render_table(found: Sequence[dict[str, Any]]) -> str:
    if not found:
        return "No matching audit events."
    lines = []
    for e in found:
        before = (e.get("user.target.roles") or [""])[0]
        after = (e.get("user.changes.roles") or [""])[0]
        roles = f"{before} → {after}" if before or after else ""
        who = e.get("user.target.email", "")
        detail = (
            e.get("syncd.held.why") or e.get("error.message") or e.get("event.reason") or e.get("message", "")
        )
        stamp = str(e.get("@timestamp", ""))[:19]
        action, outcome = e.get("event.action", ""), e.get("event.outcome", "")
        run = str(e.get("syncd.run.id", ""))[:8]
        lines.append(f"{stamp}  {action:<13} {outcome:<8} {who:<30} {roles:<26} {detail}  [run {run}]")
    return "\n".join(lines)


def render_jsonl(found: Sequence[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(e, ensure_ascii=False) for e in found)
