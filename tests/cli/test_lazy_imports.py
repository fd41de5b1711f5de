"""`syncd --help`, `--version` and a usage error answer without loading any command's wiring: each command
imports what it uses when it runs (the cycle, config, the HTTP stack, alerts), so importing the CLI stays
cheap (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys

from syncd import cli, plan_output

WIRING = ("syncd.cycle", "syncd.config", "syncd.outcome", "syncd.alerts.run", "syncd.http", "requests")


def test_importing_the_cli_loads_no_command_wiring() -> None:
    code = "import json, sys, syncd.cli; print(json.dumps(sorted(sys.modules)))"
    loaded = set(
        json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout)
    )
    assert [name for name in WIRING if name in loaded] == []


def test_the_plan_formats_offered_are_the_ones_plan_output_renders() -> None:
    assert cli.PLAN_FORMATS == plan_output.FORMATS
