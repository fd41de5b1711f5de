"""`syncd demo`: a self-contained tour. It starts the bundled 7pace emulator on 127.0.0.1 with a sample
organisation, writes a config that reads the bundled membership export, shows the plan, applies it, shows the
audit trail, plans again (nothing left to do), and stops the emulator. No network, no real tenant.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from syncd import config as config_module
from syncd.cycle import Cycle, CycleRequest
from syncd.emulators.timetracker import TimetrackerEmulator, load_users
from syncd.errors import ExitCode
from syncd.models import Outcome
from syncd.plan_output import render_table

DEMO_TOKEN = "demo-token-not-a-secret"

_CONFIG = """\
# Written by `syncd demo`. The same shape as a real config (see config.example.toml).
[target]
type = "timetracker"
url = "{url}"
token = {{ file = "token.txt" }}
allow_insecure_http = true      # the emulator listens on plain HTTP on 127.0.0.1; real tenants use https

[[sources]]
name = "hr"
type = "file"
path = "members.csv"

[[rules]]
source = "hr"
group = "Timetracker Admins"
role = "Administrator"

[[rules]]
source = "hr"
group = "Finance"
role = "Budget"

[[rules]]
source = "hr"
group = "Timetracker Users"
role = "Team"

[roles]
order = ["Administrator", "Budget", "Product", "Team"]

[policy]
unmanaged = "remove"                 # the demo tenant has stale seats nobody's group explains
protected = ["owner@contoso.example"]
grace = "0s"                         # real configs wait (default 24h) before removing anyone
max_removal_percent = 50

[state]
dir = "state"

[audit]
dir = "logs"

[pricing]
model = "7pace"
price_per_seat = 9.0
period = "month"
renewal = "{renewal}"
currency = "USD"
assignable = 15
plan = "Team"
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
    token_file = workdir / "token.txt"
    token_file.write_text(DEMO_TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)

    emulator = TimetrackerEmulator(load_users(users_file), token=DEMO_TOKEN, assignable=15)
    with emulator:
        today = datetime.now(UTC).date()
        renewal = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        config_path = workdir / "syncd.toml"
        config_path.write_text(
            _CONFIG.format(url=emulator.base_url, renewal=renewal.isoformat()), encoding="utf-8"
        )
        config = config_module.load(config_path)
        emit(f"syncd demo: a 7pace Timetracker emulator is listening on {emulator.base_url}")
        emit(f"  config {config_path}, membership export {workdir / 'members.csv'}\n")

        emit("1. syncd plan — what a run would change, and why:\n")
        planned = Cycle(config).run(CycleRequest("plan", write=False, audit=False))
        emit(render_table(planned.plan, planned.cost_lines))

        emit("2. syncd apply — the same plan, applied in batches through POST users/roles:\n")
        applied = Cycle(config).run(CycleRequest("apply", write=True, audit=True))
        ok = sum(1 for r in applied.results if r.outcome is Outcome.SUCCESS)
        emit(f"  applied {ok} of {len(applied.plan.changes)} change(s); exit code {int(applied.exit_code)}")
        emit(f"  seats now held in the emulator: {emulator.seated}\n")

        emit(f"3. The audit trail ({applied.audit_path}), one JSON object per change and per run, e.g.:\n")
        lines = applied.audit_path.read_text(encoding="utf-8").splitlines() if applied.audit_path else []
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
            "syncd.seats.before",
            "syncd.seats.after",
        )
        first_assign = [e for e in sample if e.get("event.action") == "seat-assign"][:1]
        for event in first_assign + sample[-1:]:
            emit("  " + json.dumps({k: event[k] for k in shown if k in event}, ensure_ascii=False))

        emit("\n4. syncd plan again — a converged tenant has nothing left to do:\n")
        again = Cycle(config).run(CycleRequest("plan", write=False, audit=False))
        emit(render_table(again.plan))
        emit(
            "Try it on your own data: copy config.example.toml, point [target] at your tenant, "
            "then run `syncd plan`."
        )
        if applied.exit_code is not ExitCode.OK or again.plan.changes:
            return int(applied.exit_code) or int(ExitCode.INTERNAL)
        return int(ExitCode.OK)
