"""Secret files as Windows administrators write them (BOM, UTF-16), and who may read them on Windows: the
decision from ACL data (SDDL), the `sys.platform == "win32"` branch of the file check."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd import secrets, windows_acl
from syncd.errors import ConfigError
from syncd.secrets import SecretRef

TASK = "S-1-5-21-1004336348-1177238915-682003330-1105"  # the task account
ADMIN = "S-1-5-21-1004336348-1177238915-682003330-500"
OTHER = "S-1-5-21-1004336348-1177238915-682003330-1201"


def secret_file(tmp_path: Path, data: bytes) -> SecretRef:
    path = tmp_path / "token.txt"
    path.write_bytes(data)
    path.chmod(0o600)
    return SecretRef("file", str(path), "syncd.toml: target.token")


def test_a_utf8_bom_and_a_crlf_are_not_part_of_the_secret(tmp_path: Path) -> None:
    # what `Set-Content -Encoding UTF8` in Windows PowerShell 5.1 writes
    ref = secret_file(tmp_path, b"\xef\xbb\xbfs3cr\xc3\xa9t\r\n")
    assert ref.check() is None
    assert ref.resolve().reveal() == "s3crét"


@pytest.mark.parametrize(
    "data",
    ["s3cret\r\n".encode("utf-16"), "s3cret".encode("utf-16-le"), "s3cret".encode("utf-16-be")],
    ids=["utf-16-bom", "utf-16-le-no-bom", "utf-16-be-no-bom"],
)
def test_utf16_is_named_at_check_time_and_never_misread(tmp_path: Path, data: bytes) -> None:
    # what `>` and Out-File write in Windows PowerShell 5.1
    ref = secret_file(tmp_path, data)
    problem = ref.check()
    assert problem is not None and "is UTF-16 text; write it as UTF-8: `syncd secret set NAME`" in problem
    with pytest.raises(ConfigError, match="UTF-16"):
        ref.resolve()


def test_bytes_that_are_not_utf8_are_named_without_showing_them(tmp_path: Path) -> None:
    ref = secret_file(tmp_path, b"s3\xe9cret-sentinel")
    with pytest.raises(ConfigError) as raised:
        ref.resolve()
    assert "is not UTF-8 text" in str(raised.value)
    assert "sentinel" not in str(raised.value) and "xe9" not in str(raised.value)


# -- the ACL decision, from SDDL as ConvertSecurityDescriptorToStringSecurityDescriptorW writes it ----------

INSTALLED = f"O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x1200a9;;;{TASK})"


@pytest.mark.parametrize(
    ("sddl", "me", "expected"),
    [
        (INSTALLED, TASK, None),  # the task reads its own secret
        (INSTALLED, ADMIN, None),  # an administrator runs `syncd check`: the task account is the one other
        (f"O:BAG:SYD:AI(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;{TASK})(A;ID;FR;;;BU)", TASK, "is readable by Users"),
        ("O:BAD:(A;;FA;;;WD)", TASK, "is readable by Everyone"),
        ("O:BAD:(A;;GR;;;AU)", TASK, "is readable by Authenticated Users"),
        ("O:BAD:(A;;0x1;;;S-1-5-21-1-2-3-513)", TASK, "is readable by S-1-5-21-1-2-3-513"),
        ("O:BAD:NO_ACCESS_CONTROL", TASK, "has no access control list (everyone can read it)"),
        (
            f"O:BAD:(A;;FA;;;SY)(A;;FR;;;{TASK})(A;;FR;;;{OTHER})",
            ADMIN,
            f"is readable by more than one account besides SYSTEM and Administrators: {TASK}, {OTHER}",
        ),
        (f"O:BAD:(A;;FA;;;SY)(A;;FR;;;{TASK})(A;;FR;;;{OTHER})", TASK, None),
        # entries that do not let anyone read the content
        ("O:BAD:(A;;FA;;;SY)(A;OICIIO;FA;;;CO)(A;;0x100000;;;WD)(D;;FA;;;BU)", TASK, None),
        ("O:BAD:(A;;RCSDWDWO;;;BU)", TASK, None),
    ],
)
def test_who_may_read_a_secret(sddl: str, me: str, expected: str | None) -> None:
    assert windows_acl.secret_acl_problem(sddl, me) == expected


def test_access_masks_and_aliases() -> None:
    assert windows_acl.access_mask("FR") & 0x1 and windows_acl.access_mask("0x1200a9") & 0x1
    assert windows_acl.access_mask("CCDC") == 0x3 and not windows_acl.access_mask("RCWD") & 0x1
    aces = windows_acl.parse_dacl("O:BAG:SYD:PAI(A;OICI;FA;;;SY)(D;;FW;;;WD)S:(AU;SA;FA;;;WD)")
    assert aces == [
        windows_acl.Ace(True, 0x1F01FF, windows_acl.SYSTEM),
        windows_acl.Ace(False, 0x120116, "S-1-1-0"),
    ]


def test_the_win32_branch_asks_windows_not_the_mode_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token.txt"
    path.write_text("s3cret", encoding="utf-8")
    path.chmod(0o644)  # mode bits mean nothing on Windows: the ACL decides
    monkeypatch.setattr(windows_acl, "read_sddl", lambda name: INSTALLED)
    monkeypatch.setattr(windows_acl, "current_user_sid", lambda: TASK)
    assert secrets._check_secret_file(path, "where", platform="win32") is None
    monkeypatch.setattr(windows_acl, "read_sddl", lambda name: INSTALLED + "(A;;FR;;;BU)")
    problem = secrets._check_secret_file(path, "where", platform="win32")
    assert problem == (
        f'where: secret file {path} is readable by Users; restrict it: icacls "{path}" /inheritance:r '
        '/grant:r *S-1-5-18:F *S-1-5-32-544:F "DOMAIN\\task-account$:R" (or write it with: syncd secret set NAME)'
    )

    def denied(name: str) -> str:
        raise OSError(5, "Access is denied")

    monkeypatch.setattr(windows_acl, "read_sddl", denied)
    assert "its permissions cannot be read" in (
        secrets._check_secret_file(path, "where", platform="win32") or ""
    )
    # and the POSIX branch still checks the mode bits
    assert "chmod 600" in (secrets._check_secret_file(path, "where", platform="linux") or "")


def test_the_kerberos_package_named_on_windows_is_winkerberos(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `sys.platform == "win32"` branch of the LDAP settings: Windows binds through SSPI (winkerberos)."""
    import importlib.util

    from syncd.sources import ldap_settings

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("gssapi", "winkerberos") else real(name, *a),
    )
    monkeypatch.setattr(ldap_settings.sys, "platform", "win32")
    assert ldap_settings._missing_extra("kerberos") == (
        "'kerberos' needs the optional package winkerberos: pip install syncd[kerberos]"
    )
    monkeypatch.setattr(ldap_settings.sys, "platform", "linux")
    assert "gssapi" in (ldap_settings._missing_extra("kerberos") or "")
