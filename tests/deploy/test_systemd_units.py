"""The shipped systemd units (deploy/systemd) and scripts/check-systemd."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from syncd.config_section import parse_duration

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
CHECK = Path(__file__).resolve().parents[2] / "scripts" / "check-systemd"


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (systemd allows a key more than once; configparser does not)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{name}: {line!r} before any [section]"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(name: str, section: str, key: str) -> str:
    values = unit(name)[section].get(key, [])
    assert len(values) == 1, f"{name} [{section}] {key}: expected one value, got {values}"
    return values[0]


def systemd_timespan(value: str) -> timedelta:
    """The forms used here: '45min', '5min', '30s', '1h'."""
    match = re.fullmatch(r"(\d+)\s*(min|m|s|h)", value)
    assert match, f"{value!r}: not a simple systemd time span"
    number, unit_name = int(match.group(1)), match.group(2)
    return timedelta(seconds=number * {"s": 1, "m": 60, "min": 60, "h": 3600}[unit_name])


def exec_start_args() -> list[str]:
    argv = shlex.split(one("syncd.service", "Service", "ExecStart"))
    if argv[0].endswith("/syncd"):
        return argv[1:]
    assert argv[1:3] == ["-m", "syncd"], argv
    return argv[3:]


def test_the_files_are_ascii() -> None:
    for name in ("syncd.service", "syncd.timer"):
        (UNITS / name).read_bytes().decode("ascii")


def test_the_service_is_a_oneshot_with_a_start_timeout_and_no_restart() -> None:
    assert one("syncd.service", "Service", "Type") == "oneshot"
    assert systemd_timespan(one("syncd.service", "Service", "TimeoutStartSec")) == timedelta(minutes=45)
    assert unit("syncd.service")["Service"].get("Restart", ["no"]) == ["no"]
    assert "network-online.target" in one("syncd.service", "Unit", "After")
    assert "network-online.target" in one("syncd.service", "Unit", "Wants")


def test_the_service_runs_as_a_dynamic_user_with_state_and_logs_directories() -> None:
    service = unit("syncd.service")["Service"]
    assert service.get("DynamicUser") == ["yes"] or service.get("User", [""])[0] not in ("", "root")
    assert service["StateDirectory"] == ["syncd"]
    assert service["LogsDirectory"] == ["syncd"]


def test_secrets_come_in_as_credentials() -> None:
    credentials = unit("syncd.service")["Service"]["LoadCredential"]
    assert credentials == ["timetracker-token:/etc/credstore/syncd.timetracker-token"]
    for credential in credentials:
        name, _, path = credential.partition(":")
        assert re.fullmatch(r"[\w.-]+", name) and path.startswith("/")


HARDENING = {
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
}


@pytest.mark.parametrize(("key", "value"), sorted(HARDENING.items()))
def test_the_service_sets_the_hardening_option(key: str, value: str) -> None:
    assert one("syncd.service", "Service", key) == value


def test_the_service_allows_only_the_system_service_calls() -> None:
    filters = unit("syncd.service")["Service"]["SystemCallFilter"]
    assert filters[0] == "@system-service"
    assert all(f.startswith("~") for f in filters[1:])


def test_the_timer_is_hourly_persistent_and_spread() -> None:
    timer = unit("syncd.timer")
    assert one("syncd.timer", "Timer", "OnCalendar") == "hourly"
    assert one("syncd.timer", "Timer", "Persistent") == "true"
    assert systemd_timespan(one("syncd.timer", "Timer", "RandomizedDelaySec")) == timedelta(minutes=5)
    assert one("syncd.timer", "Timer", "Unit") == "syncd.service"
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_the_exec_start_names_the_etc_config_and_a_deadline_before_the_timeout() -> None:
    args = exec_start_args()
    assert args == ["run", "--config", "/etc/syncd/syncd.toml", "--max-runtime", "40m"]
    max_runtime = parse_duration(args[args.index("--max-runtime") + 1])
    timeout = systemd_timespan(one("syncd.service", "Service", "TimeoutStartSec"))
    assert max_runtime is not None and max_runtime + timedelta(minutes=5) <= timeout


def test_the_exec_start_parses_with_syncds_own_cli(parse_cli: Callable[[list[str]], object]) -> None:
    namespace = parse_cli(exec_start_args())
    assert "/etc/syncd/syncd.toml" in {str(value) for value in vars(namespace).values()}


# -- scripts/check-systemd -------------------------------------------------------------------------------

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (Debian: apt-get install systemd)",
)


def run_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(CHECK), *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@needs_systemd_analyze
def test_check_systemd_passes_the_shipped_units_and_reports_the_score() -> None:
    done = run_check()
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "check-systemd: systemd-analyze verify: syncd.service and syncd.timer OK" in done.stdout
    score = re.search(r"Overall exposure level for syncd\.service: (\d+\.\d) OK", done.stdout)
    assert score is not None, done.stdout
    assert float(score.group(1)) <= 1.5


@needs_systemd_analyze
def test_check_systemd_fails_on_a_misspelt_key_although_verify_exits_0(tmp_path: Path) -> None:
    for name in ("syncd.service", "syncd.timer"):
        shutil.copy(UNITS / name, tmp_path / name)
    service = tmp_path / "syncd.service"
    service.write_text(service.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    done = run_check(str(tmp_path))
    assert done.returncode == 1
    assert "systemd-analyze verify failed (exit 0; any output counts as failure)" in done.stderr
    assert "Unknown key 'ProtectSystm' in section [Service], ignoring." in done.stderr


@needs_systemd_analyze
def test_check_systemd_fails_when_the_exposure_is_above_the_threshold(tmp_path: Path) -> None:
    for name in ("syncd.service", "syncd.timer"):
        shutil.copy(UNITS / name, tmp_path / name)
    service = tmp_path / "syncd.service"
    weakened = re.sub(
        r"^(Protect\w+|Private\w+|Restrict\w+|SystemCall\w+)=.*\n", "", service.read_text(), flags=re.M
    )
    service.write_text(weakened)
    done = run_check(str(tmp_path))
    assert done.returncode == 1
    assert "exposure above the threshold of 15 tenths" in done.stderr


def test_check_systemd_skips_without_systemd_analyze_unless_required(tmp_path: Path) -> None:
    bare = {"PATH": str(tmp_path)}  # an empty PATH: no systemd-analyze (nor anything else)
    skipped = run_check(env=bare)
    assert (skipped.returncode, skipped.stdout) == (
        0,
        "check-systemd: systemd-analyze not found (Debian/Ubuntu: apt-get install systemd); skipped\n",
    )
    required = run_check(env={**bare, "SYNCD_REQUIRE_SYSTEMD": "1"})
    assert required.returncode == 1
    assert required.stderr == (
        "check-systemd: systemd-analyze not found (Debian/Ubuntu: apt-get install systemd); "
        "SYNCD_REQUIRE_SYSTEMD=1, so this is a failure\n"
    )
    assert os.access(CHECK, os.X_OK)
