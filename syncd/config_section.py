"""A typed, strict reader over one TOML table. Every problem becomes one line naming the file, the dotted
key and what is allowed; reading goes on after a problem, so a config gets all its errors in one pass.
Unknown keys are errors with a did-you-mean (style A6.5)."""

from __future__ import annotations

import builtins
import difflib
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from syncd.identity import EmailKey, normalise_email
from syncd.secrets import SECRET_KINDS, SecretRef

_REQUIRED: Final = object()
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta | None:
    """'90s', '45m', '24h', '7d', '1h30m' → timedelta; None when the text is not such a duration."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _type_name(value: object) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "an array"}
    if isinstance(value, dict):
        return "a table"
    return names.get(type(value), type(value).__name__)


class Section:
    """One TOML table at a dotted location (`where`) in `file`. Problems are appended to `problems`."""

    def __init__(self, data: Mapping[str, Any], where: str, file: Path, problems: list[str]) -> None:
        self._data = data
        self.where = where
        self.file = file
        self.problems = problems
        self._seen: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------------------
    def at(self, key: str) -> str:
        """'syncd.toml: sources[0].url' — the name of a key, for messages."""
        dotted = f"{self.where}.{key}" if self.where else key
        return f"{self.file}: {dotted}"

    def error(self, key: str, message: str) -> None:
        self.problems.append(f"{self.at(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self._data

    def written_keys(self) -> tuple[str, ...]:
        """The keys written in this table, in file order (for tables whose keys are names, e.g. plans)."""
        return tuple(self._data)

    @property
    def base_dir(self) -> Path:
        return self.file.parent

    def _get(self, key: str, default: object, expected: str) -> object:
        self._seen.add(key)
        if key in self._data:
            return self._data[key]
        if default is _REQUIRED:
            self.error(key, f"required ({expected})")
        return default

    def _wrong(self, key: str, expected: str, value: object) -> None:
        self.error(key, f"expected {expected}, got {_type_name(value)} {value!r}")

    # -- scalars ----------------------------------------------------------------------------------
    def str(
        self,
        key: builtins.str,
        default: object = _REQUIRED,
        *,
        choices: Sequence[builtins.str] | None = None,
        expected: builtins.str = "a string",
        allow_empty: builtins.bool = False,
    ) -> builtins.str:
        value = self._get(key, default, expected)
        if value is _REQUIRED or value is None:
            return ""
        if not isinstance(value, str):
            self._wrong(key, expected, value)
            return ""
        if not allow_empty and not value.strip():
            self.error(key, f"must not be empty ({expected})")
            return ""
        if choices is not None and value not in choices:
            self._not_one_of(key, value, choices)
            return ""
        return value

    def optional_str(self, key: builtins.str, *, expected: builtins.str = "a string") -> builtins.str | None:
        if key not in self._data:
            self._seen.add(key)
            return None
        return self.str(key, expected=expected) or None

    def _not_one_of(self, key: builtins.str, value: builtins.str, choices: Sequence[builtins.str]) -> None:
        hint = difflib.get_close_matches(value, choices, n=1)
        suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
        self.error(key, f"{value!r} is not one of: {', '.join(choices)}{suffix}")

    def int(
        self,
        key: builtins.str,
        default: object = _REQUIRED,
        *,
        minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
    ) -> builtins.int:
        value = self._get(key, default, "an integer")
        if value is _REQUIRED or value is None:
            return minimum or 0
        if not isinstance(value, int) or isinstance(value, bool):
            self._wrong(key, "an integer", value)
            return minimum or 0
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.error(key, f"{value} is out of range: must be {bounds}")
            return minimum or 0
        return value

    def optional_int(
        self, key: builtins.str, *, minimum: builtins.int | None = None, maximum: builtins.int | None = None
    ) -> builtins.int | None:
        if key not in self._data:
            self._seen.add(key)
            return None
        return self.int(key, minimum=minimum, maximum=maximum)

    def number(self, key: builtins.str, default: object = _REQUIRED, *, minimum: float = 0.0) -> float:
        value = self._get(key, default, "a number")
        if value is _REQUIRED or value is None:
            return minimum
        if not isinstance(value, int | float) or isinstance(value, bool):
            self._wrong(key, "a number", value)
            return minimum
        if value < minimum:
            self.error(key, f"{value} is out of range: must be at least {minimum}")
            return minimum
        return float(value)

    def decimal(self, key: builtins.str, *, minimum: Decimal | None = None) -> Decimal | None:
        """An exact decimal (money): a TOML integer, float or string such as "9.99". A float goes through
        its shortest repr, so 9.99 reads as Decimal("9.99"), not the binary approximation."""
        expected = 'a number such as 9.99, or a string such as "9.99"'
        value = self._get(key, _REQUIRED, expected)
        if value is _REQUIRED:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self._wrong(key, expected, value)
            return None
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            self.error(key, f"{value!r} is not {expected}")
            return None
        if minimum is not None and number < minimum:
            self.error(key, f"{value} is out of range: must be at least {minimum}")
            return None
        return number

    def bool(self, key: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self._get(key, default, "true or false")
        if not isinstance(value, bool):
            self._wrong(key, "true or false", value)
            return default
        return value

    def duration(self, key: builtins.str, default: builtins.str | None = None) -> timedelta | None:
        """A duration like '24h'. Missing → `default` parsed (None stays None)."""
        self._seen.add(key)
        value: object = self._data.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            self._wrong(key, "a duration such as '90s', '45m', '24h' or '7d'", value)
            return None
        parsed = parse_duration(value)
        if parsed is None:
            self.error(key, f"{value!r} is not a duration; use e.g. '90s', '45m', '24h', '7d', '1h30m'")
        return parsed

    def date(self, key: builtins.str) -> date | None:
        value = self._get(key, _REQUIRED, "a date such as 2027-01-01")
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        if value is not _REQUIRED:
            self._wrong(key, "a date such as 2027-01-01", value)
        return None

    def url(
        self,
        key: builtins.str,
        default: object = _REQUIRED,
        *,
        schemes: Sequence[builtins.str] = ("https", "http"),
    ) -> builtins.str:
        expected = f"a URL ({' or '.join(s + '://…' for s in schemes)})"
        self._seen.add(key)  # an absent optional URL is still a known key (did-you-mean, "allowed here")
        value = (
            self.str(key, default, expected=expected)
            if key in self._data or default is _REQUIRED
            else default
        )
        if not isinstance(value, str) or not value:
            return ""
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            self.error(key, f"{value!r} is not {expected}")
            return ""
        return value.rstrip("/")

    def refuse_plain_http(
        self, key: builtins.str, url: builtins.str, *, allowed: builtins.bool, sends: builtins.str
    ) -> builtins.bool:
        """True (and an error) when `url` is http:// without `allow_insecure_http = true`: a token or PAT sent
        there travels unencrypted (HTTP Basic is base64, not encryption). Only local emulators need it."""
        if not url or urlsplit(url).scheme != "http" or allowed:
            return False
        self.error(
            key,
            f"{url!r} would send {sends} unencrypted; use https:// "
            "(or set allow_insecure_http = true for a local emulator)",
        )
        return True

    def url_list(
        self, key: builtins.str, *, schemes: Sequence[builtins.str] = ("https", "http")
    ) -> tuple[builtins.str, ...]:
        """A required URL or non-empty array of URLs (e.g. several domain controllers, tried in order)."""
        expected = f"a URL or an array of URLs ({' or '.join(s + '://…' for s in schemes)})"
        value = self._get(key, _REQUIRED, expected)
        if value is _REQUIRED:
            return ()
        items: list[object] = list(value) if isinstance(value, list) else [value]
        texts = [v for v in items if isinstance(v, str)]
        if not texts or len(texts) != len(items):
            self._wrong(key, expected, value)
            return ()
        urls: list[builtins.str] = []
        for item in texts:
            parts = urlsplit(item)
            if parts.scheme not in schemes or not parts.hostname:
                self.error(key, f"{item!r} is not a URL ({' or '.join(s + '://…' for s in schemes)})")
                continue
            urls.append(item.rstrip("/"))
        return tuple(urls)

    def str_list(self, key: builtins.str, default: Sequence[builtins.str] = ()) -> tuple[builtins.str, ...]:
        value = self._get(key, list(default), "an array of strings")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._wrong(key, "an array of strings", value)
            return tuple(default)
        return tuple(value)

    def email_set(self, key: builtins.str) -> frozenset[EmailKey]:
        """An array of e-mail addresses, normalised; each entry that is not one is a problem at `key[i]`."""
        found: set[EmailKey] = set()
        for i, raw in enumerate(self.str_list(key)):
            email = normalise_email(raw)
            if email is None:
                self.error(f"{key}[{i}]", f"{raw!r} is not an e-mail address")
            else:
                found.add(email)
        return frozenset(found)

    # -- files and secrets ------------------------------------------------------------------------
    def path(
        self,
        key: builtins.str,
        *,
        required: builtins.bool = False,
        must_exist: builtins.bool = True,
        kind: builtins.str = "file",
        created_default: Path | None = None,
    ) -> Path | None:
        """A path, relative paths resolved against the config file's folder. With `must_exist=False` the path
        is one syncd creates on first use and must be creatable; `created_default` is used (and checked the
        same way) when the key is absent."""
        if key not in self._data:
            self._seen.add(key)
            if required:
                self.error(key, f"required (path to a {kind})")
            if created_default is not None:
                problem = _not_creatable(created_default, kind)
                if problem:
                    self.error(key, problem)
                    return None
            return created_default
        text = self.str(key, expected=f"a path to a {kind}")
        if not text:
            return None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if must_exist:
            if not path.exists():
                self.error(key, f"{kind} {path} does not exist")
                return None
            if kind == "file" and not path.is_file():
                self.error(key, f"{path} is not a file")
                return None
            if kind == "directory" and not path.is_dir():
                self.error(key, f"{path} is not a directory")
                return None
        else:
            problem = _not_creatable(path, kind)
            if problem:
                self.error(key, problem)
                return None
        return path

    def secret(self, key: builtins.str, *, required: builtins.bool = True) -> SecretRef | None:
        """A secret reference: { env = "NAME" } | { file = "path" } | { keyring = "svc/user" }
        | { credential = "name" }."""
        expected = (
            'a secret reference: { env = "NAME" }, { file = "path" }, { keyring = "service/user" }'
            ' or { credential = "name" }'
        )
        self._seen.add(key)
        if key not in self._data:
            if required:
                self.error(key, f"required ({expected})")
            return None
        value = self._data[key]
        if isinstance(value, str):
            # never echo the value: a literal here is probably the secret itself
            self.error(key, f"secrets must not be written into the config; use {expected}")
            return None
        if not isinstance(value, dict) or len(value) != 1:
            self.error(key, f"expected {expected}")
            return None
        ((kind, name),) = value.items()
        if kind not in SECRET_KINDS or not isinstance(name, str) or not name:
            self.error(key, f"expected {expected}")
            return None
        if kind == "file":
            path = Path(name).expanduser()
            name = str(path if path.is_absolute() else self.base_dir / path)
        ref = SecretRef(kind, name, self.at(key))
        problem = ref.check()
        if problem:
            self.problems.append(problem)
        return ref

    # -- nesting ----------------------------------------------------------------------------------
    def section(self, key: builtins.str, *, required: builtins.bool = False) -> Section:
        self._seen.add(key)
        value = self._data.get(key)
        if value is None:
            if required:
                self.error(key, "required table is missing")
            return Section({}, self._child(key), self.file, self.problems)
        if not isinstance(value, dict):
            self._wrong(key, "a table", value)
            return Section({}, self._child(key), self.file, self.problems)
        return Section(value, self._child(key), self.file, self.problems)

    def sections(self, key: builtins.str) -> list[Section]:
        """An array of tables (`[[key]]`)."""
        self._seen.add(key)
        value = self._data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self._wrong(key, f"an array of tables ([[{key}]])", value)
            return []
        return [Section(v, f"{self._child(key)}[{i}]", self.file, self.problems) for i, v in enumerate(value)]

    def _child(self, key: builtins.str) -> builtins.str:
        return f"{self.where}.{key}" if self.where else key

    def finish(self) -> None:
        """Report every key that no reader asked for, with a did-you-mean among the known ones."""
        for key in self._data:
            if key in self._seen:
                continue
            hint = difflib.get_close_matches(key, sorted(self._seen), n=1)
            suffix = f"; did you mean {hint[0]!r}?" if hint else ""
            allowed = ", ".join(sorted(self._seen)) or "none"
            self.error(key, f"unknown key{suffix} (allowed here: {allowed})")


def _not_creatable(path: Path, kind: str) -> str | None:
    """Why a path syncd creates on first use (state and audit folders, the metrics file) could never be
    created, or None. Checked at load time so that a typo is exit 2 before anything runs, instead of an
    error in the middle of a cycle that has already changed seats."""
    if path.exists():
        if kind == "directory" and not path.is_dir():
            return f"{path} exists and is not a directory"
        if kind == "file" and path.is_dir():
            return f"{path} is a directory; a file name is needed here"
        return None
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{path} cannot be created: {parent} is not a directory"
            return None
    return None
