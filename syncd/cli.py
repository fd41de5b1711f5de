"""The `syncd` command. `main(argv) -> int` never raises: every outcome is one of the documented exit codes,
and every expected error is one line on stderr naming what to fix.

Each command imports its own wiring when it runs (the cycle, config, alerts, the HTTP stack): `syncd --help`,
`--version` and a usage error load none of it, and a command loads only what it uses."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from syncd import __version__
from syncd.errors import ConfigError, ExitCode, SyncdError, UsageError

if TYPE_CHECKING:
    from syncd.config import Config
    from syncd.cycle import CycleRequest, CycleResult

# what syncd.plan_output renders (its FORMATS, not imported: it loads the models; a test keeps them equal)
PLAN_FORMATS = ("table", "json", "csv")

EXIT_CODE_TABLE: tuple[tuple[ExitCode, str], ...] = (
    (
        ExitCode.OK,
        "success: changes applied, or nothing to do (holds by grace and assignments blocked by the seat "
        "cap are the policy working)",
    ),
    (ExitCode.INTERNAL, "unexpected internal error (a bug: please report it with the diagnostics)"),
    (ExitCode.CONFIG, "usage or configuration error (the message names the file and key)"),
    (ExitCode.GUARD, "a safety guard stopped the run, or a reviewed plan was refused; nothing applied"),
    (
        ExitCode.PARTIAL,
        "partial: work was held because a group was missing, partial or suspicious, or some changes "
        "failed or were not applied (see `syncd status` and the audit log)",
    ),
    (
        ExitCode.UNREACHABLE,
        "a source (or one used to expand another's groups) or the target could not be reached or refused "
        "the credentials (what the healthy groups allow was applied, nothing if it was the target), or a "
        "local folder (state, audit) is read-only or full",
    ),
    (ExitCode.LOCKED, "another run holds the lock; nothing done"),
    (ExitCode.CHANGES_PENDING, "plan --detailed-exitcode only: changes are pending"),
)


ACCEPT_CLOCK_HELP = (
    "trust this run's clock although it reads earlier than the last run's start, or far after it"
)
LOG_FORMAT_HELP = "diagnostics as JSON lines or console text (default: console on a terminal, JSON otherwise)"


def exit_code_for(error: BaseException) -> ExitCode:
    """The one mapping from failures to exit codes (each SyncdError class carries its documented code)."""
    if isinstance(error, SyncdError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.PARTIAL
    return ExitCode.INTERNAL


def utc_now() -> datetime:
    """The wall clock every command reads (one place, so tests can set it)."""
    return datetime.now(UTC)


def configure(log_format: str | None, verbosity: int, *, interactive: bool) -> None:
    """Diagnostics set-up (syncd.diagnostics, imported on first use: it loads structlog)."""
    from syncd.diagnostics import configure as set_up

    set_up(log_format, verbosity, interactive=interactive)


def _duration(text: str) -> timedelta:
    from syncd.config_section import parse_duration

    parsed = parse_duration(text)
    if parsed is None or parsed <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as '45m', '2h' or '90s'")
    return parsed


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    diagnostics = _Parser(add_help=False)
    # SUPPRESS: options given before the command are not overwritten by the sub-parser's defaults
    diagnostics.add_argument(
        "--log-format", choices=("json", "console"), default=argparse.SUPPRESS, help=LOG_FORMAT_HELP
    )
    diagnostics.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more diagnostics (repeatable)"
    )
    diagnostics.add_argument(
        "-q", "--quiet", action="count", default=argparse.SUPPRESS, help="fewer diagnostics (repeatable)"
    )
    common = _Parser(add_help=False, parents=[diagnostics])
    common.add_argument(
        "-c",
        "--config",
        default=argparse.SUPPRESS,
        help="config file (default: $SYNCD_CONFIG, then ./syncd.toml)",
    )
    common.add_argument(
        "--target",
        metavar="NAME",
        default=argparse.SUPPRESS,  # like -c: `state --target X rebind` keeps X
        help="only this [[targets]] entry (default: every target of the config)",
    )

    parser = _Parser(
        prog="syncd",
        description="Keeps 7pace Timetracker seats in step with directory groups.",
        epilog="exit codes:\n"
        + "\n".join(f"  {int(c):>2} (0x{int(c):X})  {text}" for c, text in EXIT_CODE_TABLE),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    parser.set_defaults(target=None)
    parser.add_argument("-c", "--config", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log-format", choices=("json", "console"), default=None, help=LOG_FORMAT_HELP)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more diagnostics (repeatable)")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="fewer diagnostics")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True

    class _Commands:
        """`--help` of each command opens with the same one line as its entry in `syncd --help`."""

        @staticmethod
        def add_parser(name: str, *, help: str, parents: list[_Parser]) -> Any:  # noqa: A002
            return subparsers.add_parser(name, parents=parents, help=help, description=help)

    commands = _Commands()

    plan = commands.add_parser("plan", parents=[common], help="show what a run would change; never writes")
    plan.add_argument("--format", choices=PLAN_FORMATS, default="table", help="table (default), json or csv")
    plan.add_argument("--out", type=Path, help="also save the plan (JSON) for review and `apply --plan`")
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 10 when changes are pending")

    apply = commands.add_parser(
        "apply", parents=[common], help="compute and apply now, or apply a reviewed plan"
    )
    apply.add_argument("--plan", type=Path, dest="plan_file", help="apply exactly this reviewed plan")
    apply.add_argument(
        "--override-guards", action="store_true", help="with --plan only: apply it although a guard trips"
    )
    apply.add_argument("--accept-clock", action="store_true", help=ACCEPT_CLOCK_HELP)

    run = commands.add_parser("run", parents=[common], help="one unattended cycle (what the scheduler calls)")
    run.add_argument("--dry-run", action="store_true", help="plan and audit, but change nothing")
    run.add_argument(
        "--max-runtime", type=_duration, help="stop starting new batches after this long, e.g. 45m"
    )
    run.add_argument("--accept-clock", action="store_true", help=ACCEPT_CLOCK_HELP)

    commands.add_parser("daemon", parents=[common], help="run on the [schedule] until SIGTERM or Ctrl-C")
    check = commands.add_parser("check", parents=[common], help="validate the config (and reach every peer)")
    check.add_argument("--offline", action="store_true", help="only validate the file; contact nothing")
    check.add_argument(
        "--probe", action="store_true", help="report what the 7pace server speaks (read-only contract probe)"
    )
    check.add_argument("--format", choices=("table", "json"), default="table", help="--probe report format")
    check.add_argument(
        "--probe-write",
        metavar="EMAIL",
        help="with --probe: send EMAIL's current role again (a write that changes nothing)",
    )
    status = commands.add_parser("status", parents=[common], help="last runs, held groups, pending removals")
    status.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    status.add_argument(
        "--check-stale",
        action="store_true",
        help="for monitoring: one line, exit 4 when no run has completed for [schedule] stale_after",
    )
    status.add_argument("--user", help="one person, by any identifier: address, UPN, old address, 7pace id")
    status.add_argument(
        "--live", action="store_true", help="with --user: read sources and 7pace to match now"
    )
    alerts = commands.add_parser(
        "alerts", parents=[common], help="the [[alerts]] channels: `syncd alerts test` sends a test message"
    )
    alerts.add_argument("action", choices=("test",), help="test: send one test message to every channel")
    audit = commands.add_parser(
        "audit", parents=[common], help="search the audit trail (who, what, when, why)"
    )
    audit.add_argument("--user", help="one person, by any identifier (address, UPN, old address, 7pace id)")
    audit.add_argument(
        "--action", action="append", default=[], help="seat-assign, role-change, seat-unassign, …"
    )
    audit.add_argument("--outcome", choices=("success", "failure", "unknown"), help="only this outcome")
    audit.add_argument("--run", dest="run_id", help="a run id (a prefix is enough)")
    audit.add_argument("--since", type=_duration, help="only events this recent, e.g. 7d, 12h")
    audit.add_argument(
        "--last", action="store_true", help="only the latest matching change (why does X have a seat?)"
    )
    audit.add_argument(
        "--format",
        choices=("table", "jsonl"),
        default="table",
        help="table (default) or jsonl (one event a line)",
    )
    state = commands.add_parser("state", parents=[common], help="repair the state database")
    state_commands = state.add_subparsers(
        dest="state_command", metavar="STATE_COMMAND", parser_class=_Parser, help="rebuild | rebind"
    )
    state_commands.required = True
    rebuild = state_commands.add_parser(
        "rebuild", parents=[common], help="rebuild a damaged state's ownership ledger (keeps the old file)"
    )
    rebuild.add_argument(
        "--from-audit", action="store_true", required=True, help="replay the audit trail ([audit] dir)"
    )
    rebuild.add_argument("--force", action="store_true", help="rebuild even a state that is not damaged")
    state_commands.add_parser(
        "rebind", parents=[common], help="bind the state to the config's target (after the target moved)"
    )
    idle = commands.add_parser(
        "idle", parents=[common], help="list the idle seats (no time tracked) for review; never writes"
    )
    idle.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv (one row a seat, for review) or json",
    )
    grant = commands.add_parser("grant", parents=[common], help="give a reclaimed seat back (audited)")
    grant.add_argument("email", help="the person's e-mail address")
    demo = commands.add_parser(  # no -c: the demo writes its own config
        "demo", parents=[diagnostics], help="a self-contained tour against the bundled emulator"
    )
    demo.add_argument("--dir", type=Path, help="where to keep the demo's files (default: a temporary folder)")
    _add_init(commands.add_parser("init", parents=[diagnostics], help=INIT_HELP))
    secret = commands.add_parser(
        "secret", parents=[common], help="store a secret in a file and print its { file = … } reference"
    )
    secret.add_argument("action", choices=("set",), help="set: read the value (not shown) and write the file")
    secret.add_argument("name", help="e.g. timetracker-token: written as NAME.txt")
    secret.add_argument("--dir", type=Path, help="folder (default: `secrets` beside the config file)")
    secret.add_argument("--account", help="Windows: the account that may read it (default: as the folder)")
    return parser


INIT_HELP = "write a commented starter config from a few answers (or flags), then check it offline"


def _add_init(init: argparse.ArgumentParser) -> None:
    from syncd.init import COMMON, PER_SOURCE, RULE

    init.add_argument(
        "--out", type=Path, default=Path("syncd.toml"), help="where to write (default: syncd.toml)"
    )
    init.add_argument("--force", action="store_true", help="replace an existing file")
    seen: set[str] = set()
    for question in (*COMMON, *(q for qs in PER_SOURCE.values() for q in qs), *RULE):
        if question.key not in seen:
            seen.add(question.key)
            flag = "--" + question.key.replace("_", "-")
            init.add_argument(flag, dest=question.key, help=f"{question.prompt} (e.g. {question.default})")


def _print(text: str, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()


def _load(args: argparse.Namespace, *, secrets: bool = True) -> Config:
    from syncd import config as config_module

    config = config_module.load(config_module.locate(args.config), secrets=secrets)
    args.loaded_config = config  # for outcome.record: where the audit and diagnostic logs are
    if config.notes and args.command != "check":  # `check` prints them with its verdict
        import structlog

        for note in config.notes:
            structlog.get_logger("syncd.config").warning(f"{config.file}: {note}")
    return config


def _verbosity(args: argparse.Namespace) -> int:
    return (args.verbose or 0) - (args.quiet or 0)


def _log_to_files(args: argparse.Namespace, config: Config) -> None:
    """Unattended commands also keep dated diagnostic files beside the audit log, pruned like it."""
    import structlog

    from syncd import outcome
    from syncd.diagnostics import add_log_file, prune_log_files

    try:
        prune_log_files(config.audit_dir, config.audit_retention_days, utc_now().date())
        add_log_file(
            args.log_format, _verbosity(args), config.audit_dir, fallback=outcome.beside_config(config.file)
        )
    except OSError as error:
        structlog.get_logger("syncd.cli").warning(
            "diagnostic log file not available", dir=str(config.audit_dir), error=error.strerror
        )


def _results_lines(result: CycleResult) -> list[str]:
    from syncd.models import Outcome

    ok = sum(1 for r in result.results if r.outcome is Outcome.SUCCESS)
    failed = [r for r in result.results if r.outcome is not Outcome.SUCCESS]
    lines = [
        f"Applied {ok} of {len(result.plan.changes)} change(s); {len(failed)} failed; "
        f"{result.not_applied} not applied; {len(result.plan.held)} held; "
        f"seats {result.plan.seats_before} → {result.seats_after}."
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


def _stoppable(config: Config, request: CycleRequest) -> CycleResult:
    """A cycle that SIGTERM/SIGINT stop between batches, with outcomes and a summary written (exit 4)."""
    import threading

    from syncd.cycle import Cycle
    from syncd.stopping import stop_on_signals

    stop = threading.Event()
    with stop_on_signals(stop):
        return Cycle(config, stop=stop, clock=utc_now).run(request)


def _several(args: argparse.Namespace, config: Config) -> bool:
    """Whether the command goes through syncd/multi_cli.py (issue 19). A single-target config never does;
    `--target` is still checked against its one name."""
    if len(config.targets) > 1:
        return True
    from syncd.multi_target import selected

    selected(config, args.target)
    return False


def _one_target(args: argparse.Namespace, config: Config, command: str) -> Config:
    from syncd.multi_cli import single_view

    view = single_view(config, args.target, command)
    args.loaded_config = view
    return view


def cmd_plan(args: argparse.Namespace) -> int:
    from syncd import plan_file
    from syncd.cycle import Cycle, CycleRequest
    from syncd.plan_output import render_csv, render_json, render_table

    config = _load(args)
    if _several(args, config):
        from syncd import multi_cli

        return multi_cli.plan(args, config, _print)
    result = Cycle(config, clock=utc_now).run(CycleRequest("plan", write=False, audit=False))
    saved = result.saved(config)
    key = config.plan_signing_key.resolve() if config.plan_signing_key is not None else None
    if args.out is not None:
        plan_file.save(args.out, saved, key)
    if args.format == "json":
        _print(render_json(saved, key))
    elif args.format == "csv":
        sys.stdout.write(render_csv(result.plan))
    else:
        _print(render_table(result.plan, result.cost_lines, title=f"Plan for {config.file}"))
        if args.out is not None:
            _print(f"Plan saved to {args.out}; apply it with: syncd apply -c {config.file} --plan {args.out}")
    for line in result.problems:
        print(f"syncd: {line}", file=sys.stderr)
    if result.guard is not None:
        if args.out is not None:
            how = f"apply the plan saved in {args.out} with `syncd apply -c {config.file} --plan {args.out} "
            how += "--override-guards`"
        else:
            how = (
                f"save it with `syncd plan -c {config.file} --out PLAN.json`, then apply that file with "
                f"`syncd apply -c {config.file} --plan PLAN.json --override-guards`"
            )
        print(f"syncd: a run would stop here (exit 3): {result.guard}; after review, {how}", file=sys.stderr)
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
    from syncd import plan_file
    from syncd.alerts.run import run_with_alerts
    from syncd.cycle import CycleRequest
    from syncd.plan_output import render_table

    config = _load(args)
    _log_to_files(args, config)
    if _several(args, config):
        from syncd import multi_cli

        return multi_cli.apply(args, config, _print, utc_now())
    key = config.plan_signing_key.resolve() if config.plan_signing_key is not None else None
    if args.plan_file is not None:
        from syncd.plan_set import is_plan_set

        if is_plan_set(args.plan_file):
            from syncd.errors import PlanRefused

            raise PlanRefused(
                f"{args.plan_file}: plan was made for a config with several targets, and this config has "
                "one; nothing applied; make a new one with `syncd plan --out FILE`"
            )
    reviewed = plan_file.load(args.plan_file, utc_now(), key) if args.plan_file is not None else None
    request = CycleRequest(
        "apply",
        write=True,
        audit=True,
        reviewed=reviewed,
        reviewed_path=args.plan_file,
        override_guards=args.override_guards,
        accept_clock=args.accept_clock,
    )
    result = run_with_alerts(config, lambda: _stoppable(config, request), utc_now)
    _print(render_table(result.plan, result.cost_lines, title=f"Plan for {config.file}"))
    _print("\n".join(_results_lines(result)))
    for line in result.problems:
        print(f"syncd: {line}", file=sys.stderr)
    return int(result.exit_code)


def cmd_run(args: argparse.Namespace) -> int:
    from syncd.alerts.run import run_with_alerts
    from syncd.cycle import CycleRequest

    config = _load(args)
    _log_to_files(args, config)
    if _several(args, config):
        from syncd import multi_cli

        return multi_cli.run(args, config, _print)
    dry = args.dry_run or config.dry_run
    request = CycleRequest(
        "run", write=not dry, audit=True, max_runtime=args.max_runtime, accept_clock=args.accept_clock
    )
    result = run_with_alerts(config, lambda: _stoppable(config, request), utc_now)
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
    config = _load(args, secrets=not args.offline)
    if args.probe or args.probe_write:
        config = _one_target(args, config, "check --probe")
    elif _several(args, config) and not args.offline:
        from syncd.checks import check_online
        from syncd.multi_cli import check

        _print(
            f"{config.file}: configuration is valid ({len(config.sources)} source(s), "
            f"{len(config.rules)} rule(s), {len(config.targets)} targets)"
        )
        _print_notes(config)
        return check(config, args.target, _print, check_online)
    if args.format == "json" and (args.probe or args.probe_write):
        from syncd.checks import probe_target

        return probe_target(config, _print, fmt="json", write_email=args.probe_write)
    _print(
        f"{config.file}: configuration is valid ({len(config.sources)} source(s), "
        f"{len(config.rules)} rule(s), "
        + (
            f"targets {', '.join(f'{t.name} ({t.settings.type})' for t in config.targets)})"
            if len(config.targets) > 1
            else f"target {config.target.type})"
        )
    )
    _print_notes(config)
    if args.offline:
        # the secrets may live only on the server that runs syncd: say what is missing here, as a note
        try:
            _load(args)
        except ConfigError as error:
            for line in error.lines:
                _print(f"note (not needed offline): {line}")
        return int(ExitCode.OK)
    if args.probe or args.probe_write:
        from syncd.checks import probe_target

        return probe_target(config, _print, fmt=args.format, write_email=args.probe_write)
    from syncd.checks import check_online

    return check_online(config, _print)


def _print_notes(config: Config) -> None:
    """What is valid but does not do what it seems to (a `[pricing]` that prices no target), one line each."""
    for note in config.notes:
        _print(f"note: {config.file}: {note}")


def cmd_status(args: argparse.Namespace) -> int:
    from syncd.status import render_status

    if args.live and not args.user:
        raise UsageError("--live shows one person: give --user NAME as well")
    config = _load(args, secrets=args.live)  # --live reads the sources and 7pace
    several = len(config.targets) > 1
    if several and not args.user and not args.check_stale:
        from syncd.multi_cli import status
        from syncd.multi_target import stray_state_line

        _print(status(config, args.target, args.format, utc_now()))
        stray = stray_state_line(config, ())  # a ledger beside "No runs recorded yet" must not go unmentioned
        if stray is not None:
            print(f"syncd: {stray}", file=sys.stderr)
        return int(ExitCode.OK)
    if several and args.check_stale and not args.user and args.target is None:
        return _stale_every_target(config)
    config = _one_target(args, config, "status --user" if args.user else "status")
    if args.user:
        from syncd.person_status import render_person

        _print(render_person(config, args.user, args.format, live=args.live))
        return int(ExitCode.OK)
    if args.check_stale:
        from syncd.alerts.conditions import stale
        from syncd.alerts.notifier import last_completed

        last = last_completed(config.state_dir)
        found = stale(last, utc_now(), config.schedule.stale_after, str(config.file))
        if found is not None:
            _print(f"STALE: {found.title}")
            return int(ExitCode.PARTIAL)
        when = f"last completed run {last:%Y-%m-%d %H:%M} UTC" if last else "no run completed yet"
        _print(f"OK: {when}; stale after {config.schedule.stale_after}")
        return int(ExitCode.OK)
    _print(render_status(config, args.format, utc_now()))
    return int(ExitCode.OK)


def _stale_every_target(config: Config) -> int:
    from syncd.alerts.conditions import stale
    from syncd.alerts.notifier import last_completed
    from syncd.config import for_target

    code = ExitCode.OK
    for named in config.targets:
        view = for_target(config, named.name)
        last = last_completed(view.state_dir)
        found = stale(last, utc_now(), config.schedule.stale_after, str(config.file))
        if found is not None:
            _print(f"STALE: target {named.name}: {found.title}")
            code = ExitCode.PARTIAL
        else:
            when = f"last completed run {last:%Y-%m-%d %H:%M} UTC" if last else "no run completed yet"
            _print(f"OK: target {named.name}: {when}; stale after {config.schedule.stale_after}")
    return int(code)


def cmd_audit(args: argparse.Namespace) -> int:
    from syncd import audit_query

    config = _load(args, secrets=False)
    user, also = None, frozenset[str]()
    if args.user:
        from syncd.config import for_target
        from syncd.person_status import resolve

        names: set[str] = set()
        for view in [for_target(config, t.name) for t in config.targets] or [config]:
            names |= resolve(view, args.user).names  # any identifier, and the person's names before renames
        user, also = args.user, frozenset(names)
    wanted = audit_query.AuditFilter(
        user=user,
        also=also,
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


def cmd_state(args: argparse.Namespace) -> int:
    from syncd.state_location import describe
    from syncd.state_rebuild import rebind, rebuild_from_audit

    config = _one_target(args, _load(args), "state")
    if args.state_command == "rebind":
        old = rebind(config)
        _print(f"{config.state_dir} now belongs to the target in {config.file} (was: {describe(old)})")
        return int(ExitCode.OK)
    done = rebuild_from_audit(config, utc_now(), force=args.force)
    kept = ", ".join(str(p) for p in done.kept) or "none (there was no state file)"
    _print(
        f"Rebuilt {config.state_dir}: {done.owned} seat(s) owned, {done.groups} group baseline(s), from "
        f"{done.events} change event(s) in {config.audit_dir}. Damaged files kept: {kept}. Grace clocks "
        "restart from the next run."
    )
    return int(ExitCode.OK)


def cmd_daemon(args: argparse.Namespace) -> int:
    from syncd.daemon import run_daemon

    config = _load(args)
    _log_to_files(args, config)
    return run_daemon(config)


def cmd_idle(args: argparse.Namespace) -> int:
    from syncd.cycle import Cycle, CycleRequest
    from syncd.idle_output import idle_csv, idle_json, idle_lines

    config = _one_target(args, _load(args), "idle")
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

    _print(grant(_one_target(args, _load(args), "grant"), args.email, utc_now()))
    return int(ExitCode.OK)


def cmd_alerts(args: argparse.Namespace) -> int:
    from syncd.alerts.notifier import Notifier

    config = _load(args)
    if not config.alerts:
        raise UsageError(f"{config.file}: no [[alerts]] configured; see config.example.toml")
    deliveries = Notifier(config, utc_now).test()
    for d in deliveries:
        _print(f"{d.channel}: {'not sent: ' + d.error if d.error else 'sent'}")
    return int(ExitCode.UNREACHABLE if any(d.error for d in deliveries) else ExitCode.OK)


def cmd_init(args: argparse.Namespace) -> int:
    from syncd import config as config_module
    from syncd import init

    def ask(question: init.Question) -> str:
        return input(f"{question.prompt} [{question.default}]: ")

    given = {key: value for key, value in vars(args).items() if isinstance(value, str)}
    answers = init.answers(given, ask if sys.stdin.isatty() else None)
    init.write_starter(args.out, init.render(answers), force=args.force)
    _print(f"Wrote {args.out} (no secret in it: store them where its references point).")
    # what `syncd check --offline` says about the new file: an export not there yet is exit 2 like any check
    try:
        config_module.load(args.out, secrets=False)
    except ConfigError as error:
        _print("check --offline found what is left to do before the first run:")
        for line in error.lines:
            _print(f"  {line}")
        return int(error.exit_code)
    _print(f"check --offline: {args.out} is valid")
    try:
        config_module.load(args.out)
    except ConfigError as error:
        for line in error.lines:
            _print(f"to do (not needed offline): {line}")
    _print(f"Next: syncd check -c {args.out}, then syncd plan -c {args.out}")
    return int(ExitCode.OK)


def cmd_demo(args: argparse.Namespace) -> int:
    from syncd.demo import run_demo

    return run_demo(args.dir, _print)


def cmd_secret(args: argparse.Namespace) -> int:
    import getpass

    from syncd import config as config_module
    from syncd.secret_store import reference, write_secret

    directory = args.dir or config_module.locate(args.config).absolute().parent / "secrets"
    if sys.stdin.isatty():
        value = getpass.getpass(f"Value of {args.name} (not shown): ")
    else:
        value = sys.stdin.readline()
    path = write_secret(directory, args.name, value, account=args.account)
    _print(f"Wrote {path} (UTF-8, readable only by its owner or the task account). In the config:")
    _print(f"  {reference(path)}")
    return int(ExitCode.OK)


COMMANDS = {
    "plan": cmd_plan,
    "apply": cmd_apply,
    "run": cmd_run,
    "check": cmd_check,
    "status": cmd_status,
    "audit": cmd_audit,
    "daemon": cmd_daemon,
    "state": cmd_state,
    "demo": cmd_demo,
    "idle": cmd_idle,
    "grant": cmd_grant,
    "alerts": cmd_alerts,
    "init": cmd_init,
    "secret": cmd_secret,
}


def _quiet_stdout() -> None:
    """The reader closed the pipe (`syncd demo | head -1`): not an error. Point stdout at devnull so the
    interpreter's final flush does not complain either (the recipe in Python's `signal` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured in tests): nothing will flush to the pipe
        pass


def _ended(
    args: argparse.Namespace, code: int, lines: Sequence[str], error: BaseException | None = None
) -> int:
    """Unattended commands also leave a non-zero ending on disk (Task Scheduler discards stderr)."""
    if code == ExitCode.OK:
        return int(code)
    from syncd import config as config_module
    from syncd import outcome

    if args.command in outcome.UNATTENDED:
        ending = outcome.Ending(
            args.command, int(code), outcome.lines_of(lines), error, bool(getattr(args, "dry_run", False))
        )
        outcome.record(ending, getattr(args, "loaded_config", None), config_module.locate(args.config))
    return int(code)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except UsageError as error:
        print(f"syncd: error: {error}", file=sys.stderr)
        return int(ExitCode.CONFIG)
    except SystemExit as done:  # --help, --version
        return int(done.code or 0) if isinstance(done.code, int) else 0
    try:
        # inside the handlers: a logging set-up that fails (e.g. colour on a console) is one line and an exit
        # code too, never a traceback that stops install.ps1
        try:
            configure(
                args.log_format,
                _verbosity(args),
                interactive=args.command
                in (
                    "plan",
                    "check",
                    "status",
                    "demo",
                    "audit",
                    "secret",
                    "init",
                    "alerts",
                    "state",
                    "idle",
                    "grant",
                ),
            )
        except Exception:
            from syncd.diagnostics import configure_fallback

            configure_fallback()  # reporting this must not log to stdout via structlog's defaults
            raise
        code = COMMANDS[args.command](args)
        # several targets: the multi-target command left a line per target that failed (target, code, cause)
        ending = getattr(args, "ending_lines", None) or ["the audit log has this run's records"]
        return _ended(args, code, ending)
    except BrokenPipeError:
        _quiet_stdout()
        return int(ExitCode.OK)
    except ConfigError as error:
        for line in error.lines:
            print(f"syncd: error: {line}", file=sys.stderr)
        return _ended(args, error.exit_code, error.lines, error)
    except SyncdError as error:
        print(f"syncd: error: {error}", file=sys.stderr)
        return _ended(args, error.exit_code, [str(error)], error)
    except KeyboardInterrupt as error:
        print("syncd: interrupted; the next run completes anything left half done", file=sys.stderr)
        return _ended(args, exit_code_for(error), ["interrupted"], error)
    except Exception as error:
        if isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS:
            # a write the specific handlers did not name (a plan file, a log folder): the operator's to fix
            where = error.filename or "a local file"
            print(f"syncd: error: {where} cannot be written: {error.strerror}", file=sys.stderr)
            return int(ExitCode.UNREACHABLE)
        import structlog

        log = structlog.get_logger("syncd.cli")
        log.debug("internal error", exc_info=True)
        print(
            f"syncd: internal error: {type(error).__name__}: {error} (a bug; rerun with -vv for details)",
            file=sys.stderr,
        )
        return _ended(args, ExitCode.INTERNAL, [f"internal error: {type(error).__name__}: {error}"], error)


_STORAGE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("EROFS", "ENOSPC", "EDQUOT", "EACCES", "EPERM", "EIO")
    if hasattr(errno, name)
)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
