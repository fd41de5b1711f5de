"""Where a syncd command's CPU and wall time go, stage by stage, without a profiler's per-call overhead.

    python bench/stages.py plan -c syncd.toml --format json > /dev/null
    python bench/stages.py apply -c syncd.toml > /dev/null

Wraps the cycle's stages (source reads, target read, health, rules, state, reconcile, fingerprint, output;
for apply also each POST, the rate limiter's waits, the intent/settle transactions and the audit writes)
with CPU-time and wall-time counters, runs `syncd.cli.main(ARGS)` in this process and prints, on stderr,
each stage's seconds (inclusive: a stage that calls another includes it) next to the process's CPU.
cProfile's deterministic tracing costs about as much per call as syncd's per-person work, so at
100,000 people it distorts the picture; these counters cost one clock read per stage call.
"""

from __future__ import annotations

import functools
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: a prototype tree wins

STARTED = time.process_time()

from syncd import apply_loop, audit, cli, cycle, http, plan_file, plan_output, planning, reading, state  # noqa: E402
from syncd.targets import timetracker  # noqa: E402

spent: dict[str, float] = {}
walls: dict[str, float] = {}
calls: dict[str, int] = {}


def timed(owner: Any, attribute: str, label: str) -> None:
    original: Callable[..., Any] = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        begun, wall = time.process_time(), time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.process_time() - begun
            walls[label] = walls.get(label, 0.0) + time.perf_counter() - wall
            calls[label] = calls.get(label, 0) + 1

    setattr(owner, attribute, wrapper)


collector: dict[int, list[float]] = {}  # generation → [collections, CPU seconds]
_collecting: list[float] = []


def on_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _collecting[:] = [time.process_time()]
    elif _collecting:
        entry = collector.setdefault(info["generation"], [0, 0.0])
        entry[0] += 1
        entry[1] += time.process_time() - _collecting[0]


def main() -> int:
    imported = time.process_time()
    gc.callbacks.append(on_gc)
    # each stage is wrapped where its caller looks it up (the module that imported it)
    timed(cycle, "read_sources", "read sources (file/LDAP/… incl. parsing)")
    timed(cycle, "read_target", "read target (HTTP + JSON + rows, judged)")
    timed(planning, "read_organization", "read organization users (GET users, when assigning)")
    timed(cycle, "judge_health", "judge group health (digest)")
    timed(cycle, "desired_roles", "rules: desired roles")
    timed(planning, "reconcile", "reconcile")
    timed(reading, "match_people", "identity: match people to rows")
    timed(plan_file, "fingerprint", "plan fingerprint")
    timed(cycle.Cycle, "_apply", "apply (POSTs, intents, audit; a dry run's audit events)")
    timed(apply_loop, "verify", "verify (re-read target)")
    for name in (
        "owned",
        "owned_with_ids",
        "keys_without_seat_ids",
        "absent_since",
        "waiting_since",
        "group_baselines",
    ):
        timed(state.State, name, "state: load")
    for name in ("record_owned", "forget_owned", "replace_observations", "record_group_reads", "rekey"):
        timed(state.State, name, "state: save")
    timed(timetracker.TimetrackerTarget, "apply", "apply: target POSTs (incl. limiter waits)")
    timed(http.RateLimiter, "acquire", "HTTP: rate limiter (waits)")
    timed(state.State, "write_intent", "apply: state intent")
    timed(state.State, "settle_intent", "apply: state settle")
    timed(audit.AuditLog, "intent", "apply: audit intent")
    timed(audit.AuditLog, "change", "apply: audit change")
    timed(plan_output, "render_json", "output: plan JSON")
    timed(plan_output, "render_table", "output: plan table")
    timed(cycle.Cycle, "run", "cycle total")
    code = cli.main(sys.argv[1:])
    total = time.process_time()
    print(f"\nCPU by stage (process total {total - STARTED:.2f}s CPU):", file=sys.stderr)
    print(
        f"  {imported - STARTED:6.2f}s CPU            imports (after interpreter start-up)", file=sys.stderr
    )
    for generation, (count, seconds) in sorted(collector.items()):
        print(
            f"  {seconds:6.2f}s CPU               garbage collector, generation {generation} "
            f"({count:.0f} collection(s))",
            file=sys.stderr,
        )
    for label, seconds in spent.items():
        print(
            f"  {seconds:6.2f}s CPU {walls[label]:6.2f}s wall  {label} ({calls[label]} call(s))",
            file=sys.stderr,
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
