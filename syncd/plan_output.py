"""Render a plan for people (table) and for tools (JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from syncd.identity import EmailKey
from syncd.idle_output import idle_lines
from syncd.models import Action, Ambiguous, Change, Health, Plan, utc_stamp
from syncd.plan_file import SavedPlan, saved_plan_to_dict, sealed
from syncd.secrets import Secret

FORMATS = ("table", "json", "csv")

_SECTIONS = (
    (Action.ASSIGN, "+", "Assign {n} seat(s)"),
    (Action.CHANGE, "~", "Change {n} role(s)"),
    (Action.UNASSIGN, "-", "Unassign {n} seat(s)"),
)


def _rows(changes: Iterable[Change], mark: str, extra: Mapping[EmailKey, str] | None = None) -> list[str]:
    changes = list(changes)
    width = max((len(c.email) for c in changes), default=0)
    roles = max((len(f"{c.before} → {c.after}") for c in changes), default=0)
    lines = []
    for c in changes:
        tail = (extra or {}).get(c.key, c.reason.text)
        lines.append(f"  {mark} {c.email:<{width}}  {f'{c.before} → {c.after}':<{roles}}  {tail}")
    return lines


def render_table(plan: Plan, cost_lines: Sequence[str] = (), *, title: str = "") -> str:
    out: list[str] = []
    if title:
        out.append(title)
    if plan.groups:
        out.append("Groups read:")
        for g in plan.groups:
            state = g.health.value if g.health is Health.OK else g.health.value.upper()
            detail = f"  {g.detail}" if g.detail else ""
            out.append(f"  {state:<10} {g.source}: {g.group}  ({g.members} member(s)){detail}")
    if not plan.changes:
        waiting = [f"{len(plan.held)} held"] if plan.held else []
        waiting += [f"{len(plan.blocked)} blocked by the seat limit"] if plan.blocked else []
        waiting += [f"{len(plan.ambiguous)} ambiguous match(es) left alone"] if plan.ambiguous else []
        # people outside the organization, or seats no person matches, do not "match the rules": say so
        waiting += [f"{len(plan.left_alone)} person(s) left alone"] if plan.left_alone else []
        waiting += [f"{len(plan.unmatched)} seat(s) nobody can be matched to"] if plan.unmatched else []
        if waiting:
            out.append(f"No changes will be made; {', '.join(waiting)} (see below).")
        else:
            out.append("No changes: every seat already matches the rules.")
    for action, mark, heading in _SECTIONS:
        changes = [c for c in plan.changes if c.action is action]
        if changes:
            out.append(heading.format(n=len(changes)) + ":")
            out.extend(_rows(changes, mark))
    if plan.held:
        out.append(f"Held, not applied this run ({len(plan.held)}):")
        reasons = {h.change.key: h.why + (f"; due {utc_stamp(h.due)}" if h.due else "") for h in plan.held}
        out.extend(_rows((h.change for h in plan.held), "!", reasons))
    if plan.protected:
        out.append(f"Protected, kept ({len(plan.protected)}):")
        out.extend(_rows(plan.protected, "=", {c.key: "policy.protected" for c in plan.protected}))
    if plan.blocked:
        out.append(
            f"Blocked by the seat limit of {plan.seat_limit} ({len(plan.blocked)}), retried every run:"
        )
        out.extend(_rows(plan.blocked, "x"))
    if plan.left_alone:
        out.append(f"Left alone, nothing sent ({len(plan.left_alone)}):")
        width = max(len(e.email) for e in plan.left_alone)
        out.extend(f"  ? {e.email:<{width}}  {e.kind}: {e.why}" for e in plan.left_alone)
    if plan.unmatched:
        shown = ", ".join(plan.unmatched[:10])
        more = f" (+{len(plan.unmatched) - 10} more)" if len(plan.unmatched) > 10 else ""
        out.append(
            f"{len(plan.unmatched)} licensed user(s) cannot be matched (no usable e-mail; their seats are "
            f"counted and left alone): {shown}{more}"
        )
    if plan.renamed:
        out.append(f"Renamed, seat and ownership kept ({len(plan.renamed)}):")
        width = max(len(r.before) for r in plan.renamed)
        out.extend(f"  > {r.before:<{width}} → {r.key}  ({r.how})" for r in plan.renamed)
    if plan.ambiguous:
        out.append(f"Ambiguous, left alone, seats counted as held ({len(plan.ambiguous)}):")
        out.extend(f"  ? {ambiguous_line(a)}" for a in plan.ambiguous)
    limit = f" (limit {plan.seat_limit})" if plan.seat_limit is not None else ""
    delta = plan.seats_after - plan.seats_before
    if cost_lines:
        out.extend(cost_lines)  # the cost block starts with the seat figures
    else:
        out.append(f"Seats: {plan.seats_before} → {plan.seats_after} ({delta:+d}){limit}")
    out.extend(idle_lines(plan.idle, plan.idle_summary))
    if plan.unidentified:
        out.append(f"Note: {plan.unidentified} member(s) have no usable e-mail address and were skipped")
    out.extend(f"Note: {note}" for note in plan.notes)
    return "\n".join(out) + "\n"


def render_json(saved: SavedPlan, key: Secret | None = None) -> str:
    """Sealed like `plan --out`, so a redirected `plan --format json` is an applicable plan too."""
    return json.dumps(sealed(saved_plan_to_dict(saved), key), indent=2, ensure_ascii=False) + "\n"


CSV_COLUMNS = ("status", "action", "email", "before", "after", "reason", "rule", "source", "group", "due")


def render_csv(plan: Plan) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; Excel opens it as is
    writer.writerow(CSV_COLUMNS)

    def row(status: str, c: Change, reason: str, due: str = "") -> list[Any]:
        r = c.reason
        return [status, c.action.value, c.email, c.before, c.after, reason, r.rule, r.source, r.group, due]

    for c in plan.changes:
        writer.writerow(row("planned", c, c.reason.text))
    for h in plan.held:
        writer.writerow(row("held", h.change, h.why, h.due.isoformat() if h.due else ""))
    for c in plan.protected:
        writer.writerow(row("protected", c, "policy.protected"))
    for c in plan.blocked:
        writer.writerow(row("blocked", c, f"seat limit {plan.seat_limit}"))
    return buffer.getvalue()


def ambiguous_line(entry: Ambiguous) -> str:
    """One ambiguous match on one line: who, which 7pace rows, why (plan table, stderr, audit)."""
    return f"{' and '.join(entry.people)} ↔ {' and '.join(entry.rows)}: {entry.why}"
