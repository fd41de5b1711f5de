"""`syncd demo`: a self-contained tour. It starts the bundled 7pace and TrackingTime emulators on 127.0.0.1
with sample organisations, writes a config with both as `[[targets]]` reading one bundled membership export,
shows each target's plan with its cost block, applies both, shows the audit trail, plans again (nothing left
to do for either), and stops the emulators. No network, no real tenant.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from syncd import config as config_module
from syncd.cycle import CycleRequest, utc_now
from syncd.emulators.timetracker import TimetrackerEmulator, load_users
from syncd.emulators.trackingtime import TrackingTimeEmulator, TtUser
from syncd.errors import ExitCode
from syncd.models import Outcome
from syncd.multi_target import run_targets, total_line
from syncd.plan_output import render_table

DEMO_TOKEN = "demo-token-not-a-secret"
DEMO_TT_PASSWORD = "demo-app-password-not-a-secret"
DEMO_TT_ACCOUNT = 4711

# the TrackingTime account: its owner, a leaver still active (billed: archived by the run), a leaver archived
# long ago, and a member of the export who was archived (re-opened, not invited again)
_TT_USERS = (
    TtUser("owner@contoso.example", "ADMIN", owner=True, name="Account Owner"),
    TtUser("zoe.quinn@contoso.example", "CO_WORKER", name="Zoe Quinn"),
    TtUser("old.timer@contoso.example", "CO_WORKER", archived=True, name="Old Timer"),
    TtUser("bob.stone@contoso.example", "CO_WORKER", archived=True, name="Bob Stone"),
)

_CONFIG = """\
# Written by `syncd demo`. The same shape as a real config (see config.example.toml): two targets, one export.
[[targets]]
name = "7pace"
type = "timetracker"
url = "{url}"
token = {{ file = "token.txt" }}
allow_insecure_http = true      # the emulators listen on plain HTTP on 127.0.0.1; real tenants use https

[targets.pricing]
model = "7pace"
price_per_seat = 9.0
period = "month"
renewal = "{renewal}"
currency = "USD"
assignable = 15
plan = "Team"

[[targets]]
name = "trackingtime"
type = "trackingtime"
url = "{tt_url}"
account_id = {tt_account}
app_password = {{ file = "trackingtime.txt" }}
allow_insecure_http = true
requests_per_second = 0

[targets.roles]
order = ["ADMIN", "PROJECT_MANAGER", "CO_WORKER"]

[targets.pricing]
model = "per-active-user"       # USD 7 per active user a month, prorated on adding; archived users are free
price_per_seat = 7.0
period = "month"
renewal = "{renewal}"
currency = "USD"

[[sources]]
name = "hr"
type = "file"
path = "members.csv"

[[rules]]
source = "hr"
group = "Timetracker Admins"
role = "Administrator"
target = "7pace"

[[rules]]
source = "hr"
group = "Finance"
role = "Budget"
target = "7pace"

[[rules]]
source = "hr"
group = "Timetracker Users"
role = "Team"
target = "7pace"

[[rules]]
source = "hr"
group = "Timetracker Admins"
role = "ADMIN"
target = "trackingtime"

[[rules]]
source = "hr"
group = "Timetracker Users"
role = "CO_WORKER"
target = "trackingtime"

[roles]
order = ["Administrator", "Budget", "Product", "Team"]

[policy]
unmanaged = "remove"                 # the demo tenant has stale seats nobody's group explains
protected = ["owner@contoso.example"]
grace = "0s"                         # real configs wait (default 24h) before removing anyone
max_removal_percent = 50

[state]
dir = "state"                        # with several targets: one folder per target name, state/7pace and …

[audit]
dir = "logs"                         # one trail for both; every event names its target
"""


def _bundled(name: str) -> str:
    return resources.files("syncd.demo").joinpath(name).read_text(encoding="utf-8")


def run_demo(directory: Path | None, emit: Callable[[str], None]) -> int:
    """Run the tour in `directory` (default: a new temporary folder), which is kept so the config, state
    and audit log can be inspected afterwards."""
    workdir = directory or Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    code = _tour(workdir, emit)
    emit(f"The demo's config, state and audit log are in {workdir} (delete it when done).")
    return code


def _tour(workdir: Path, emit: Callable[[str], None]) -> int:
    (workdir / "members.csv").write_text(_bundled("members.csv"), encoding="utf-8")
    users_file = workdir / "licensed.csv"
    users_file.write_text(_bundled("licensed.csv"), encoding="utf-8")
    for name, value in (("token.txt", DEMO_TOKEN), ("trackingtime.txt", DEMO_TT_PASSWORD)):
        secret = workdir / name
        secret.write_text(value + "\n", encoding="utf-8")
        secret.chmod(0o600)

    emulator = TimetrackerEmulator(load_users(users_file), token=DEMO_TOKEN, assignable=15)
    tt = TrackingTimeEmulator(_TT_USERS, account_id=DEMO_TT_ACCOUNT, app_password=DEMO_TT_PASSWORD)
    with emulator, tt:
        today = datetime.now(UTC).date()
        renewal = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        config_path = workdir / "syncd.toml"
        config_path.write_text(
            _CONFIG.format(
                url=emulator.base_url,
                tt_url=tt.api_url,
                tt_account=DEMO_TT_ACCOUNT,
                renewal=renewal.isoformat(),
            ),
            encoding="utf-8",
        )
        config = config_module.load(config_path)
        names = config.target_names
        emit(f"syncd demo: a 7pace Timetracker emulator is listening on {emulator.base_url},")
        emit(f"  a TrackingTime emulator on {tt.api_url}")
        emit(f"  config {config_path} (two [[targets]]), one membership export {workdir / 'members.csv'}\n")

        emit("1. syncd plan — what a run would change in each target, why, and what it costs:\n")
        preview = CycleRequest("plan", write=False, audit=False)
        planned = run_targets(config, preview, names, clock=utc_now, alerts=False)
        for o in planned.outcomes:
            if o.result is not None:
                title = f"Target {o.name} ({o.type})"
                emit(render_table(o.result.plan, o.result.cost_lines, title=title))
        emit(total_line(planned, write=False) + "\n")

        emit("2. syncd apply — both plans, each applied in batches to its own target:\n")
        applied = run_targets(config, CycleRequest("apply", write=True, audit=True), names, clock=utc_now)
        for o in applied.outcomes:
            ok = sum(1 for r in o.result.results if r.outcome is Outcome.SUCCESS) if o.result else 0
            planned_here = len(o.result.plan.changes) if o.result else 0
            emit(f"  {o.name}: applied {ok} of {planned_here} change(s); exit code {int(o.exit_code)}")
        emit("  " + total_line(applied, write=True))
        emit(f"  seats now held: 7pace {emulator.seated}, TrackingTime {len(tt.roles_by_email())} active\n")

        audit_path = next((o.result.audit_path for o in applied.outcomes if o.result), None)
        emit(f"3. The audit trail ({audit_path}), one JSON object per change and per run, e.g.:\n")
        lines = audit_path.read_text(encoding="utf-8").splitlines() if audit_path else []
        sample = [json.loads(line) for line in lines]
        shown = (
            "@timestamp",
            "event.action",
            "event.outcome",
            "event.reason",
            "user.target.email",
            "user.target.roles",
            "user.changes.roles",
            "syncd.run.id",
            "syncd.target.name",
            "syncd.seats.before",
            "syncd.seats.after",
        )
        examples = [
            next(e for e in sample if e.get("event.action") == action and e.get("syncd.target.name") == name)
            for action, name in (("seat-assign", "7pace"), ("seat-unassign", "trackingtime"))
            if any(e.get("event.action") == action and e.get("syncd.target.name") == name for e in sample)
        ]
        for event in examples + sample[-1:]:
            emit("  " + json.dumps({k: event[k] for k in shown if k in event}, ensure_ascii=False))

        emit("\n4. syncd plan again — converged targets have nothing left to do:\n")
        again = run_targets(config, preview, names, clock=utc_now, alerts=False)
        for o in again.outcomes:
            if o.result is not None:
                emit(render_table(o.result.plan, title=f"Target {o.name} ({o.type})"))
        emit(total_line(again, write=False))
        emit(
            "Try it on your own data: copy config.example.toml, point [target] (or one [[targets]] entry "
            "per organisation or account) at your tenant, then run `syncd plan`."
        )
        pending = any(o.result is None or o.result.plan.changes for o in again.outcomes)
        if applied.exit_code is not ExitCode.OK or pending:
            return int(applied.exit_code) or int(ExitCode.INTERNAL)
        return int(ExitCode.OK)
