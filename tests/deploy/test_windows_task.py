"""The shipped Task Scheduler XML, install scripts and admin README (deploy/windows-task)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from syncd.config_section import parse_duration
from syncd.errors import ExitCode

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
TASK = Path(__file__).resolve().parents[2] / "deploy" / "windows-task"


def task() -> ET.Element:
    return ET.parse(TASK / "syncd-task.xml").getroot()


def text(path: str) -> str:
    node = task().find(path, NS)
    assert node is not None, f"{path} is missing from syncd-task.xml"
    return (node.text or "").strip()


def iso_duration(value: str) -> timedelta:
    """The subset of ISO 8601 durations Task Scheduler uses: PnDTnHnMnS."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value)
    assert match and value not in ("P", "PT"), f"{value!r} is not an ISO 8601 duration"
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def split_windows_command_line(line: str) -> list[str]:
    """Split Arguments the way the Microsoft C runtime builds argv (what python.exe sees): backslashes are
    literal unless they precede a double quote. See "Parsing C command-line arguments" on learn.microsoft.com."""
    args: list[str] = []
    current: list[str] = []
    in_quotes = in_token = False
    backslashes = 0
    for char in line:
        if char == "\\":
            backslashes += 1
            continue
        if char == '"':
            current.append("\\" * (backslashes // 2))
            if backslashes % 2:
                current.append('"')
            else:
                in_quotes = not in_quotes
            backslashes, in_token = 0, True
            continue
        current.append("\\" * backslashes)
        backslashes = 0
        if char in " \t" and not in_quotes:
            if in_token:
                args.append("".join(current))
            current, in_token = [], False
        else:
            current.append(char)
            in_token = True
    current.append("\\" * backslashes)
    if in_token or backslashes:
        args.append("".join(current))
    return args


def test_the_windows_command_line_splitter_follows_the_c_runtime_rules() -> None:
    assert split_windows_command_line(r'-m syncd -c "C:\Program Files\a b.toml" x\\y "q\"t" e\\"f g"') == [
        "-m",
        "syncd",
        "-c",
        r"C:\Program Files\a b.toml",
        r"x\\y",
        'q"t',
        r"e\f g",
    ]


def test_the_task_xml_is_ascii_without_an_encoding_declaration() -> None:
    raw = (TASK / "syncd-task.xml").read_bytes()
    raw.decode("ascii")  # raises on any non-ASCII byte
    assert not raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    assert b"<?xml" not in raw  # the bytes read the same however Task Scheduler guesses the encoding


def test_the_task_xml_uses_the_task_scheduler_namespace_and_a_schema_version() -> None:
    root = task()
    assert root.tag == "{http://schemas.microsoft.com/windows/2004/02/mit/task}Task"
    assert re.fullmatch(r"1\.[2-4]", root.get("version", "")), root.get("version")


def test_the_task_repeats_hourly_without_end() -> None:
    trigger = task().find("t:Triggers/t:TimeTrigger", NS)
    assert trigger is not None
    assert text("t:Triggers/t:TimeTrigger/t:Repetition/t:Interval") == "PT1H"
    assert trigger.find("t:Repetition/t:Duration", NS) is None  # no Duration: repeat indefinitely
    assert text("t:Triggers/t:TimeTrigger/t:Repetition/t:StopAtDurationEnd") == "false"
    assert trigger.find("t:EndBoundary", NS) is None
    assert text("t:Triggers/t:TimeTrigger/t:Enabled") == "true"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", text("t:Triggers/t:TimeTrigger/t:StartBoundary"))
    assert iso_duration(text("t:Triggers/t:TimeTrigger/t:RandomDelay")) == timedelta(minutes=5)


def test_the_task_runs_one_instance_catches_up_and_stops_after_45_minutes() -> None:
    assert text("t:Settings/t:MultipleInstancesPolicy") == "IgnoreNew"
    assert text("t:Settings/t:StartWhenAvailable") == "true"
    assert text("t:Settings/t:ExecutionTimeLimit") == "PT45M"
    assert text("t:Settings/t:Enabled") == "true"
    assert task().find("t:Settings/t:RestartOnFailure", NS) is None  # the next hour is the retry


def test_the_principal_is_least_privilege_and_ready_for_a_gmsa() -> None:
    principal = task().find("t:Principals/t:Principal", NS)
    assert principal is not None
    assert text("t:Principals/t:Principal/t:LogonType") == "Password"  # what a gMSA registers with
    assert text("t:Principals/t:Principal/t:RunLevel") == "LeastPrivilege"
    assert re.fullmatch(r"[A-Z]+\\[\w-]+\$", text("t:Principals/t:Principal/t:UserId"))  # DOMAIN\name$
    actions = task().find("t:Actions", NS)
    assert actions is not None and actions.get("Context") == principal.get("id")


def test_the_action_runs_the_venv_python_from_programdata() -> None:
    command = text("t:Actions/t:Exec/t:Command")
    assert command == r'"C:\Program Files\syncd\venv\Scripts\python.exe"'
    assert text("t:Actions/t:Exec/t:WorkingDirectory") == r"C:\ProgramData\syncd"


def test_the_task_arguments_parse_with_syncds_own_cli(parse_cli: Callable[[list[str]], object]) -> None:
    args = split_windows_command_line(text("t:Actions/t:Exec/t:Arguments"))
    assert args[:2] == ["-m", "syncd"]
    assert args[2:] == [
        "run",
        "-c",
        r"C:\ProgramData\syncd\syncd.toml",
        "--max-runtime",
        "40m",
        "--log-format",
        "json",
    ]
    namespace = parse_cli(args[2:])
    # the parser may keep the path as a str or a Path; either way it is the config the task names
    assert r"C:\ProgramData\syncd\syncd.toml" in {str(value) for value in vars(namespace).values()}


def test_syncds_own_deadline_ends_before_task_schedulers() -> None:
    args = split_windows_command_line(text("t:Actions/t:Exec/t:Arguments"))
    max_runtime = parse_duration(args[args.index("--max-runtime") + 1])
    limit = iso_duration(text("t:Settings/t:ExecutionTimeLimit"))
    assert max_runtime is not None and max_runtime + timedelta(minutes=5) <= limit


def test_the_readme_exit_code_table_lists_every_exit_code_in_decimal_and_hex() -> None:
    readme = (TASK / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+) \| `(0x[0-9A-F]+)` \|", readme, flags=re.MULTILINE))
    assert rows == {str(int(code)): f"0x{int(code):X}" for code in ExitCode}


def test_install_ps1_maps_every_run_exit_code_to_a_message() -> None:
    script = (TASK / "install.ps1").read_text(encoding="ascii")
    keys = {int(k) for k in re.findall(r"^\s+'(\d+)'\s+=", script, flags=re.MULTILINE)}
    assert {int(code) for code in ExitCode if code != ExitCode.CHANGES_PENDING} <= keys


@pytest.mark.parametrize("name", ["install.ps1", "uninstall.ps1"])
def test_the_powershell_scripts_are_ascii(name: str) -> None:
    # Windows PowerShell 5.1 reads a BOM-less script as the ANSI code page: non-ASCII text would be garbled
    (TASK / name).read_bytes().decode("ascii")


def test_install_ps1_installs_only_hashed_pins_and_registers_the_shipped_xml(repo: Path) -> None:
    script = (TASK / "install.ps1").read_text(encoding="ascii")
    for needle in (
        "'--require-hashes'",
        "'-r', $Lock",
        "'--no-deps'",
        "Join-Path $PSScriptRoot 'syncd-task.xml'",
        "Join-Path $SourceDir 'requirements.lock'",
        "Register-ScheduledTask",
        "New-ScheduledTaskPrincipal -UserId $TaskAccount -LogonType Password",
        "Start-ScheduledTask",
        "Get-ScheduledTaskInfo",
        "icacls.exe",
    ):
        assert needle in script, needle
    # $SourceDir is two folders up from the script: the repository root, where the lock lives
    assert (TASK.parent.parent / "requirements.lock").is_file()
    assert TASK.parent.parent == repo


def test_the_task_logs_json_whatever_the_console() -> None:
    """Task Scheduler has no console: diagnostics are JSON lines in the dated log file, never colour codes."""
    args = split_windows_command_line(text("t:Actions/t:Exec/t:Arguments"))
    assert args[args.index("--log-format") + 1] == "json"


# Windows' own FormatMessage texts for the Win32 error codes that share syncd's exit-code numbers: what the
# Task Scheduler console prints in "Last Run Result" (winerror.h; ERROR_LOGON_TYPE_NOT_GRANTED is 1385).
WINDOWS_TEXT = {
    0: "The operation completed successfully.",
    1: "Incorrect function.",
    2: "The system cannot find the file specified.",
    3: "The system cannot find the path specified.",
    4: "The system cannot open the file.",
    5: "Access is denied.",
    6: "The handle is invalid.",
    10: "The environment is incorrect.",
}
BATCH_LOGON_DENIED = 0x80070000 | 1385  # HRESULT_FROM_WIN32(ERROR_LOGON_TYPE_NOT_GRANTED)


def test_the_readme_shows_what_task_scheduler_prints_for_each_code() -> None:
    readme = (TASK / "README.md").read_text(encoding="utf-8")
    printed = dict(re.findall(r"^\| (\d+) \| ([^|`]+?) \(0x[0-9A-F]+\) \|", readme, flags=re.MULTILINE))
    assert {int(code) for code in ExitCode} <= {int(k) for k in printed}
    for code in ExitCode:
        assert printed[str(int(code))] == WINDOWS_TEXT[int(code)]
    assert BATCH_LOGON_DENIED == 2147943785
    assert f"| {BATCH_LOGON_DENIED} |" in readme and "0x80070569" in readme
    assert "0x800710E0` the account could not log on" not in readme  # the wrong code named before


def test_the_main_readme_shows_the_same_texts_next_to_its_exit_code_table(repo: Path) -> None:
    readme = (repo / "README.md").read_text(encoding="utf-8").replace("\n", " ")
    for code in ExitCode:
        assert f'{int(code)} "{WINDOWS_TEXT[int(code)]} (0x{int(code):X})"' in readme, code
    assert "0x80070569" in readme and 'one `"level": "error"` line' in readme


def test_the_readme_names_what_to_monitor_and_where_to_look() -> None:
    readme = (TASK / "README.md").read_text(encoding="utf-8")
    assert "Microsoft-Windows-TaskScheduler/Operational" in readme and "event **201**" in readme
    assert "ResultCode" in readme
    assert '"level": "error"' in readme and "beside the config file" in readme
    assert "named by the UTC date" in readme and "daylight saving" in readme


def test_install_ps1_names_the_missing_batch_logon_right_by_its_real_code() -> None:
    script = (TASK / "install.ps1").read_text(encoding="ascii")
    line = next(line for line in script.splitlines() if line.strip().startswith(f"'{BATCH_LOGON_DENIED}'"))
    assert "Log on as a batch job" in line and "0x80070569" in line


def test_the_windows_config_example_is_valid_with_file_secrets_and_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's Windows paths, moved under a temporary folder, load as a config: the token is a file
    reference under ProgramData\\syncd\\secrets, Active Directory uses Kerberos (no password), TLS the system
    store. (winkerberos exists only on Windows: its presence check is answered here.)"""
    import tomllib

    from syncd import config as config_module
    from syncd.sources import ldap_settings

    text = (TASK / "syncd.example.toml").read_text(encoding="utf-8")
    text.encode("ascii")  # edited by Notepad or PowerShell 5.1 without surprises
    raw = tomllib.loads(text)
    assert raw["target"]["token"] == {"file": "C:\\ProgramData\\syncd\\secrets\\timetracker-token.txt"}
    assert raw["target"]["ca_bundle"] == "system"
    assert raw["sources"][0]["auth"] == "kerberos" and "bind_password" not in raw["sources"][0]
    assert raw["state"]["dir"].startswith("C:\\ProgramData\\syncd\\")
    data_dir = tmp_path / "ProgramData-syncd"
    (data_dir / "secrets").mkdir(parents=True)
    token = data_dir / "secrets" / "timetracker-token.txt"
    token.write_text("sentinel", encoding="utf-8")
    token.chmod(0o600)
    moved = text.replace("C:\\ProgramData\\syncd\\", f"{data_dir}/").replace("\\", "/")
    config_file = data_dir / "syncd.toml"
    config_file.write_text(moved, encoding="utf-8")
    monkeypatch.setattr(ldap_settings, "_missing_extra", lambda auth: None)
    config = config_module.load(config_file)
    assert config.target.type == "timetracker" and config.rules
    assert config.audit_dir == data_dir / "logs"


def _main_flow(script: str) -> str:
    """install.ps1 after its functions: the steps in the order they run."""
    return script[script.index("# -- 1. Python") :]


def test_install_ps1_upgrades_with_the_task_disabled_and_idle() -> None:
    script = (TASK / "install.ps1").read_text(encoding="ascii")
    wait = script[script.index("function Wait-TaskIdle") : script.index("function Get-WheelHash")]
    assert wait.index("Disable-ScheduledTask") < wait.index("-eq 'Running'")  # no new run, then wait
    flow = _main_flow(script)
    order = [
        flow.index("Wait-TaskIdle"),
        flow.index("'-r', $Lock"),
        flow.index("'--force-reinstall', $Package"),
        flow.index("Register-ScheduledTask"),
        flow.index(
            "Enable-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath | Out-Null\n$script:Disabled"
        ),
    ]
    assert order == sorted(order)


def test_install_ps1_builds_syncd_only_from_hashed_pins_or_a_hashed_wheel() -> None:
    script = (TASK / "install.ps1").read_text(encoding="ascii")
    flow = _main_flow(script)
    assert "'-r', $BuildLock)" in flow and "'--no-build-isolation'" in flow
    assert "Join-Path $SourceDir 'build-requirements.lock'" in script
    assert "Get-FileHash -Algorithm SHA256 -Path $Wheel" in flow and "$actual -ne $expected" in flow
    assert "setuptools fetched from the package index" not in script


def test_install_ps1_refuses_a_per_user_python_and_survives_py_exe_stderr() -> None:
    script = (TASK / "install.ps1").read_text(encoding="ascii")
    flow = _main_flow(script)
    assert flow.index("Assert-AllUsersPython $BasePython") < flow.index("'-m', 'venv'")
    body = script[script.index("function Assert-AllUsersPython") : script.index("function Wait-TaskIdle")]
    assert "Join-Path $env:SystemDrive 'Users'" in body and "is a per-user Python" in body
    probe = script[script.index("function Get-PythonPath") : script.index("function Find-Python")]
    assert probe.index("$ErrorActionPreference = 'Continue'") < probe.index("2>$null")


def test_install_ps1_resets_access_when_the_task_account_changes() -> None:
    flow = _main_flow((TASK / "install.ps1").read_text(encoding="ascii"))
    assert "$PreviousAccount = [string] $existing.Principal.UserId" in flow
    assert "'/remove:g', $PreviousAccount, '/T'" in flow
    assert "(Join-Path $DataDir 'secrets'), '/reset', '/T'" in flow
    assert flow.index("'/remove:g'") < flow.index("Set-FolderAcl $DataDir") < flow.index("'/reset', '/T'")


def test_install_ps1_checks_the_gmsa_prerequisites_and_the_batch_logon_right() -> None:
    script = (TASK / "install.ps1").read_text(encoding="ascii")
    gmsa = script[script.index("function Assert-GmsaUsable") : script.index("function Test-BatchLogonRight")]
    assert "RSAT-AD-PowerShell" in gmsa and "KDS root key" in gmsa and "Test-ADServiceAccount" in gmsa
    assert "SilentlyContinue) {\n        $gmsaName" not in script  # no longer skipped without the module
    batch = script[script.index("function Test-BatchLogonRight") : script.index("function Get-WheelHash")]
    assert "SeBatchLogonRight" in batch and "0x80070569" in batch
    flow = _main_flow(script)
    assert "Assert-GmsaUsable" in flow and "Test-BatchLogonRight" in flow
    readme = (TASK / "README.md").read_text(encoding="utf-8")
    for prerequisite in ("KDS root key", "RSAT-AD-PowerShell", "Log on as a batch job"):
        assert prerequisite in readme, prerequisite
