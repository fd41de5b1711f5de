"""Secret references and the `Secret` value. Configuration names where a secret lives, never the secret;
values are read lazily, at first use, and never printed: `repr`/`str` are masked (style B3, A6.7)."""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from syncd import windows_acl
from syncd.errors import ConfigError

SecretKind = Literal["env", "file", "keyring", "credential"]
SECRET_KINDS: tuple[SecretKind, ...] = ("env", "file", "keyring", "credential")
# systemd credential names: the charset systemd itself allows (borgmatic uses the same check)
_CREDENTIAL_NAME = re.compile(r"^[\w.-]+$")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_WRITE_AS_UTF8 = (
    "write it as UTF-8: `syncd secret set NAME`, or in PowerShell: "
    "Set-Content -NoNewline -Encoding ASCII -Path FILE -Value (Read-Host)"
)


class Secret:
    """A resolved secret. Only `reveal()` gives the value; everything else shows '***'."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretAbsent(str):
    """A secret that is simply not there (unset variable, no such file or credential). Commands that read
    only local files (`status`, `audit`, `check --offline`) load the config without the secrets and skip
    these; a secret stored unsafely or unreadably stays an error everywhere."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives. `where` names the config key, so errors can point at it."""

    kind: SecretKind
    name: str  # env var name, file path (absolute), "service/user", or credential name
    where: str  # "syncd.toml: sources[0].bind_password"

    def describe(self) -> str:
        return f"{{ {self.kind} = {self.name!r} }}"

    def check(self) -> str | None:
        """Cheap validation at config time: does the secret exist and is it safely stored? Never reads it."""
        if self.kind == "env":
            if self.name not in os.environ:
                return SecretAbsent(f"{self.where}: environment variable {self.name} is not set")
            if not os.environ[self.name].strip():
                return SecretAbsent(f"{self.where}: environment variable {self.name} is set but empty")
        elif self.kind == "file":
            return _check_secret_file(Path(self.name), self.where)
        elif self.kind == "credential":
            if not _CREDENTIAL_NAME.match(self.name):
                return (
                    f"{self.where}: credential name {self.name!r} may contain only "
                    "letters, digits, '_', '.', '-'"
                )
            directory = os.environ.get("CREDENTIALS_DIRECTORY")
            if not directory:
                return SecretAbsent(
                    f"{self.where}: {{ credential = {self.name!r} }} needs $CREDENTIALS_DIRECTORY "
                    "(set by systemd's LoadCredential=)"
                )
            if not (Path(directory) / self.name).is_file():
                return SecretAbsent(
                    f"{self.where}: credential {self.name!r} not found in $CREDENTIALS_DIRECTORY"
                )
        elif "/" not in self.name:  # keyring
            return f"{self.where}: keyring reference must be 'service/user', got {self.name!r}"
        return None

    def resolve(self) -> Secret:
        """Read the secret now. Raises ConfigError (exit 2) naming the key when it cannot be read."""
        problem = self.check()
        if problem:
            raise ConfigError(problem)
        if self.kind == "env":
            secret = Secret(os.environ[self.name].strip())
        elif self.kind == "file":
            secret = Secret(_read(Path(self.name), self.where))
        elif self.kind == "credential":
            secret = Secret(_read(Path(os.environ["CREDENTIALS_DIRECTORY"]) / self.name, self.where))
        else:
            secret = _from_keyring(self.name, self.where)
        if not secret.reveal():  # an empty secret would only come back as a puzzling 401 (issue 15)
            raise ConfigError(f"{self.where}: the secret {self.describe()} is empty; store the secret there")
        return secret


def _check_secret_file(path: Path, where: str, platform: str = sys.platform) -> str | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return SecretAbsent(f"{where}: secret file {path} does not exist")
    except OSError as error:
        return f"{where}: secret file {path} cannot be read: {error.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{where}: secret file {path} is not a regular file"
    if platform == "win32":
        # mode bits do not reflect ACLs on Windows: ask Windows who may read the file
        problem = _windows_acl_problem(path, where)
    # Files under $CREDENTIALS_DIRECTORY are systemd's and already restricted.
    elif info.st_mode & 0o077 and not _in_credentials_dir(path):
        problem = (
            f"{where}: secret file {path} is readable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
        )
    else:
        problem = None
    return problem or _encoding_problem(path, where)


def _windows_acl_problem(path: Path, where: str) -> str | None:
    try:
        sddl = windows_acl.read_sddl(str(path))
        me = windows_acl.current_user_sid()
    except OSError as error:
        return f"{where}: secret file {path}: its permissions cannot be read ({error})"
    problem = windows_acl.secret_acl_problem(sddl, me)
    if problem is None:
        return None
    return f"{where}: secret file {path} {problem}; restrict it: {windows_acl.fix_command(str(path))}"


def _encoding_problem(path: Path, where: str) -> str | None:
    """UTF-16 (Windows PowerShell 5.1's `>` and Out-File) is named at check time, before a run needs it."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as error:
        return f"{where}: secret file {path} cannot be read: {error.strerror}"
    if _is_utf16(head):
        return f"{where}: secret file {path} is UTF-16 text; {_WRITE_AS_UTF8}"
    return None


def _is_utf16(head: bytes) -> bool:
    # with a BOM, or without one: ASCII text in UTF-16 has a NUL in every other byte
    return head.startswith(_UTF16_BOMS) or (len(head) >= 2 and b"\x00" in head[:2])


def decode_secret(data: bytes, path: Path, where: str) -> str:
    """The secret in a file's bytes: UTF-8, with or without the BOM that PowerShell 5.1's
    `Set-Content -Encoding UTF8` writes, surrounding whitespace and the final newline removed. Never puts the
    content into an error message."""
    if _is_utf16(data[:4]):
        raise ConfigError(f"{where}: secret file {path} is UTF-16 text; {_WRITE_AS_UTF8}")
    try:
        return data.removeprefix(_UTF8_BOM).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: secret file {path} is not UTF-8 text; {_WRITE_AS_UTF8}") from None


def _in_credentials_dir(path: Path) -> bool:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return False
    return path.resolve().is_relative_to(Path(directory).resolve())


def _read(path: Path, where: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{where}: secret file {path} cannot be read: {error.strerror}") from None
    return decode_secret(data, path, where)


def _from_keyring(name: str, where: str) -> Secret:
    service, _, user = name.partition("/")
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise ConfigError(f"{where}: keyring references need the 'keyring' package") from None
    try:
        # explicit username: WinVaultKeyring with an unknown user may return another user's entry
        value = keyring.get_password(service, user)
    except keyring.errors.KeyringError as error:
        raise ConfigError(f"{where}: keyring lookup of {name!r} failed: {error}") from None
    if value is None:
        raise ConfigError(f"{where}: no keyring entry for service {service!r}, user {user!r}")
    return Secret(value)
