"""The file source: CSV and JSON exports, read exactly; a missing group is MISSING, never empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.errors import InputError, SourceUnreachable
from syncd.models import Health
from syncd.sources.file import FileSettings, FileSource


def source(path: Path, fmt: str = "csv") -> FileSource:
    return FileSource(FileSettings("hr", path, fmt, ","))


def test_csv_with_bom_crlf_blank_lines_duplicates_and_any_column_order(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(
        "\ufeffemail,Group,enabled,display_name\r\n"
        "Ann@Example.com ,Users,yes,Ann\r\n"
        "\r\n"
        "ann@example.com,users,no,Ann again\r\n"
        "bob@example.com,Users,false,Bob\r\n"
        "not-an-address,Users,,Printer\r\n"
        ",Empty Group,,\r\n".encode()
    )
    read = source(path).read_group("Users")
    assert read.health is Health.OK
    members = {p.key: (p.email, p.display_name, p.enabled) for p in read.members}
    assert members == {
        "ann@example.com": ("Ann@Example.com", "Ann", True),
        "bob@example.com": ("bob@example.com", "Bob", False),
    }
    assert [u.detail for u in read.unidentified] == ["'not-an-address' is not an e-mail"]
    empty = source(path).read_group("empty group")
    assert empty.health is Health.OK and empty.members == ()


def test_group_absent_from_the_file_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("group,email\nUsers,ann@example.com\n", encoding="utf-8")
    read = source(path).read_group("Userz")
    assert read.health is Health.MISSING
    assert read.detail == f"no rows for group 'Userz' in {path} (1 groups in the file); did you mean 'Users'?"


def test_json_both_shapes(tmp_path: Path) -> None:
    rows = tmp_path / "rows.json"
    rows.write_text(
        '[{"group": "G", "email": "a@x.org", "enabled": false}, {"group": "G", "email": "b@x.org"}]'
    )
    read = source(rows, "json").read_group("G")
    assert sorted((p.key, p.enabled) for p in read.members) == [("a@x.org", False), ("b@x.org", True)]
    groups = tmp_path / "groups.json"
    groups.write_text('{"G": ["c@x.org", {"email": "d@x.org", "display_name": "D"}], "Empty": []}')
    assert sorted(p.key for p in source(groups, "json").read_group("G").members) == ["c@x.org", "d@x.org"]
    empty = source(groups, "json").read_group("Empty")
    assert empty.health is Health.OK and empty.members == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "email\nann@example.com\n",
            "header lacks column(s) group; expected group,email[,display_name][,enabled]",
        ),
        (
            "group,email,dept\nG,a@x.org,IT\n",
            "unknown column(s) dept; allowed: group, email, display_name, enabled",
        ),
        (
            "group,email,enabled\nG,a@x.org,maybe\n",
            "enabled: 'maybe' is not one of true, yes, y, 1, enabled (or empty); false, no, n, 0, disabled",
        ),
        ("group,email\nG,a@x.org,extra\n", "3 fields, header has 2"),
        (
            "group,email,\nG,a@x.org,\n",
            "m.csv:1: the header has an empty column name (a stray ',' at its end?)",
        ),
        ("", "empty file; expected a header row"),
    ],
)
def test_bad_csv_is_one_line_naming_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        source(path).read_group("G")
    text = str(caught.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_a_quoted_field_after_a_space_is_the_quoted_value(tmp_path: Path) -> None:
    """`Users, "a@x.org"` (a space after the delimiter, as hand-edited exports have) is the address inside the
    quotes, not one with quote characters in it that would never match a licensed user."""
    path = tmp_path / "m.csv"
    path.write_text('group, email, display_name\nG, "a@x.org", "Lee, Ann"\n', encoding="utf-8")
    read = source(path).read_group("G")
    assert [(p.key, p.display_name) for p in read.members] == [("a@x.org", "Lee, Ann")]


def test_missing_file_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnreachable, match=r"export file .* does not exist"):
        source(tmp_path / "gone.csv").read_group("G")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"group,email\nG,\xe9@x.org\n")
    with pytest.raises(InputError, match="not UTF-8"):
        source(path).read_group("G")
