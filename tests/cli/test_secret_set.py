"""`syncd secret set NAME`: the file `{ file = … }` reads, written right on every platform, and the reference."""

from __future__ import annotations

import io
import stat
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

from syncd import secret_store
from syncd.cli import main
from syncd.errors import UsageError
from syncd.secrets import SecretRef


def test_secret_set_writes_utf8_0600_and_prints_a_reference_that_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3crét-sentinel\r\n"))
    assert main(["secret", "set", "timetracker-token", "-c", str(tmp_path / "syncd.toml")]) == 0
    path = tmp_path / "secrets" / "timetracker-token.txt"
    assert path.read_bytes() == "s3crét-sentinel".encode()  # no BOM, no newline
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out, err = capsys.readouterr()
    assert "sentinel" not in out + err
    line = out.splitlines()[-1].strip()
    parsed = tomllib.loads(f"token = {line}")["token"]
    ref = SecretRef("file", parsed["file"], "token")
    assert ref.check() is None and ref.resolve().reveal() == "s3crét-sentinel"
    assert not list((tmp_path / "secrets").glob(".*"))  # no staging file left


def test_secret_set_refuses_a_bad_name_or_an_empty_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("value\n"))
    assert main(["secret", "set", "../escape", "--dir", str(tmp_path)]) == 2
    assert "secret name '../escape': use letters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["secret", "set", "token", "--dir", str(tmp_path)]) == 2
    assert "the value is empty; nothing written" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_on_windows_icacls_restricts_the_file_before_it_takes_its_name(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def icacls(arguments: Sequence[str]) -> int:
        calls.append(list(arguments))
        assert Path(arguments[1]).read_bytes() in (b"s3cret", b"rotated")  # restricted while still staged
        return 0

    path = secret_store.write_secret(
        tmp_path, "token", "s3cret", account="CONTOSO\\svc-syncd$", platform="win32", run=icacls
    )
    assert calls == [
        [
            "icacls.exe",
            str(tmp_path / ".token.txt.new"),
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:F",
            "*S-1-5-32-544:F",
            "CONTOSO\\svc-syncd$:R",
            "/Q",
        ]
    ]
    assert path.read_bytes() == b"s3cret"
    calls.clear()
    secret_store.write_secret(tmp_path, "token", "rotated", platform="win32", run=icacls)
    assert calls == [["icacls.exe", str(tmp_path / ".token.txt.new"), "/reset", "/Q"]]  # as the folder
    assert path.read_bytes() == b"rotated"


def test_on_windows_a_failed_icacls_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"failed \(exit 5\); nothing written"):
        secret_store.write_secret(tmp_path, "token", "s3cret", platform="win32", run=lambda arguments: 5)
    assert not list(tmp_path.iterdir())


def test_the_reference_keeps_windows_backslashes() -> None:
    text = secret_store.reference(Path("C:\\ProgramData\\syncd\\secrets\\token.txt"))
    assert text == "{ file = 'C:\\ProgramData\\syncd\\secrets\\token.txt' }"
    assert tomllib.loads(f"t = {text}")["t"]["file"] == "C:\\ProgramData\\syncd\\secrets\\token.txt"
