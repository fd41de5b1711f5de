"""`plan`, `apply`, `run`, `check` and `status` for a config with several targets (issue 19).

cli.py hands a command here when the config lists more than one target; a single-target config never comes
here, so its output and files are exactly as before. Every target gets its own block (its plan table with its
cost block, its results), then one line per target and a total; problems go to stderr prefixed with the
target's name.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from datetime import datetime

from syncd import multi_target, plan_set
from syncd.config import Config, for_target
from syncd.cycle import CycleRequest, utc_now
from syncd.errors import ExitCode, UsageError
from syncd.multi_target import (
    MultiResult,
    ending_lines,
    problem_lines,
    run_targets,
    selected,
    target_line,
    total_line,
)
from syncd.plan_file import SavedPlan
from syncd.plan_output import render_csv, render_table
from syncd.stopping import stop_on_signals

Emit = Callable[[str], None]


def _stderr(lines: list[str]) -> None:
    for line in lines:
        print(f"syncd: {line}", file=sys.stderr)


def _stoppable(
    config: Config, request: CycleRequest, names: tuple[str, ...], **kwargs: object
) -> MultiResult:
    stop = threading.Event()
    with stop_on_signals(stop):
        return run_targets(config, request, names, clock=utc_now, stop=stop, **kwargs)  # type: ignore[arg-type]


def _tables(config: Config, result: MultiResult, emit: Emit) -> None:
    """Each target's plan table with its cost block (a target that stopped before planning has none)."""
    for o in result.outcomes:
        if o.result is not None:
            title = f"Plan for {config.file}, target {o.name} ({o.type})"
            emit(render_table(o.result.plan, o.result.cost_lines, title=title))


def _summary(result: MultiResult, emit: Emit, *, write: bool) -> None:
    emit(
        "\n".join([target_line(o, write=write) for o in result.outcomes] + [total_line(result, write=write)])
    )


def plan(args: argparse.Namespace, config: Config, emit: Emit) -> int:
    names = selected(config, args.target)
    # a plan covering some of the targets is applied only with the same --target (plan_set.bound_to)
    only = f" --target {args.target}" if args.target is not None else ""
    request = CycleRequest("plan", write=False, audit=False)
    result = run_targets(config, request, names, clock=utc_now, alerts=False)
    saved: dict[str, SavedPlan] = {
        o.name: o.result.saved(o.view) for o in result.outcomes if o.result is not None
    }
    key = config.plan_signing_key.resolve() if config.plan_signing_key is not None else None
    if args.out is not None:
        plan_set.save(args.out, config, saved, key)
    if args.format == "json":
        emit(plan_set.render(config, saved, key))
    elif args.format == "csv":
        rows: list[str] = []
        for name, one in saved.items():
            lines = render_csv(one.plan).splitlines()
            if not rows:
                rows.append("target," + lines[0])
            rows += [f"{name},{line}" for line in lines[1:]]
        sys.stdout.write("".join(f"{row}\r\n" for row in rows))
    else:
        _tables(config, result, emit)
        _summary(result, emit, write=False)
        if args.out is not None:
            emit(
                f"Plan saved to {args.out}; apply it with: "
                f"syncd apply -c {config.file}{only} --plan {args.out}"
            )
    _stderr(problem_lines(result))
    for o in result.outcomes:
        if o.result is not None and o.result.guard is not None:
            print(
                f"syncd: target {o.name}: a run would stop here (exit 3): {o.result.guard}; after review, "
                f"save the plan with `syncd plan -c {config.file}{only} --out PLAN.json` and apply it with "
                f"`syncd apply -c {config.file}{only} --plan PLAN.json --override-guards`",
                file=sys.stderr,
            )
    code = result.exit_code
    if code is not ExitCode.OK:
        return int(code)
    pending = any(o.result is not None and o.result.plan.changes for o in result.outcomes)
    return int(ExitCode.CHANGES_PENDING if args.detailed_exitcode and pending else ExitCode.OK)


def apply(args: argparse.Namespace, config: Config, emit: Emit, now: datetime) -> int:
    names = selected(config, args.target)
    reviewed = None
    if args.plan_file is not None:
        key = config.plan_signing_key.resolve() if config.plan_signing_key is not None else None
        reviewed = plan_set.bound_to(plan_set.load(args.plan_file, now, key), config, names, args.plan_file)
    request = CycleRequest(
        "apply",
        write=True,
        audit=True,
        reviewed_path=args.plan_file,
        override_guards=args.override_guards,
        accept_clock=args.accept_clock,
    )
    result = _stoppable(config, request, names, reviewed=reviewed)
    args.ending_lines = ending_lines(result)  # for outcome.record: which target failed, and why
    _tables(config, result, emit)
    _summary(result, emit, write=True)
    _audit_paths(result, emit)
    _stderr(problem_lines(result))
    return int(result.exit_code)


def run(args: argparse.Namespace, config: Config, emit: Emit) -> int:
    names = selected(config, args.target)
    dry = args.dry_run or config.dry_run
    request = CycleRequest(
        "run", write=not dry, audit=True, max_runtime=args.max_runtime, accept_clock=args.accept_clock
    )
    result = _stoppable(config, request, names)
    args.ending_lines = ending_lines(result)
    _summary(result, emit, write=not dry)
    if dry:
        emit("Dry run: nothing applied.")
    _audit_paths(result, emit)
    _stderr(problem_lines(result))
    return int(result.exit_code)


def _audit_paths(result: MultiResult, emit: Emit) -> None:
    paths = sorted({str(o.result.audit_path) for o in result.outcomes if o.result and o.result.audit_path})
    for path in paths:
        emit(f"Audit log: {path}")


def single_view(config: Config, only: str | None, command: str) -> Config:
    """The one target a command acts on (`state`, `idle`, `grant`, `check --probe`, `status --user`): the
    config's only target, or the one `--target` names; with several and no `--target`, exit 2 naming them."""
    names = selected(config, only)
    if len(names) > 1:
        raise UsageError(
            f"{config.file}: {command} acts on one target and the config has {len(names)} "
            f"({', '.join(names)}); name one with --target NAME"
        )
    return config if len(config.targets) <= 1 else for_target(config, names[0])


def check(config: Config, only: str | None, emit: Emit, check_one: Callable[[Config, Emit], int]) -> int:
    codes: list[ExitCode] = []
    for name in selected(config, only):
        emit(f"target {name}:")
        codes.append(ExitCode(check_one(for_target(config, name), emit)))
    return int(multi_target.worst(codes))


def status(config: Config, only: str | None, fmt: str, now: datetime) -> str:
    from syncd.status import collect_status, render_collected

    names = selected(config, only)
    data = {name: collect_status(for_target(config, name), now) for name in names}
    held = [d["seats"]["held"] for d in data.values() if d.get("seats", {}).get("held") is not None]
    exits = {name: d["runs"][0]["exit_code"] if d.get("runs") else None for name, d in data.items()}
    total = {"targets": len(names), "seats_held": sum(held), "last_exit_codes": exits}
    if fmt == "json":
        return json.dumps(
            {"targets": data, "total": total, "now": now.isoformat()}, indent=2, ensure_ascii=False
        )
    types = {t.name: t.settings.type for t in config.targets}
    blocks = [f"== target {name} ({types[name]}) ==\n{render_collected(data[name], fmt)}" for name in names]
    last = ", ".join(f"{n} {'-' if c is None else c}" for n, c in exits.items())
    blocks.append(
        f"Total: {len(names)} target(s); {sum(held)} seat(s) held in the {len(held)} with a recorded run; "
        f"last exit codes: {last}"
    )
    return "\n\n".join(blocks)
