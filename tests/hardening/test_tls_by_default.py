"""TLS by default: a peer whose certificate comes from a private CA is refused unless `ca_bundle` names that
CA, and there is no switch that turns verification off quietly.

Every HTTPS peer syncd talks to is covered through the CLI (`check`, then `plan`): the 7pace target, the
Azure DevOps source (with a PAT, and with a service principal, whose token comes from the Entra authority)
and the Entra source (its authority and Microsoft Graph, on servers with certificates from different CAs so
each connection is shown to verify on its own). A refusal must be exit 5, with exactly one report line
(`check`'s FAIL line, or syncd's own `syncd: …` line on stderr) naming the peer, "TLS verification … failed"
and OpenSSL's reason, no traceback, and no request reaching the peer; the same config with `ca_bundle`
naming the CA must work (and reach it).
`REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` must not beat an explicit `ca_bundle` (either way round), nor switch
verification off when empty. Plain `http://` URLs that would carry a credential are refused at config time
(exit 2) unless the documented `allow_insecure_http = true` is set, and the usual names of a "skip
verification" switch (`verify = false`, `verify_tls = false`, …) are unknown keys (exit 2) in every table.

LDAP: `ldaps://` / StartTLS against a DC whose CA is not configured is covered at the connection level by
tests/ldap/test_samba_connection.py; here one CLI-level row each (Samba), plus the config-time refusal of a
clear-text bind.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulators.authority import AuthorityEmulator, RegisteredApp
from syncd.emulators.azure_devops import AdoDirectory, AzureDevOpsEmulator
from syncd.emulators.graph import EntraDirectory, GraphEmulator
from syncd.emulators.http_server import EmulatorServer
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.emulators.tls import TestCA
from tests.ldap import ad_dataset as dataset

SECTION = "TLS by default"
COLUMNS = ["peer", "certificate / URL", "setting", "expected", "exit"]
TOKEN = "tls-by-default-7pace-token"
PAT = "tls-by-default-azure-devops-pat-0123456789abcdefghij"
CLIENT_SECRET = "tls-by-default-client-secret~0123456789"
TENANT = "45aa3d2d-7442-473d-b4d3-3c670da9dd96"
CLIENT_ID = "0c1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"
ADO_RESOURCE = "499b84ac-1321-427f-aa17-267ca6975798"
PEOPLE = ("ann@example.com", "bob@example.com")
# the one line a refusal must produce: the peer, "TLS verification … failed", and OpenSSL's reason
TLS_LINE = re.compile(r"TLS verification of .+ failed \(.*certificate verify failed: .+\)")


# -- the peers ------------------------------------------------------------------------------------------------


@dataclass
class Peers:
    """Everything the cases point at, started once for the module (the cases only read, so they share)."""

    ca: TestCA  # signs the certificates of the 7pace target, Azure DevOps, the authority and Graph
    other: TestCA  # another private CA: signs the second Graph's certificate; a "wrong" ca_bundle
    wrong_name: TestCA  # a CA whose one certificate names another host (served on 127.0.0.1)
    target: TimetrackerEmulator  # HTTPS, certificate from `ca`
    target_wrong_name: TimetrackerEmulator  # HTTPS, certificate for syncd-other-name.invalid
    target_http: TimetrackerEmulator  # plain HTTP
    authority: AuthorityEmulator  # `ca`
    graph: GraphEmulator  # `ca`
    graph_other: GraphEmulator  # `other`
    ado: AzureDevOpsEmulator  # `ca`
    ado_http: AzureDevOpsEmulator  # plain HTTP, same directory
    entra_group: str
    servers: list[EmulatorServer] = field(default_factory=list)


def _serve(emulator: Any, ca: TestCA | None, servers: list[EmulatorServer]) -> None:
    server = EmulatorServer(emulator.handle, ssl_context=ca.server_context() if ca else None).start()
    servers.append(server)
    emulator.base_url = server.base_url


@pytest.fixture(scope="module")
def peers(test_ca: TestCA) -> Iterator[Peers]:
    other = TestCA()
    wrong_name = TestCA(hosts=("syncd-other-name.invalid",))
    org = [EmulatedUser(email) for email in PEOPLE]
    quiet: dict[str, Any] = {"token": TOKEN, "quota_per_second": None, "quota_per_minute": None}
    target = TimetrackerEmulator(org, ssl_context=test_ca.server_context(), **quiet)
    target_wrong_name = TimetrackerEmulator(org, ssl_context=wrong_name.server_context(), **quiet)
    target_http = TimetrackerEmulator(org, **quiet)

    authority = AuthorityEmulator({CLIENT_ID: RegisteredApp(tenant=TENANT, secret=CLIENT_SECRET)})
    entra_dir = EntraDirectory()
    entra_group = entra_dir.add_group("Engineering")
    for email in PEOPLE:
        entra_dir.add_member(entra_group, entra_dir.add_user(email))
    graph = GraphEmulator(entra_dir, token_check=authority.token_check())
    graph_other = GraphEmulator(entra_dir, token_check=authority.token_check())
    ado_dir = AdoDirectory(organization="contoso", tenant=TENANT)
    group = ado_dir.add_group("Users")
    for email in PEOPLE:
        ado_dir.add_member(group, ado_dir.add_user(email))
    sp_tokens = authority.token_check(ADO_RESOURCE)
    ado = AzureDevOpsEmulator(ado_dir, pats={PAT}, token_check=sp_tokens)
    ado_http = AzureDevOpsEmulator(ado_dir, pats={PAT}, token_check=sp_tokens)

    state = Peers(
        test_ca, other, wrong_name, target, target_wrong_name, target_http, authority, graph, graph_other,
        ado, ado_http, entra_group,
    )  # fmt: skip
    with contextlib.ExitStack() as stack:
        for emulator in (target, target_wrong_name, target_http):
            stack.enter_context(emulator)
        try:
            for emulator, ca in (
                (authority, test_ca),
                (graph, test_ca),
                (graph_other, other),
                (ado, test_ca),
                (ado_http, None),
            ):
                _serve(emulator, ca, state.servers)
            yield state
        finally:
            for server in state.servers:
                server.stop()


# -- a config per case ----------------------------------------------------------------------------------------


def _secret(folder: Path, name: str, value: str) -> None:
    path = folder / name
    path.write_text(value, encoding="utf-8")
    path.chmod(0o600)


def prepare(folder: Path, peers: Peers) -> None:
    """Secrets (chmod 600), an export, and the CA files a case may name."""
    _secret(folder, "token.txt", TOKEN)
    _secret(folder, "pat.txt", PAT)
    _secret(folder, "client-secret.txt", CLIENT_SECRET)
    (folder / "members.csv").write_text("group,email\n" + "".join(f"Users,{e}\n" for e in PEOPLE))
    peers.ca.write_ca(folder / "ca.pem")
    peers.other.write_ca(folder / "other-ca.pem")
    peers.wrong_name.write_ca(folder / "wrong-name-ca.pem")
    (folder / "both-cas.pem").write_bytes(peers.ca.ca_pem + peers.other.ca_pem)


def target_table(url: str, extra: str = "") -> str:
    return f'[target]\nurl = "{url}"\ntoken = {{ file = "token.txt" }}\n{extra}\n'


def file_source() -> str:
    return (
        '[[sources]]\nname = "hr"\ntype = "file"\npath = "members.csv"\n\n'
        '[[rules]]\nsource = "hr"\ngroup = "Users"\nrole = "Team"\n'
    )


def ado_source(url_key: str, url: str, extra: str, *, principal: str = "") -> str:
    organization = 'organization = "contoso"\n' if url_key == "vssps_url" else ""
    auth = principal or 'pat = { file = "pat.txt" }\n'
    return (
        f'[[sources]]\nname = "ado"\ntype = "azure_devops"\n{organization}{auth}{url_key} = "{url}"\n{extra}\n\n'
        '[[rules]]\nsource = "ado"\ngroup = "[contoso]\\\\Users"\nrole = "Team"\n'
    )


def principal(peers: Peers, authority_url: str | None = None) -> str:
    return (
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT_ID}"\nclient_secret = {{ file = "client-secret.txt" }}\n'
        f'authority_url = "{authority_url or peers.authority.base_url}"\n'
    )


def entra_source(
    peers: Peers, extra: str, *, graph_url: str | None = None, authority_url: str | None = None
) -> str:
    return (
        f'[[sources]]\nname = "aad"\ntype = "entra"\n{principal(peers, authority_url)}'
        f'graph_url = "{graph_url or peers.graph.base_url}"\n{extra}\n\n'
        f'[[rules]]\nsource = "aad"\ngroup = "{peers.entra_group}"\nrole = "Team"\n'
    )


def ldap_source(url: str, extra: str, user: str = "svc@example.com", password_file: str = "pat.txt") -> str:
    return (
        f'[[sources]]\nname = "corp"\ntype = "ldap"\nurl = "{url}"\nbind_user = "{user}"\n'
        f'bind_password = {{ file = "{password_file}" }}\nbase_dn = "DC=test,DC=example,DC=com"\n{extra}\n\n'
        '[[rules]]\nsource = "corp"\ngroup = "CycleY"\nrole = "Team"\n'
    )


def verified_target(peers: Peers) -> str:
    """The target as it should be configured, for the cases about a source."""
    return target_table(peers.target.base_url, 'ca_bundle = "ca.pem"')


@dataclass(frozen=True)
class Case:
    peer: str
    certificate: str  # what the peer presents, or the URL form
    setting: str  # what the config (or the environment) says
    expected: int  # the exit code of every command
    config: Callable[[Peers], str]
    id: str
    watch: str  # the Peers attribute of the emulator under test: a refused one must receive no request
    says: str | None = None  # a refusal's report line must match this ("TLS": TLS_LINE)
    env: dict[str, str] = field(default_factory=dict)
    commands: tuple[tuple[str, ...], ...] = (("check",), ("plan",))


PRIVATE = "private CA"
OFFLINE = (("check", "--offline"), ("plan",))


def target_case(setting: str, expected: int, extra: str, case_id: str, **more: Any) -> Case:
    certificate = more.pop("certificate", PRIVATE)
    url = more.pop("url", lambda p: p.target.base_url)
    return Case(
        "7pace target", certificate, setting, expected,
        lambda p: target_table(url(p), extra) + file_source(), case_id, more.pop("watch", "target"), **more,
    )  # fmt: skip


def ado_case(peer: str, setting: str, expected: int, extra: str, case_id: str, **more: Any) -> Case:
    key = "server_url" if "Server" in peer else "vssps_url"
    http = more.pop("http", False)
    sp = "service principal" in peer

    def config(p: Peers) -> str:
        emulator = p.ado_http if http else p.ado
        url = emulator.collection_url if key == "server_url" else emulator.base_url
        return verified_target(p) + ado_source(key, url, extra, principal=principal(p) if sp else "")

    watch = "ado_http" if http else ("authority" if sp and expected else "ado")
    certificate = more.pop("certificate", PRIVATE)
    return Case(peer, certificate, setting, expected, config, case_id, watch, **more)


def entra_case(peer: str, setting: str, expected: int, extra: str, case_id: str, **more: Any) -> Case:
    graph = more.pop("graph", None)
    authority = more.pop("authority", None)
    certificate = more.pop("certificate", PRIVATE)

    def config(p: Peers) -> str:
        return verified_target(p) + entra_source(
            p, extra, graph_url=graph(p) if graph else None, authority_url=authority
        )

    watch = more.pop("watch", "authority")
    return Case(peer, certificate, setting, expected, config, case_id, watch, **more)


ADO = "azure_devops (PAT)"
ADO_SERVER = "azure_devops (Server, PAT)"
ADO_SP = "azure_devops (service principal) + its token authority"
AUTHORITY = "entra: token authority"
BOTH = "entra: authority + Graph"
GRAPH = "entra: Graph"
OTHER_THAN_AUTHORITY = "private CA other than the authority's"
CA = 'ca_bundle = "ca.pem"'
OTHER = 'ca_bundle = "other-ca.pem"'
CASES: list[Case] = [
    # -- the 7pace target --------------------------------------------------------------------------------------
    target_case("no ca_bundle", 5, "", "target-no-ca", says="TLS"),
    target_case("ca_bundle = another CA", 5, OTHER, "target-other-ca", says="TLS"),
    target_case("ca_bundle = its CA", 0, CA, "target-ca"),
    target_case("ca_bundle = its CA", 5, 'ca_bundle = "wrong-name-ca.pem"', "target-wrong-name", says="TLS",
                certificate="private CA, certificate names another host",
                url=lambda p: p.target_wrong_name.base_url, watch="target_wrong_name"),
    target_case("allow_insecure_http = true, no ca_bundle", 5, "allow_insecure_http = true",
                "target-allow-http-still-verifies", says="TLS"),
    target_case("ca_bundle = its CA; REQUESTS_CA_BUNDLE = another CA", 0, CA, "target-env-loses",
                env={"REQUESTS_CA_BUNDLE": "other-ca.pem"}),
    target_case("ca_bundle = another CA; REQUESTS_CA_BUNDLE = its CA", 5, OTHER, "target-env-cannot-rescue",
                says="TLS", env={"REQUESTS_CA_BUNDLE": "ca.pem"}),
    target_case("ca_bundle = another CA; CURL_CA_BUNDLE = its CA", 5, OTHER, "target-curl-env-cannot-rescue",
                says="TLS", env={"CURL_CA_BUNDLE": "ca.pem"}),
    target_case('no ca_bundle; REQUESTS_CA_BUNDLE = CURL_CA_BUNDLE = ""', 5, "", "target-empty-env",
                says="TLS", env={"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}),
    # -- Azure DevOps ------------------------------------------------------------------------------------------
    ado_case(ADO, "no ca_bundle", 5, "", "ado-no-ca", says="TLS"),
    ado_case(ADO, "ca_bundle = another CA", 5, OTHER, "ado-other-ca", says="TLS"),
    ado_case(ADO, "ca_bundle = its CA", 0, CA, "ado-ca"),
    ado_case(ADO, "ca_bundle = its CA; REQUESTS_CA_BUNDLE = another CA", 0, CA, "ado-env-loses",
             env={"REQUESTS_CA_BUNDLE": "other-ca.pem"}),
    ado_case(ADO, "ca_bundle = another CA; REQUESTS_CA_BUNDLE = its CA", 5, OTHER, "ado-env-cannot-rescue",
             says="TLS", env={"REQUESTS_CA_BUNDLE": "ca.pem"}),
    ado_case(ADO, "allow_insecure_http = true, no ca_bundle", 5, "allow_insecure_http = true",
             "ado-allow-http-still-verifies", says="TLS"),
    ado_case(ADO_SERVER, "no ca_bundle", 5, "", "ado-server-no-ca", says="TLS"),
    ado_case(ADO_SERVER, "ca_bundle = its CA", 0, CA, "ado-server-ca"),
    ado_case(ADO_SP, "no ca_bundle", 5, "", "ado-sp-no-ca", says="TLS"),
    ado_case(ADO_SP, "ca_bundle = its CA", 0, CA, "ado-sp-ca"),
    # -- Entra ID ----------------------------------------------------------------------------------------------
    entra_case(AUTHORITY, "no ca_bundle", 5, "", "entra-no-ca", says="TLS"),
    entra_case(AUTHORITY, "ca_bundle = another CA", 5, OTHER, "entra-other-ca", says="TLS"),
    entra_case(BOTH, "ca_bundle = their CA", 0, CA, "entra-ca"),
    entra_case(GRAPH, "ca_bundle = the authority's CA only", 5, CA, "entra-graph-other-ca", says="TLS",
               certificate=OTHER_THAN_AUTHORITY, graph=lambda p: p.graph_other.base_url, watch="graph_other"),
    entra_case(GRAPH, "ca_bundle = both CAs", 0, 'ca_bundle = "both-cas.pem"', "entra-graph-both-cas",
               certificate=OTHER_THAN_AUTHORITY, graph=lambda p: p.graph_other.base_url),
    entra_case(BOTH, "ca_bundle = their CA; REQUESTS_CA_BUNDLE = another CA", 0, CA, "entra-env-loses",
               env={"REQUESTS_CA_BUNDLE": "other-ca.pem"}),
    entra_case(AUTHORITY, "ca_bundle = another CA; REQUESTS_CA_BUNDLE = its CA", 5, OTHER,
               "entra-env-cannot-rescue", says="TLS", env={"REQUESTS_CA_BUNDLE": "ca.pem"}),
    # -- plain HTTP: refused before anything is sent, unless allowed -------------------------------------------
    target_case("(nothing)", 2, "", "target-http", certificate="http:// URL", url=lambda p: p.target_http.base_url,
                watch="target_http", says="would send the API token unencrypted", commands=OFFLINE),
    target_case("allow_insecure_http = true", 0, "allow_insecure_http = true", "target-http-allowed",
                certificate="http:// URL", url=lambda p: p.target_http.base_url, watch="target_http"),
    ado_case(ADO, "(nothing)", 2, "", "ado-http", certificate="http:// vssps_url", http=True,
             says="vssps_url: 'http://127.0.0.1", commands=OFFLINE),
    ado_case(ADO_SERVER, "(nothing)", 2, "", "ado-server-http", certificate="http:// server_url", http=True,
             says="server_url: 'http://127.0.0.1", commands=OFFLINE),
    ado_case(ADO, "allow_insecure_http = true", 0, "allow_insecure_http = true", "ado-http-allowed",
             certificate="http:// vssps_url", http=True),
    entra_case(GRAPH, "(nothing)", 2, CA, "entra-graph-http", certificate="http:// graph_url",
               graph=lambda p: p.target_http.base_url, watch="target_http", says="graph_url", commands=OFFLINE),
    entra_case(AUTHORITY, "(nothing)", 2, CA, "entra-authority-http", certificate="http:// authority_url",
               authority="http://127.0.0.1:9", says="authority_url", commands=OFFLINE),
    entra_case(GRAPH, "allow_insecure_http = true (not an entra key)", 2, "allow_insecure_http = true",
               "entra-graph-http-no-switch", certificate="http:// graph_url",
               graph=lambda p: p.target_http.base_url, watch="target_http",
               says="allow_insecure_http: unknown key", commands=OFFLINE),
]  # fmt: skip


def _report_lines(out: str, err: str) -> list[str]:
    """What an operator reads as the verdict: `check`'s FAIL lines, and syncd's own stderr lines."""
    return [line for line in out.splitlines() if line.startswith("FAIL ")] + [
        line for line in err.splitlines() if line.startswith("syncd: ")
    ]


def run_command(config: Path, command: tuple[str, ...]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([command[0], "-c", str(config), *command[1:]])
    return code, out.getvalue(), err.getvalue()


def verdict(command: str, code: int, out: str, err: str, expected: int, says: str | None) -> list[str]:
    """What is wrong with one command's outcome (empty when it is as expected)."""
    problems: list[str] = []
    if code != expected:
        problems.append(f"{command}: exit {code}, expected {expected}: {(out + err)[-800:]}")
    if "Traceback" in out + err:
        problems.append(f"{command}: a traceback was printed")
    if says is not None:
        needle = TLS_LINE if says == "TLS" else re.compile(re.escape(says))
        matching = [line for line in _report_lines(out, err) if needle.search(line)]
        if len(matching) != 1:
            problems.append(
                f"{command}: {len(matching)} report line(s) match {says!r}, expected 1: {out + err}"
            )
    if expected == 2 and any(not line.startswith("syncd: error:") for line in err.splitlines()):
        problems.append(f"{command}: a config error line does not start with 'syncd: error:': {err}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_peer_certificates_and_urls(
    case: Case, peers: Peers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: Callable[..., None]
) -> None:
    """Each command's exit code; a refusal reported on one line (TLS: with OpenSSL's reason), no traceback;
    a refused peer never received a request (the handshake failed, or nothing was sent at all)."""
    prepare(tmp_path, peers)
    config = tmp_path / "syncd.toml"
    config.write_text(case.config(peers), encoding="utf-8")
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, str(tmp_path / value) if value else "")
    watched = getattr(peers, case.watch)
    before = watched.count()
    problems: list[str] = []
    codes: list[str] = []
    for command in case.commands:
        name = " ".join(command)
        code, out, err = run_command(config, command)
        codes.append(f"{name} {code}")
        problems += verdict(name, code, out, err, case.expected, case.says)
    received = watched.count() - before
    if case.expected != 0 and received:
        problems.append(f"the refused peer received {received} request(s)")
    if case.expected == 0 and not received:
        problems.append("the peer received no request: the case tested nothing")
    record(
        SECTION,
        COLUMNS,
        [case.peer, case.certificate, case.setting, EXPECTED[case.expected], ", ".join(codes)],
        (0, CASES.index(case)),
    )
    assert problems == []


EXPECTED = {0: "works (0)", 2: "config error (2)", 5: "refused (5)"}

# -- no "skip verification" switch anywhere ---------------------------------------------------------------------

SWITCHES = ("verify", "verify_tls", "verify_ssl", "tls_verify", "ssl_verify", "insecure", "validate")


def switch_configs(peers: Peers) -> dict[str, tuple[str, str]]:
    """A valid config (check --offline passes) per table that takes a URL, split where a switch would go:
    (everything up to the end of that table, the rest)."""
    ldap = ldap_source("ldaps://127.0.0.1:9", CA)

    def split(config: str) -> tuple[str, str]:
        head, _, rules = config.partition("\n\n[[rules]]")
        return head + "\n", "\n[[rules]]" + rules

    target_head, target_tail = target_table(peers.target.base_url, CA), file_source()
    return {
        "[target]": (target_head, target_tail),
        "[[sources]] azure_devops": split(
            verified_target(peers) + ado_source("vssps_url", peers.ado.base_url, CA)
        ),
        "[[sources]] entra": split(verified_target(peers) + entra_source(peers, CA)),
        "[[sources]] ldap": split(verified_target(peers) + ldap),
    }


TABLES = ["[target]", "[[sources]] azure_devops", "[[sources]] entra", "[[sources]] ldap"]


@pytest.mark.parametrize("table", TABLES, ids=[t.split()[-1].strip("[]") for t in TABLES])
def test_no_switch_turns_verification_off(
    table: str, peers: Peers, tmp_path: Path, record: Callable[..., None]
) -> None:
    """`verify = false` and its usual spellings are unknown keys (exit 2, naming the key) in every table that
    takes a URL — a typo'd or copied switch cannot quietly do nothing either, it stops the run. The same
    table without the switch is valid, so the switch alone is what is refused."""
    prepare(tmp_path, peers)
    head, tail = switch_configs(peers)[table]
    config = tmp_path / "syncd.toml"
    problems: list[str] = []
    config.write_text(head + tail, encoding="utf-8")
    code, out, err = run_command(config, ("check", "--offline"))
    if code != 0:
        problems.append(f"the table without a switch: exit {code}: {err}")
    refused = 0
    for switch in SWITCHES:
        for value in ("false", "true"):
            config.write_text(head + f"{switch} = {value}\n" + tail, encoding="utf-8")
            code, out, err = run_command(config, ("check", "--offline"))
            found = verdict(f"{switch} = {value}", code, out, err, 2, f".{switch}: unknown key")
            refused += not found
            problems += found
    record(
        SECTION,
        COLUMNS,
        [table.split()[-1].strip("[]"), "(config only)", " / ".join(f"{s} = false" for s in SWITCHES), EXPECTED[2],
         f"check --offline 2 for {refused} of {2 * len(SWITCHES)} (each also = true)"],
        (1, TABLES.index(table)),
    )  # fmt: skip
    assert problems == []


def test_ca_bundle_cannot_be_false_or_empty(
    peers: Peers, tmp_path: Path, record: Callable[..., None]
) -> None:
    """requests takes `verify=False`; `ca_bundle = false` (or "") must not become that: exit 2."""
    prepare(tmp_path, peers)
    config = tmp_path / "syncd.toml"
    problems: list[str] = []
    for order, (value, says) in enumerate(
        (("false", "ca_bundle: expected a path"), ('""', "ca_bundle: must not be empty"))
    ):
        config.write_text(
            target_table(peers.target.base_url, f"ca_bundle = {value}") + file_source(), encoding="utf-8"
        )
        code, out, err = run_command(config, ("plan",))
        problems += verdict(f"ca_bundle = {value}", code, out, err, 2, says)
        record(
            SECTION,
            COLUMNS,
            ["7pace target", PRIVATE, f"ca_bundle = {value}", EXPECTED[2], f"plan {code}"],
            (2, order),
        )
    assert problems == []


def test_no_code_path_disables_verification() -> None:
    """Belt and braces for the rows above: nothing in syncd's client code (the emulators are servers)
    switches certificate or host name checks off, so no untested path can either."""
    root = Path(__file__).resolve().parents[2] / "syncd"
    forbidden = re.compile(
        r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|_create_unverified_context|"
        r"disable_warnings|InsecureRequestWarning"
    )
    files = [p for p in root.rglob("*.py") if "emulators" not in p.parts]
    found = [
        f"{path.relative_to(root.parent)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line)
    ]
    assert len(files) > 20  # the scan looked at syncd's modules
    assert found == []


# -- LDAP --------------------------------------------------------------------------------------------------------


def test_ldap_clear_text_bind_needs_allow_plaintext(
    peers: Peers, tmp_path: Path, record: Callable[..., None]
) -> None:
    """ldap:// with StartTLS switched off would send the bind password in clear text: a config error unless
    allow_plaintext = true (checked offline: no DC needed)."""
    prepare(tmp_path, peers)
    config = tmp_path / "syncd.toml"
    problems: list[str] = []
    for order, (settings, expected) in enumerate(
        ((["starttls = false"], 2), (["starttls = false", "allow_plaintext = true"], 0))
    ):
        source = ldap_source("ldap://127.0.0.1:9", "\n".join(settings))
        config.write_text(verified_target(peers) + source, encoding="utf-8")
        code, out, err = run_command(config, ("check", "--offline"))
        problems += verdict(", ".join(settings), code, out, err, expected, "clear text" if expected else None)
        cells = [
            "ldap source",
            "ldap:// URL",
            ", ".join(settings),
            EXPECTED[expected],
            f"check --offline {code}",
        ]
        record(SECTION, COLUMNS, cells, (3, order))
    assert problems == []


@pytest.mark.samba
def test_ldap_dc_with_a_private_ca(
    killable_dc: Any, peers: Peers, tmp_path: Path, record: Callable[..., None]
) -> None:
    """The Samba DC's self-signed certificate, through the CLI: ldaps:// and StartTLS are refused (exit 5,
    one line saying the certificate is not trusted) without ca_bundle, and work with it. The connection-level
    cases (wrong name, wrong CA, …) are in tests/ldap/test_samba_connection.py."""
    prepare(tmp_path, peers)
    _secret(tmp_path, "ldap.txt", dataset.SERVICE_PASSWORD)
    config = tmp_path / "syncd.toml"
    server_name = 'tls_server_name = "DC1.test.example.com"'
    rows = [
        ("ldaps://", killable_dc.ldaps_url, server_name, 5),
        ("ldap:// + StartTLS", killable_dc.ldap_url, server_name, 5),
        ("ldaps://", killable_dc.ldaps_url, f'{server_name}\nca_bundle = "{killable_dc.ca_file}"', 0),
        (
            "ldap:// + StartTLS",
            killable_dc.ldap_url,
            f'{server_name}\nca_bundle = "{killable_dc.ca_file}"',
            0,
        ),
    ]
    problems: list[str] = []
    for order, (form, url, extra, expected) in enumerate(rows):
        source = ldap_source(url, extra, dataset.SERVICE_USER, "ldap.txt")
        config.write_text(verified_target(peers) + source, encoding="utf-8")
        code, out, err = run_command(config, ("check",))
        found = verdict(form, code, out, err, expected, "not trusted" if expected else None)
        problems += found
        setting = "ca_bundle = its CA" if "ca_bundle" in extra else "no ca_bundle"
        record(
            SECTION,
            COLUMNS,
            ["ldap source (Samba DC)", f"self-signed, {form}", setting, EXPECTED[expected], f"check {code}"],
            (4, order),
        )
    assert problems == []
