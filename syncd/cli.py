"""The `syncd` command. `main(argv) -> int` never raises: every outcome is one of the documented exit codes,
and every expected error is one line on stderr naming what to fix."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import structlog

from syncd import __version__, plan_file
from syncd import config as config_module
from syncd.config_section import parse_duration
from syncd.cycle import Cycle, CycleRequest, CycleResult, utc_now
from syncd.diagnostics import add_log_file, configure, prune_log_files
from syncd.errors import ConfigError, ExitCode, SyncdError, UsageError
from syncd.identity import normalise_email
from syncd.models import Outcome
from syncd.plan_output import FORMATS, render_csv, render_json, render_table

log = structlog.get_logger("syncd.cli")

EXIT_CODE_TABLE: tuple[tuple[ExitCode, str], ...] = (
    (ExitCode.OK, "success: changes applied, or nothing to do"),
    (ExitCode.INTERNAL, "unexpected internal error (a bug: please report it with the diagnostics)"),
    (ExitCode.CONFIG, "usage or configuration error (the message names the file and key)"),
    (ExitCode.GUARD, "a safety guard stopped the run, or a reviewed plan was refused; nothing applied"),
    (ExitCode.PARTIAL, "partial failure: some changes failed or were not applied (see the audit log)"),
    (ExitCode.UNREACHABLE, "a source or the target could not be reached or refused the credentials"),
    (ExitCode.LOCKED, "another run holds the lock; nothing done"),
    (ExitCode.CHANGES_PENDING, "plan --detailed-exitcode only: changes are pending"),
)


def exit_code_for(error: BaseException) -> ExitCode:
    """The one mapping from failures to exit codes (each SyncdError class carries its documented code)."""
    if isinstance(error, SyncdError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.PARTIAL
    return ExitCode.INTERNAL


def _duration(text: str) -> timedelta:
    parsed = parse_duration(text)
    if parsed is None or parsed <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as '45m', '2h' or '90s'")
    return parsed


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    # SUPPRESS: options given before the command are not overwritten by the sub-parser's defaults
    common.add_argument(
        "-c",
        "--config",
        default=argparse.SUPPRESS,
        help="config file (default: $SYNCD_CONFIG, then ./syncd.toml)",
    )
    common.add_argument("--log-format", choices=("json", "console"), default=argparse.SUPPRESS)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS)
    common.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS)

    parser = _Parser(
        prog="syncd",
        description="Keeps 7pace Timetracker seats in step with directory groups.",
        epilog="exit codes:\n"
        + "\n".join(f"  {int(c):>2} (0x{int(c):X})  {text}" for c, text in EXIT_CODE_TABLE),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    parser.add_argument("-c", "--config", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log-format", choices=("json", "console"), default=None)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more diagnostics (repeatable)")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="fewer diagnostics")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    plan = commands.add_parser("plan", parents=[common], help="show what a run would change; never writes")
    plan.add_argument("--format", choices=FORMATS, default="table")
    plan.add_argument("--out", type=Path, help="also save the plan (JSON) for review and `apply --plan`")
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 10 when changes are pending")

    apply = commands.add_parser(
        "apply", parents=[common], help="compute and apply now, or apply a reviewed plan"
    )
    apply.add_argument("--plan", type=Path, dest="plan_file", help="apply exactly this reviewed plan")
    apply.add_argument(
        "--override-guards", action="store_true", help="with --plan only: apply it although a guard trips"
    )

    run = commands.add_parser("run", parents=[common], help="one unattended cycle (what the scheduler calls)")
    run.add_argument("--dry-run", action="store_true", help="plan and audit, but change nothing")
    run.add_argument(
        "--max-runtime", type=_duration, help="stop starting new batches after this long, e.g. 45m"
    )

    commands.add_parser("daemon", parents=[common], help="run on the [schedule] until SIGTERM or Ctrl-C")
    check = commands.add_parser("check", parents=[common], help="validate the config (and reach every peer)")
    check.add_argument("--offline", action="store_true", help="only validate the file; contact nothing")
    status = commands.add_parser("status", parents=[common], help="last runs, held groups, pending removals")
    status.add_argument("--format", choices=("table", "json"), default="table")
    audit = commands.add_parser(
        "audit", parents=[common], help="search the audit trail (who, what, when, why)"
    )
    audit.add_argument("--user", help="one person's e-mail")
    audit.add_argument(
        "--action", action="append", default=[], help="seat-assign, role-change, seat-unassign, …"
    )
    audit.add_argument("--outcome", choices=("success", "failure", "unknown"))
    audit.add_argument("--run", dest="run_id", help="a run id (a prefix is enough)")
    audit.add_argument("--since", type=_duration, help="only events this recent, e.g. 7d, 12h")
    audit.add_argument(
        "--last", action="store_true", help="only the latest matching change (why does X have a seat?)"
    )
    audit.add_argument("--format", choices=("table", "jsonl"), default="table")
    idle = commands.add_parser(
        "idle", parents=[common], help="list the idle seats (no time tracked) for review; never writes"
    )
    idle.add_argument("--format", choices=("table", "csv", "json"), default="table")
    grant = commands.add_parser("grant", parents=[common], help="give a reclaimed seat back (audited)")
    grant.add_argument("email", help="the person's e-mail address")
    demo = commands.add_parser(
        "demo", parents=[common], help="a self-contained tour against the bundled emulator"
    )
    demo.add_argument("--dir", type=Path, help="where to keep the demo's files (default: a temporary folder)")
    return parser


def _print(text: str, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()


def _load(args: argparse.Namespace) -> config_module.Config:
    return config_module.load(config_module.locate(args.config))


def _verbosity(args: argparse.Namespace) -> int:
    return (args.verbose or 0) - (args.quiet or 0)


def _log_to_files(args: argparse.Namespace, config: config_module.Config) -> None:
    """Unattended commands also keep dated diagnostic files beside the audit log, pruned like it."""
    try:
        prune_log_files(config.audit_dir, config.audit_retention_days, utc_now().date())
        add_log_file(args.log_format, _verbosity(args), config.audit_dir)
    except OSError as error:
        log.warning("diagnostic log file not available", dir=str(config.audit_dir), error=error.strerror)


def _results_lines(result: CycleResult) -> list[str]:
    ok = sum(1 for r in result.results if r.outcome is Outcome.SUCCESS)
    failed = [r for r in result.results if r.outcome is not Outcome.SUCCESS]
    lines = [
        f"Applied {ok} of {len(result.plan.changes)} change(s); {len(failed)} failed; "
        f"{result.not_applied} not applied; {len(result.plan.held)} held; "
        f"seats {result.plan.seats_before} → {result.plan.seats_after}."
    ]
    lines += [
        f"  FAILED {r.change.email}: {r.change.action.value} {r.change.before} → {r.change.after}: {r.error}"
        for r in failed[:20]
    ]
    if len(failed) > 20:
        lines.append(f"  … and {len(failed) - 20} more (see the audit log)")
    if result.audit_path is not None:
        lines.append(f"Audit log: {result.audit_path}")
    return lines


def cmd_plan(args: argparse.Namespace) -> int:
    config = _load(args)
    result = Cycle(config).run(CycleRequest("plan", write=False, audit=False))
    saved = result.saved(config)
    if args.out is not None:
        plan_file.save(args.out, saved)
    if args.format == "json":
        _print(render_json(saved))
    elif args.format == "csv":
        sys.stdout.write(render_csv(result.plan))
    else:
        _print(render_table(result.plan, result.cost_lines, title=f"Plan for {config.file}"))
        if args.out is not None:
            _print(f"Plan saved to {args.out}; apply it with: syncd apply -c {config.file} --plan {args.out}")
    for line in result.problems:
        print(f"syncd: {line}", file=sys.stderr)
    if result.guard is not None:
        print(
            f"syncd: a run would stop here (exit 3): {result.guard}; after review, apply this plan with "
            "`syncd apply --plan FILE --override-guards`",
            file=sys.stderr,
        )
    if result.exit_code is not ExitCode.OK:
        return int(result.exit_code)
    if args.detailed_exitcode and result.plan.changes:
        return int(ExitCode.CHANGES_PENDING)
    return int(ExitCode.OK)


def cmd_apply(args: argparse.Namespace) -> int:
    if args.override_guards and args.plan_file is None:
        raise UsageError(
            "--override-guards is accepted only together with --plan FILE: an approval is bound to the plan "
            "that was reviewed"
        )
    config = _load(args)
    _log_to_files(args, config)
    reviewed = plan_file.load(args.plan_file, utc_now()) if args.plan_file is not None else None
    request = CycleRequest(
        "apply",
        write=True,
        audit=True,
        reviewed=reviewed,
        reviewed_path=args.plan_file,
        override_guards=args.override_guards,
    )
    result = Cycle(config).run(request)
    _print(render_table(result.plan, result.cost_lines, title=f"Plan for {config.file}"))
    _print("\n".join(_results_lines(result)))
    for line in result.problems:
        print(f"syncd: {line}", file=sys.stderr)
    return int(result.exit_code)


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    _log_to_files(args, config)
    dry = args.dry_run or config.dry_run
    request = CycleRequest("run", write=not dry, audit=True, max_runtime=args.max_runtime)
    result = Cycle(config).run(request)
    if dry:
        plan = result.plan
        _print(
            f"Dry run: {len(plan.changes)} change(s) planned, {len(plan.held)} held, "
            f"{len(plan.blocked)} blocked; seats {plan.seats_before} → {plan.seats_after}; nothing applied."
        )
        if result.audit_path is not None:
            _print(f"Audit log: {result.audit_path}")
    else:
        _print("\n".join(_results_lines(result)))
    for line in result.problems:
        print(f"syncd: {line}", file=sys.stderr)
    return int(result.exit_code)


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args)
    _print(
        f"{config.file}: configuration is valid ({len(config.sources)} source(s), "
        f"{len(config.rules)} rule(s), target {config.target.type})"
    )
    if args.offline:
        return int(ExitCode.OK)
    from syncd.checks import check_online

    return check_online(config, _print)


def cmd_status(args: argparse.Namespace) -> int:
    from syncd.status import render_status

    config = _load(args)
    _print(render_status(config, args.format, utc_now()))
    return int(ExitCode.OK)


def cmd_audit(args: argparse.Namespace) -> int:
    from syncd import audit_query

    config = _load(args)
    user = None
    if args.user:
        user = normalise_email(args.user)
        if user is None:
            raise UsageError(f"--user {args.user!r} is not an e-mail address")
    wanted = audit_query.AuditFilter(
        user=user,
        actions=frozenset(args.action),
        outcome=args.outcome,
        run_id=args.run_id,
        since=utc_now() - args.since if args.since else None,
        changes_only=args.last,
    )
    found = list(audit_query.events(config.audit_dir, wanted))
    if args.last:
        found = found[-1:]
    _print(audit_query.render_jsonl(found) if args.format == "jsonl" else audit_query.render_table(found))
    return int(ExitCode.OK)


def cmd_daemon(args: argparse.Namespace) -> int:
    from syncd.daemon import run_daemon

    config = _load(args)
    _log_to_files(args, config)
    return run_daemon(config)


def cmd_idle(args: argparse.Namespace) -> int:
    from syncd.idle_output import idle_csv, idle_json, idle_lines

    config = _load(args)
    if config.reclaim is None:
        raise UsageError(f'{config.file}: idle: add a [reclaim] table (idle_for = "60d") to judge idle seats')
    result = Cycle(config).run(CycleRequest("plan", write=False, audit=False))
    plan = result.plan
    if args.format == "csv":
        sys.stdout.write(idle_csv(plan.idle))
    elif args.format == "json":
        sys.stdout.write(idle_json(plan.idle, plan.idle_summary))
    else:
        _print("\n".join([*idle_lines(plan.idle, plan.idle_summary, limit=len(plan.idle)), *plan.notes]))
    for line in result.problems:
        print(f"syncd: {line}", file=sys.stderr)
    return int(result.exit_code if result.exit_code is not ExitCode.GUARD else ExitCode.OK)


def cmd_grant(args: argparse.Namespace) -> int:
    from syncd.grant import grant

    _print(grant(_load(args), args.email, utc_now()))
    return int(ExitCode.OK)


def cmd_demo(args: argparse.Namespace) -> int:
    from syncd.demo import run_demo

    return run_demo(args.dir, _print)


COMMANDS = {
    "plan": cmd_plan,
    "apply": cmd_apply,
    "run": cmd_run,
    "check": cmd_check,
    "status": cmd_status,
    "audit": cmd_audit,
    "daemon": cmd_daemon,
    "demo": cmd_demo,
    "idle": cmd_idle,
    "grant": cmd_grant,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except UsageError as error:
        print(f"syncd: error: {error}", file=sys.stderr)
        return int(ExitCode.CONFIG)
    except SystemExit as done:  # --help, --version
        return int(done.code or 0) if isinstance(done.code, int) else 0
    configure(
        args.log_format,
        _verbosity(args),
        interactive=args.command in ("plan", "check", "status", "demo", "audit", "idle", "grant"),
    )
    try:
        return COMMANDS[args.command](args)
    except ConfigError as error:
        for line in error.lines:
            print(f"syncd: error: {line}", file=sys.stderr)
        return int(error.exit_code)
    except SyncdError as error:
        print(f"syncd: error: {error}", file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        print("syncd: interrupted; the next run completes anything left half done", file=sys.stderr)
        return int(exit_code_for(KeyboardInterrupt()))
    except Exception as error:
        log.debug("internal error", exc_info=True)
        print(
            f"syncd: internal error: {type(error).__name__}: {error} (a bug; rerun with -vv for details)",
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
