"""`syncd status`: what ops need without opening a shell — last runs and outcomes, held groups and why,
removals pending in grace and when they fall due, blocked assignments, seats used against the limit."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from syncd.config import Config
from syncd.models import Action, ChangeResult, Outcome, Plan, group_status_dict, utc_stamp
from syncd.reclaim_state import ReclaimState
from syncd.state import State


def run_summary(
    plan: Plan,
    results: Sequence[ChangeResult],
    *,
    not_applied: int,
    seats_after: int,
    problems: Sequence[str],
    cost: Mapping[str, Any] | None,
    cost_lines: Sequence[str],
) -> dict[str, Any]:
    """What a finished run leaves in the state for `syncd status` (the run's `summary`)."""
    return {
        "planned": {a.value: plan.count(a) for a in Action},
        "applied": sum(1 for r in results if r.outcome is Outcome.SUCCESS),
        "failed": sum(1 for r in results if r.outcome is not Outcome.SUCCESS),
        "not_applied": not_applied,
        "seats_before": plan.seats_before,
        "seats_after": seats_after,
        "seat_limit": plan.seat_limit,
        "held": [
            {
                "email": h.change.email,
                "action": h.change.action.value,
                "why": h.why,
                "due": h.due.isoformat() if h.due else None,
            }
            for h in plan.held
        ],
        "blocked": [c.email for c in plan.blocked],
        "left_alone": [{"email": e.email, "kind": e.kind, "why": e.why} for e in plan.left_alone]
        + [
            {"email": " and ".join(a.people), "kind": "ambiguous", "why": f"{' and '.join(a.rows)}: {a.why}"}
            for a in plan.ambiguous
        ],
        "unmatched": list(plan.unmatched),
        "groups": [group_status_dict(g) for g in plan.groups],
        "problems": list(problems),
        "cost": dict(cost) if cost is not None else None,
        "cost_lines": list(cost_lines),
        "idle": [
            {
                "email": s.email,
                "role": s.role,
                "rule": s.rule,
                "idle_since": s.idle_since.date().isoformat(),
                "days": s.days,
                "status": s.status,
                "devops_last_access": s.devops,
            }
            for s in plan.idle
        ],
        "idle_summary": plan.idle_summary,
    }


def collect_status(config: Config, now: datetime) -> dict[str, Any]:
    if not (config.state_dir / "syncd.sqlite3").exists():
        return {"state_dir": str(config.state_dir), "runs": [], "note": "no run has been recorded yet"}
    with State(config.state_dir) as state:
        runs = state.recent_runs(10)
        absent = state.absent_since()
        owned = state.owned()
        reclaimed = ReclaimState(state).reclaimed()
    last = next((r for r in runs if r.finished is not None), None)
    summary = last.summary if last else {}
    # A run that failed before reading the target (credentials refused) has no seat figures: show the last
    # run that had them, and when, rather than "None"; its cost block belonged to that run, not to now.
    seated = next((r for r in runs if r.finished is not None and "seats_after" in r.summary), None)
    seats_summary = seated.summary if seated else {}
    pending = sorted(
        (
            {"key": key, "absent_since": since.isoformat(), "due": (since + config.policy.grace).isoformat()}
            for key, since in absent.items()
        ),
        key=lambda item: item["due"],
    )
    return {
        "state_dir": str(config.state_dir),
        "runs": [
            {
                "run_id": r.run_id,
                "command": r.command,
                "started": r.started.isoformat(),
                "finished": r.finished.isoformat() if r.finished else None,
                "exit_code": r.exit_code,
                "applied": r.summary.get("applied"),
                "failed": r.summary.get("failed"),
                "error": r.summary.get("error"),
            }
            for r in runs
        ],
        "seats": {
            "held": seats_summary.get("seats_after"),
            "limit": seats_summary.get("seat_limit"),
            "owned_by_syncd": len(owned),
            "as_of": seated.finished.isoformat() if seated and seated.finished else None,
            "as_of_last_run": seated is last,
        },
        "groups_not_ok": [g for g in summary.get("groups", []) if g.get("health") != "ok"],
        "held": summary.get("held", []),
        "pending_in_grace": pending,
        "blocked": summary.get("blocked", []),
        "left_alone": summary.get("left_alone", []),
        "unmatched": summary.get("unmatched", []),
        "cost": summary.get("cost"),
        "cost_lines": summary.get("cost_lines", []),
        "idle_summary": summary.get("idle_summary", ""),
        "idle": summary.get("idle", []),
        "reclaimed": [
            {"email": r.email, "role": r.role, "since": r.since.isoformat(), "reason": r.reason}
            for r in sorted(reclaimed.values(), key=lambda r: r.since)
        ],
        "now": now.isoformat(),
    }


def render_status(config: Config, fmt: str, now: datetime) -> str:
    return render_collected(collect_status(config, now), fmt)


def render_collected(data: dict[str, Any], fmt: str) -> str:
    """`syncd status` of what `collect_status` gathered (each target's, with several targets)."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    out = [f"State: {data['state_dir']}"]
    if not data["runs"]:
        out.append("No runs recorded yet.")
        return "\n".join(out)
    out.append("Last runs:")
    for r in data["runs"]:
        outcome = "running" if r["exit_code"] is None else f"exit {r['exit_code']}"
        detail = r["error"] or f"{r['applied'] or 0} applied, {r['failed'] or 0} failed"
        out.append(f"  {r['started'][:19]}  {r['command']:<6} {outcome:<8} {detail}")
    seats = data["seats"]
    limit = f" of limit {seats['limit']}" if seats["limit"] is not None else ""
    if seats["held"] is None:
        held = "not known (no recorded run has read the target yet)"
    elif seats["as_of_last_run"]:
        held = str(seats["held"])
    else:
        when = utc_stamp(datetime.fromisoformat(seats["as_of"]))
        held = f"{seats['held']} (at the run of {when}, the last that read the target)"
    out.append(f"Seats: {held}{limit}; {seats['owned_by_syncd']} assigned or adopted by syncd")
    out.extend(f"  {line}" for line in data["cost_lines"])
    out.extend(
        f"Group {g['source']}: {g['group']} is {g['health']}: {g.get('detail', '')}"
        for g in data["groups_not_ok"]
    )
    if data["pending_in_grace"]:
        out.append(f"Pending in grace ({len(data['pending_in_grace'])}):")
        out.extend(f"  {p['key']}  due {p['due'][:16]}" for p in data["pending_in_grace"][:50])
    if data["held"]:
        out.append(f"Held at the last run ({len(data['held'])}):")
        out.extend(f"  {h['email']}  {h['action']}: {h['why']}" for h in data["held"][:50])
    if data["left_alone"]:
        out.append(f"Left alone at the last run ({len(data['left_alone'])}):")
        out.extend(f"  {e['email']}  {e['kind']}: {e['why']}" for e in data["left_alone"][:50])
    if data["unmatched"]:
        out.append(
            f"Seats 7pace lists without a usable e-mail ({len(data['unmatched'])}): "
            + ", ".join(data["unmatched"][:20])
        )
    if data["blocked"]:
        out.append(f"Blocked by the seat limit ({len(data['blocked'])}): " + ", ".join(data["blocked"][:20]))
    out.extend(_idle_lines(data))
    return "\n".join(out)


def _idle_lines(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if data["idle_summary"]:
        out.append(f"Idle seats at the last run: {data['idle_summary']}")
        out.extend(
            f"  {s['email']}  {s['role']}  idle since {s['idle_since']} ({s['days']} days); "
            f"{s['rule']}; {s['status']}"
            for s in data["idle"][:50]
        )
    if data["reclaimed"]:
        out.append(
            f"Reclaimed ({len(data['reclaimed'])}), kept unassigned until `syncd grant EMAIL` or the "
            "regrant group:"
        )
        out.extend(
            f"  {r['email']}  {r['role']}  since {r['since'][:10]}: {r['reason']}"
            for r in data["reclaimed"][:50]
        )
    return out
