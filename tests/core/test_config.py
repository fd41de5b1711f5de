"""Configuration: every class of bad input gives exit 2 and an exact one-line message, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncd import config as config_module
from syncd.cli import main
from syncd.errors import ConfigError

GOOD = """\
[target]
type = "timetracker"
url = "https://contoso.timehub.7pace.com"
token = {{ env = "SYNCD_TEST_TOKEN" }}

[[sources]]
name = "hr"
type = "file"
path = "members.csv"

[[rules]]
source = "hr"
group = "Timetracker Users"
role = "Team"
{extra}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "members.csv").write_text(
        "group,email\nTimetracker Users,ann@example.com\n", encoding="utf-8"
    )
    monkeypatch.setenv("SYNCD_TEST_TOKEN", "sentinel-token-value")
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    return tmp_path


def write(workdir: Path, text: str) -> Path:
    path = workdir / "syncd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_module.load(path)
    return caught.value.lines


def test_good_config_loads_with_defaults(workdir: Path) -> None:
    config = config_module.load(write(workdir, GOOD.format(extra="")))
    assert config.role_order == ("Administrator", "Budget", "Product", "Team")
    assert config.policy.unmanaged == "keep" and config.policy.grace.total_seconds() == 86400
    # one state folder per target by default (issue 21), inside the former default `state/`
    assert config.state_dir.parent == workdir / "state" and config.audit_dir == workdir / "logs"
    assert config.state_dir.name.startswith("timetracker-") and config.legacy_state_dir == workdir / "state"
    assert [r.identity for r in config.rules] == ["hr:Timetracker Users→Team"]
    assert "sentinel-token-value" not in repr(config)


def test_syntax_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(workdir, "[target\nurl = 1\n")
    assert main(["check", "--offline", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"syncd: error: {path}: TOML syntax error: ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unknown_key_with_did_you_mean(workdir: Path) -> None:
    path = write(workdir, GOOD.format(extra="[policy]\nmax_removal = 5\n"))
    (line,) = errors_of(path)
    assert line.startswith(f"{path}: policy.max_removal: unknown key; did you mean 'max_removals'?")


def test_wrong_type(workdir: Path) -> None:
    path = write(workdir, GOOD.format(extra='[policy]\nmax_removals = "ten"\n'))
    assert errors_of(path) == [f"{path}: policy.max_removals: expected an integer, got a string 'ten'"]


def test_bad_url(workdir: Path) -> None:
    text = GOOD.format(extra="").replace("https://contoso.timehub.7pace.com", "contoso.timehub.7pace.com")
    (line,) = errors_of(write(workdir, text))
    assert "target.url: 'contoso.timehub.7pace.com' is not a URL" in line


def test_unknown_role_with_did_you_mean(workdir: Path) -> None:
    path = write(workdir, GOOD.format(extra="").replace('role = "Team"', 'role = "Admnistrator"'))
    assert errors_of(path) == [
        f"{path}: rules[0].role: 'Admnistrator' is not one of: Administrator, Budget, Product, Team, None "
        "(did you mean 'Administrator'?)"
    ]


def test_rule_naming_an_undefined_source(workdir: Path) -> None:
    path = write(workdir, GOOD.format(extra="").replace('source = "hr"', 'source = "hrr"'))
    assert errors_of(path) == [
        f"{path}: rules[0].source: no [[sources]] is named 'hrr' (did you mean 'hr'?) (defined: hr)"
    ]


def test_missing_secret(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCD_TEST_TOKEN")
    path = write(workdir, GOOD.format(extra=""))
    assert errors_of(path) == [f"{path}: target.token: environment variable SYNCD_TEST_TOKEN is not set"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX mode bits")
def test_world_readable_secret_file(workdir: Path) -> None:
    secret = workdir / "token.txt"
    secret.write_text("sentinel-token-value\n", encoding="utf-8")
    secret.chmod(0o644)
    text = GOOD.format(extra="").replace('{ env = "SYNCD_TEST_TOKEN" }', '{ file = "token.txt" }')
    path = write(workdir, text)
    assert errors_of(path) == [
        f"{path}: target.token: secret file {secret} is readable by group or others (mode 0644); "
        f"run: chmod 600 {secret}"
    ]


def test_literal_secret_is_refused_without_echoing_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.format(extra="").replace('{ env = "SYNCD_TEST_TOKEN" }', '"sentinel-literal-token"')
    path = write(workdir, text)
    assert main(["check", "--offline", "-c", str(path)]) == 2
    captured = capsys.readouterr()
    assert "secrets must not be written into the config" in captured.err
    assert "sentinel-literal-token" not in captured.err + captured.out


def test_all_problems_in_one_pass(workdir: Path) -> None:
    extra = '[policy]\nunmanaged = "delete"\ngrace = "soon"\nmax_removal_percent = 150\n[roles]\norder = []\n'
    lines = errors_of(write(workdir, GOOD.format(extra=extra)))
    assert len(lines) == 5, lines
    assert any("policy.unmanaged: 'delete' is not one of: keep, remove" in line for line in lines)
    assert any("policy.grace: 'soon' is not a duration" in line for line in lines)
    assert any("max_removal_percent: 150 is out of range" in line for line in lines)
    assert any("roles.order: must list at least one role" in line for line in lines)


def test_missing_export_file_and_directory_as_file(workdir: Path) -> None:
    (workdir / "members.csv").unlink()
    (workdir / "logs").write_text("not a dir", encoding="utf-8")
    path = write(workdir, GOOD.format(extra=""))
    lines = errors_of(path)
    assert f"{path}: sources[0].path: file {workdir / 'members.csv'} does not exist" in lines
    assert f"{path}: audit.dir: {workdir / 'logs'} exists and is not a directory" in lines


def test_paths_created_on_first_use_must_be_creatable(workdir: Path) -> None:
    """A state folder, audit folder or metrics file under a *file* could never be created: exit 2 at load,
    not an error in the middle of a cycle that has already changed seats."""
    (workdir / "a-file").write_text("not a directory", encoding="utf-8")
    (workdir / "a-dir").mkdir()
    path = write(
        workdir,
        'metrics_file = "a-file/metrics.prom"\n'
        + GOOD.format(extra='[state]\ndir = "a-file/state"\n[audit]\ndir = "a-dir"\n'),
    )
    lines = errors_of(path)
    assert (
        f"{path}: metrics_file: {workdir / 'a-file/metrics.prom'} cannot be created: {workdir / 'a-file'} is not a directory"
        in lines
    )
    assert (
        f"{path}: state.dir: {workdir / 'a-file/state'} cannot be created: {workdir / 'a-file'} is not a directory"
        in lines
    )
    assert len(lines) == 2, lines
    path = write(workdir, 'metrics_file = "a-dir"\n' + GOOD.format(extra=""))
    assert errors_of(path) == [
        f"{path}: metrics_file: {workdir / 'a-dir'} is a directory; a file name is needed here"
    ]


def test_config_located_by_env_then_cwd(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_CONFIG", str(workdir / "elsewhere.toml"))
    assert config_module.locate(None) == workdir / "elsewhere.toml"
    assert config_module.locate("x.toml") == Path("x.toml")
    monkeypatch.delenv("SYNCD_CONFIG")
    assert config_module.locate(None) == Path("syncd.toml")


def test_missing_config_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "-c", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    for name in (
        "SYNCD_TIMETRACKER_TOKEN",
        "SYNCD_LDAP_PASSWORD",
        "SYNCD_ADO_PAT",
        "SYNCD_ENTRA_SECRET",
        "SYNCD_SMTP_PASSWORD",
        "SYNCD_TEAMS_WEBHOOK_URL",
    ):
        monkeypatch.setenv(name, "sentinel")
    # the example's relative files live beside a copy, as they would beside a real config
    copy = tmp_path / "syncd.toml"
    copy.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "members.csv").write_text("group,email\n", encoding="utf-8")
    config = config_module.load(copy)
    assert {s.type for s in config.sources} >= {"file"}
    assert config.rules


def test_expand_windows_with_must_name_an_ldap_source(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_TEST_PAT", "sentinel")
    extra = '[[sources]]\nname = "ado"\ntype = "azure_devops"\nserver_url = "https://tfs.corp.example/tfs/DefaultCollection"\npat = { env = "SYNCD_TEST_PAT" }\nexpand_windows_with = "hr"\n'
    path = write(workdir, GOOD.format(extra=extra))
    assert errors_of(path) == [
        f"{path}: sources[1].expand_windows_with: 'hr' is a file source; name a [[sources]] entry with type = \"ldap\""
    ]


def test_expand_entra_with_must_name_an_entra_source(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_TEST_PAT", "sentinel")
    extra = '[[sources]]\nname = "ado"\ntype = "azure_devops"\norganization = "contoso"\npat = { env = "SYNCD_TEST_PAT" }\nexpand_entra_with = "hr"\n'
    path = write(workdir, GOOD.format(extra=extra))
    assert errors_of(path) == [
        f"{path}: sources[1].expand_entra_with: 'hr' is a file source; name a [[sources]] entry with type = \"entra\""
    ]
