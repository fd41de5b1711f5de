"""scripts/check-powershell: the Windows PowerShell 5.1 pitfalls in install.ps1/uninstall.ps1, found statically
(CI has no Windows host). Each rule is shown to fire on a snippet, and the shipped scripts are clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check-powershell"


def run(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_shipped_scripts_are_clean() -> None:
    done = run()
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert "2 script(s) clean" in done.stdout


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ("$x = $a ?? 'default'\n", "`??` (null coalescing) is PowerShell 7 only"),
        ("$n = $task?.State\n", "`?.`/`?[` (null-conditional) is PowerShell 7 only"),
        ("$t = $ok ? 'yes' : 'no'\n", "`cond ? a : b` (ternary) is PowerShell 7 only"),
        ("Test-Path $p && Write-Host ok\n", "`&&`/`||` (pipeline chains) are PowerShell 7 only"),
        ("$p = Join-Path $env:ProgramData 'syncd' 'logs'\n", "Join-Path with 3 positional arguments"),
        ("$x = 'caf\u00e9'\n", "non-ASCII byte 0xC3"),
        ("icacls $p /grant 'x:R'\nif ($LASTEXITCODE -ne 0) { throw 'no' }\n", "call icacls as icacls.exe"),
        ("& $python -m pip install x\nWrite-Host 'done'\n", "native call without a $LASTEXITCODE check"),
        ("icacls.exe $p /reset\n", "native call without a $LASTEXITCODE check"),
        (
            "function F {\n    $out = & py.exe -3 -c 'print(1)' 2>$null\n    if ($LASTEXITCODE) { return }\n}\n",
            "native call with stderr redirected while $ErrorActionPreference may be 'Stop'",
        ),
    ],
)
def test_each_pitfall_is_found(tmp_path: Path, snippet: str, problem: str) -> None:
    script = tmp_path / "bad.ps1"
    script.write_bytes(snippet.encode("utf-8"))
    done = run(script)
    assert done.returncode == 1
    assert problem in done.stderr, done.stderr


def test_prose_in_strings_and_comments_and_safe_forms_pass(tmp_path: Path) -> None:
    script = tmp_path / "good.ps1"
    script.write_text(
        "# a comment may say ?? or a ? b : c or Join-Path a b c\n"
        "<# block: && || #>\n"
        "Write-Host 'is it ?? or a ? b : c && d'\n"
        "$p = Join-Path (Join-Path $env:ProgramData 'syncd') 'logs'\n"
        "$p = Join-Path -Path $env:ProgramData -ChildPath 'syncd'\n"
        "Get-ChildItem | Where-Object { $_.Name -like '*.log' }\n"
        "function G {\n    $ErrorActionPreference = 'Continue'\n    $out = & py.exe -3 2>$null\n"
        "    if ($LASTEXITCODE -ne 0) { return }\n}\n",
        encoding="ascii",
    )
    done = run(script)
    assert (done.returncode, done.stderr) == (0, "")


def test_mains_python_discovery_is_the_pitfall_it_names(tmp_path: Path) -> None:
    """install.ps1 before issue 20: `& py.exe … 2>$null` under $ErrorActionPreference = 'Stop'."""
    script = tmp_path / "old.ps1"
    script.write_text(
        "$ErrorActionPreference = 'Stop'\nfunction Find-Python {\n"
        "    $found = & $launcher.Source -3 -c 'import sys; print(sys.executable)' 2>$null\n"
        "    if ($LASTEXITCODE -eq 0 -and $found) { return $found }\n}\n",
        encoding="ascii",
    )
    done = run(script)
    assert done.returncode == 1 and ":3: native call with stderr redirected" in done.stderr
