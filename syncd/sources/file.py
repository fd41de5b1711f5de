"""Group membership from a file export (HR systems, scripted directory dumps, offline trials, the demo).

CSV: a header row with `group` and `email`, optionally `display_name`, `enabled`, `upn` (the user principal
name, matched against 7pace unique names) and `id` (an immutable id that follows the person through renames);
any column order; UTF-8
with or without BOM; CRLF or LF; blank lines ignored; duplicate rows merged. A row with a group and an empty
e-mail declares the group without adding anyone, so an export can say "this group exists and is empty"
(a group absent from the file is *missing*, never empty — a truncated export must not strip seats).

JSON: either a list of row objects with the same fields, or an object mapping each group to a list of members,
each an e-mail string or an object with `email`, `display_name`, `enabled`.

The file is read once per cycle, when the first group is asked for, and indexed by group (case-insensitive).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from syncd.config_section import Section
from syncd.errors import InputError, SourceUnreachable
from syncd.identity import EmailKey, normalise_email, normalise_identifier
from syncd.models import GroupRead, Health, Person, Unidentified
from syncd.sources.interface import Source, SourceLookup, SourceType
from syncd.sources.members import did_you_mean

_TRUE = frozenset({"true", "yes", "1", "y", "enabled"})
_FALSE = frozenset({"false", "no", "0", "n", "disabled"})
_COLUMNS = ("group", "email", "display_name", "enabled", "upn", "id")
_ENABLED_WORDS = "true, yes, y, 1, enabled (or empty); false, no, n, 0, disabled"


@dataclass(frozen=True, slots=True)
class FileSettings:
    name: str
    path: Path
    format: str  # "csv" | "json"
    delimiter: str
    type: str = "file"


def parse(section: Section, name: str) -> FileSettings:
    path = section.path("path", required=True)
    fmt = section.str("format", "auto", choices=("auto", "csv", "json"))
    delimiter = section.str("delimiter", ",", allow_empty=False)
    section.finish()
    if len(delimiter) != 1:
        section.error("delimiter", f"{delimiter!r} must be a single character such as ',' or ';'")
    if fmt == "auto" and path is not None:
        fmt = "json" if path.suffix.lower() == ".json" else "csv"
    return FileSettings(name, path or Path(), fmt or "csv", delimiter[:1] or ",")


class _Row(NamedTuple):  # a tuple: built once per export row, and cheaper to build than a dataclass
    group: str
    email: str
    display_name: str
    enabled: bool
    where: str  # "members.csv:17" for messages
    upn: str = ""  # issue 16: the user principal name, another identifier 7pace may know them by
    id: str = ""  # issue 16: an immutable id (survives renames: the ownership ledger follows it)


@dataclass
class _Group:
    """One group of the export, merged while the file is read: a person once however often listed, so a
    1,000,000-row export costs one entry per person and group rather than one per row."""

    members: dict[str, Person] = field(default_factory=dict)
    unidentified: list[Unidentified] = field(default_factory=list)
    label: str = ""  # the name as first written in the file, for "did you mean"


class FileSource:
    def __init__(self, settings: FileSettings) -> None:
        self._settings = settings
        self._index: dict[str, _Group] | None = None

    @property
    def name(self) -> str:
        return self._settings.name

    def close(self) -> None:
        self._index = None

    def read_group(self, group: str) -> GroupRead:
        index = self._load()
        found = index.get(group.strip().casefold())
        if found is None:
            known = len(index)
            return GroupRead(
                self.name,
                group,
                Health.MISSING,
                detail=f"no rows for group {group!r} in {self._settings.path} ({known} groups in the file)"
                + did_you_mean(group.strip(), [g.label for g in index.values()]),
            )
        return GroupRead(
            self.name,
            group,
            Health.OK,
            tuple(found.members.values()),
            unidentified=tuple(found.unidentified),
        )

    def _load(self) -> dict[str, _Group]:
        if self._index is None:
            index: dict[str, _Group] = {}
            for row in self._rows():
                folded = row.group.casefold()
                entry = index.get(folded)
                if entry is None:
                    entry = index[folded] = _Group(label=row.group.strip())
                if not row.email:
                    continue  # a declaration row: the group exists
                key = normalise_email(row.email)
                if key == row.email:  # already normalised: one string object for key and e-mail
                    key = EmailKey(row.email)
                if key is None:
                    entry.unidentified.append(
                        Unidentified(row.where, row.display_name, f"{row.email!r} is not an e-mail")
                    )
                    continue
                previous = entry.members.get(key)
                # duplicate rows merge; a person listed both enabled and disabled counts as enabled
                if previous is None or (row.enabled and not previous.enabled):
                    upn_key = normalise_identifier(row.upn) if row.upn else None
                    if upn_key == row.upn:  # already normalised: one string object, not two
                        upn_key = EmailKey(row.upn)
                    aliases = (upn_key,) if upn_key is not None and upn_key != key else ()
                    entry.members[key] = Person(
                        key,
                        row.email,
                        row.display_name,
                        row.id,
                        row.enabled,
                        upn=row.upn,
                        aliases=aliases,
                    )
            self._index = index
        return self._index

    def _rows(self) -> Iterator[_Row]:
        path = self._settings.path
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                if self._settings.format == "json":
                    yield from _json_rows(handle.read(), path)
                else:
                    yield from _csv_rows(handle, path, self._settings.delimiter)
        except FileNotFoundError:
            raise SourceUnreachable(f"source {self.name}: export file {path} does not exist") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory, expected a CSV or JSON export") from None
        except UnicodeDecodeError:
            # the decoder's position is within its read buffer, not the file: find the byte again
            line, offset = _not_utf8_at(path)
            raise InputError(f"{path}:{line}: not UTF-8 text (byte {offset}); export as UTF-8") from None
        except OSError as error:
            raise SourceUnreachable(f"source {self.name}: cannot read {path}: {error.strerror}") from None


def _not_utf8_at(path: Path) -> tuple[int, int]:
    """(line, byte offset in the file) of the first byte that is not UTF-8."""
    line = offset = 0
    with path.open("rb") as handle:
        for chunk in handle:  # ends at b"\n", which is never part of a multi-byte sequence
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as error:
                return line + 1 + chunk[: error.start].count(b"\r"), offset + error.start
            line += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            offset += len(chunk)
    return line + 1, offset


def _csv_rows(handle: Iterable[str], path: Path, delimiter: str) -> Iterator[_Row]:
    # strict: an unclosed quote or text after a closing quote is refused, not read as a different value
    # (a quote never closed would otherwise swallow every following row into one field); skipinitialspace:
    # `Users, "a@x.example"` is the quoted address, not one with quote characters in it
    reader = csv.reader(handle, delimiter=delimiter, strict=True, skipinitialspace=True)
    header: list[str] | None = None
    prefix = f"{path}:"
    width = needed = at_group = at_email = at_name = at_enabled = at_upn = at_id = 0
    while True:
        start = reader.line_num + 1  # the line this record starts on (a quoted field may span lines)
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise InputError(
                f"{path}:{start}: malformed CSV: {error}; a field that holds {delimiter!r}, '\"' or a line "
                "break must be enclosed in double quotes, with any '\"' inside it doubled"
            ) from None
        if not "".join(fields).strip():  # a blank or delimiter-only line
            continue
        if header is None:
            header = [f.strip().casefold() for f in fields]
            missing = [c for c in ("group", "email") if c not in header]
            if missing:
                raise InputError(
                    f"{path}:{reader.line_num}: header lacks column(s) {', '.join(missing)}; expected "
                    "group,email[,display_name][,enabled][,upn][,id]"
                )
            if "" in header:
                raise InputError(
                    f"{path}:{reader.line_num}: the header has an empty column name (a stray {delimiter!r} "
                    "at its end?); expected group,email[,display_name][,enabled][,upn][,id]"
                )
            unknown = [c for c in header if c not in _COLUMNS]
            if unknown:
                raise InputError(
                    f"{path}:{reader.line_num}: unknown column(s) {', '.join(unknown)}; allowed: "
                    "group, email, display_name, enabled, upn, id"
                )
            twice = sorted({c for c in header if header.count(c) > 1})
            if twice:
                raise InputError(
                    f"{path}:{reader.line_num}: column(s) {', '.join(twice)} appear more than once; each of "
                    "group, email, display_name, enabled, upn, id at most once"
                )
            width = len(header)
            at_group, at_email = header.index("group"), header.index("email")
            at_name = header.index("display_name") if "display_name" in header else width
            at_enabled = header.index("enabled") if "enabled" in header else width
            at_upn = header.index("upn") if "upn" in header else width
            at_id = header.index("id") if "id" in header else width
            needed = max(at_group, at_email)
            continue
        # the per-row path of a 100,000-row export: plain indexing, one string built per row
        where = prefix + str(start)
        count = len(fields)
        if count > width:
            raise InputError(f"{where}: {count} fields, header has {width}")
        if count <= needed:
            # not an empty e-mail (that is an empty field, "Users,"): the row stops before its e-mail
            raise InputError(
                f"{where}: {count} field(s), header has {width}; every row needs its group and "
                "email fields (declare an empty group with an empty email field)"
            )
        group = fields[at_group].strip()
        if not group:
            raise InputError(f"{where}: group is empty; every row needs a group")
        yield _Row(
            group,
            fields[at_email].strip(),
            fields[at_name].strip() if at_name < count else "",
            _enabled(fields[at_enabled], where) if at_enabled < count else True,
            where,
            fields[at_upn].strip() if at_upn < count else "",
            fields[at_id].strip() if at_id < count else "",
        )
    if header is None:
        raise InputError(
            f"{path}: empty file; expected a header row group,email[,display_name][,enabled][,upn][,id]"
        )


def _json_rows(text: str, path: Path) -> Iterator[_Row]:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:  # json.loads would keep the last and silently drop the rest
                raise InputError(f"{path}: {key!r} appears twice in one object; each group or field once")
            found[key] = value
        return found

    try:
        data: Any = json.loads(text, object_pairs_hook=unique)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None
    except RecursionError:
        raise InputError(
            f"{path}: JSON nested too deeply; expected a list of rows or an object mapping groups to members"
        ) from None
    if isinstance(data, list):
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise InputError(f"{path}: [{i}]: expected an object with group and email")
            yield _row(_strings(item, f"{path}: [{i}]"), f"{path}: [{i}]", path)
    elif isinstance(data, dict):
        for group, members in data.items():
            if not isinstance(members, list):
                raise InputError(f"{path}: {group!r}: expected a list of members")
            if not members:
                yield _Row(group.strip(), "", "", True, f"{path}: {group!r}")
            for i, member in enumerate(members):
                where = f"{path}: {group!r}[{i}]"
                if isinstance(member, str):
                    yield _Row(group.strip(), member.strip(), "", True, where)
                elif isinstance(member, dict):
                    values = _strings(member, f"{path}: {group!r}[{i}]")
                    values["group"] = group
                    yield _row(values, where, path)
                else:
                    raise InputError(f"{path}: {group!r}[{i}]: expected an e-mail string or an object")
    else:
        raise InputError(f"{path}: expected a list of rows or an object mapping groups to members")


def _strings(item: Mapping[str, Any], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in item.items():
        if key not in _COLUMNS:
            raise InputError(
                f"{where}: unknown field {key!r}; allowed: group, email, display_name, enabled, upn, id"
            )
        if isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, str):
            values[key] = value.strip()
        else:
            raise InputError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return values


def _row(values: Mapping[str, str], where: str, path: Path) -> _Row:
    group = values.get("group", "").strip()
    if not group:
        raise InputError(f"{where}: group is empty; every row needs a group")
    return _Row(
        group,
        values.get("email", "").strip(),
        values.get("display_name", "").strip(),
        _enabled(values.get("enabled", ""), where),
        where,
        values.get("upn", "").strip(),
        values.get("id", "").strip(),
    )


def _enabled(text: str, where: str) -> bool:
    folded = text.strip().casefold()
    if folded in _FALSE:
        return False
    if folded in _TRUE or not folded:
        return True
    raise InputError(f"{where}: enabled: {folded!r} is not one of {_ENABLED_WORDS}")


def _open(settings: FileSettings, lookup: SourceLookup) -> Source:
    return FileSource(settings)


SOURCE_TYPE = SourceType(parse=parse, open=_open)
