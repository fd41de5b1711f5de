"""Secret hygiene: a full cycle at `-vv` with sentinel values in every secret slot, and one cycle per slot
with a wrong value, and none of the sentinels may appear in any byte syncd printed or wrote.

The slots: the 7pace token (`{ file }`), an Azure DevOps PAT (`{ env }`), an Entra client secret
(`{ file }`), the LDAP bind password (`{ env }`, Samba DC), plus the access tokens the Entra authority issued
during the run (secrets syncd holds without being configured with them). Each value is searched for as
written, in base64 at every byte alignment (standard and URL-safe alphabets: this covers the HTTP Basic
header `base64(":" + PAT)` and any base64 blob that embeds a secret), and URL-encoded (percent-escapes in
either case): the form a client secret takes in a token request body.

Where: stdout and stderr of every command (captured at the file-descriptor level, so a C library or a
child process writing to fd 2 is caught too), and every file in the folder syncd works in: the SQLite state
(and its journal files), the audit trail, the dated diagnostic logs, the metrics file, saved plans. Only
the secret files themselves are left out. A control test plants every form in a file and checks the search
finds each at its offset, so a search that finds nothing has looked properly.

Sentinel values hold only characters JSON, TOML and Python's repr leave as they are, so those renderings
are the plain form; `+`, `/` and `=` make the URL-encoded form differ from the plain one. Failure messages
name the slot, the form, the place and the byte offset, never the value.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.emulators.tls import TestCA
from tests.hardening import harness as hh
from tests.ldap import ad_dataset as dataset
from tests.ldap import samba_dc

SECTION = "Secret hygiene"
COLUMNS = ["run", "secret slot", "reference", "commands", "places searched", "forms", "found"]

# the values syncd is configured with (sentinels: distinctive, searchable, fake)
TOKEN = "sentinel-7pace-token+Hy9/Q=Kx4vT2"
PAT = "sentinel-ado-pat+Zq7/Wm=Rt2xV8nL"
CLIENT_SECRET = "sentinel~entra.secret+Lp3/Nv=Qs8"
LDAP_PASSWORD = "Sentinel-LDAP-Pw+9/Xy=Zk3"
# the wrong values of the error-path cycles (sentinels as well)
WRONG_TOKEN = "sentinel-WRONG-7pace+Aa1/Bb=Cc2dD"
WRONG_PAT = "sentinel-WRONG-pat+Ee3/Ff=Gg4hH5"
WRONG_EXPIRED_PAT = "sentinel-EXPIRED-pat+Ii5/Jj=Kk6"
WRONG_CLIENT_SECRET = "sentinel~WRONG.secret+Mm7/Nn=Oo8"
WRONG_LDAP_PASSWORD = "Sentinel-WRONG-Pw+1/Qq=Rr9"
PAT_ENV = "SYNCD_HYGIENE_PAT"
LDAP_ENV = "SYNCD_HYGIENE_LDAP_PASSWORD"
ISSUED = "Entra access tokens (issued at run time)"

GOOD_COMMANDS: list[list[str]] = [
    ["check"],
    ["plan"],
    ["plan", "--format", "json", "--out", "{root}/plan.json"],  # --out is relative to the working folder
    ["--log-format", "console", "plan", "--format", "csv"],
    ["apply", "--plan", "{root}/plan.json"],
    ["run"],
    ["run", "--dry-run"],
    ["status"],
    ["status", "--format", "json"],
    ["audit", "--format", "jsonl"],
]
# each read of the Samba DC costs ~2.5 s (IN_CHAIN over 3,000 users), so the LDAP run is leaner; the commands
# it leaves out are the cloud run's, and they handle secrets the same way whatever the source
LDAP_GOOD_COMMANDS: list[list[str]] = [
    ["check"],
    ["plan", "--format", "json", "--out", "{root}/plan.json"],
    ["apply", "--plan", "{root}/plan.json"],
    ["run"],
    ["status"],
]
WRONG_COMMANDS: list[list[str]] = [["check"], ["plan"], ["run"]]
PLACES_CELL = "stdout, stderr (fd level), state/, logs/ (audit, diagnostics), metrics file, saved plan"
FORMS_CELL = "as written; base64 (3 alignments, 2 alphabets); Basic header; URL-encoded (either hex case)"


# -- the search ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    slot: str
    form: str
    needle: bytes


@dataclass(frozen=True)
class Hit:
    slot: str
    form: str
    place: str
    offset: int

    def __str__(self) -> str:  # never the value
        return f"{self.slot} ({self.form}) in {self.place} at byte {self.offset}"


def _base64_cores(value: bytes) -> Iterator[tuple[str, bytes]]:
    """The part of base64(prefix + value + suffix) that depends on `value` alone, for each of the 3
    alignments `value` can have in the encoded stream (so an embedded secret is found whatever precedes
    it, e.g. the ':' of a Basic header), in the standard and URL-safe alphabets."""
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + value)
        start = (8 * shift + 5) // 6  # characters that carry prefix bits
        end = (8 * (shift + len(value))) // 6  # characters fully made of value bits
        core = encoded[start:end]
        yield f"base64, offset {shift}", core
        yield f"base64url, offset {shift}", core.replace(b"+", b"-").replace(b"/", b"_")


def forms_of(slot: str, value: str) -> list[Form]:
    raw = value.encode("utf-8")
    assert len(raw) >= 20, slot  # long enough that a base64 core cannot match by chance
    found = {"plain": raw} | dict(_base64_cores(raw))
    # (quote_plus differs from quote only for spaces, which no sentinel holds)
    encoded = quote(value, safe="")
    found["URL-encoded"] = encoded.encode("ascii")
    found["URL-encoded, lower-case hex"] = _lower_hex(encoded).encode("ascii")
    found["base64 of ':' + value (Basic header)"] = base64.b64encode(b":" + raw).rstrip(b"=")
    unique: dict[bytes, str] = {}
    for name, needle in found.items():
        unique.setdefault(needle, name)
    return [Form(slot, name, needle) for needle, name in unique.items()]


def _lower_hex(encoded: str) -> str:
    parts = encoded.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def search(places: Iterable[tuple[str, bytes]], forms: Iterable[Form]) -> list[Hit]:
    """Every occurrence of every form in every place (name, bytes)."""
    hits: list[Hit] = []
    wanted = list(forms)
    for place, data in places:
        for form in wanted:
            offset = data.find(form.needle)
            while offset != -1:
                hits.append(Hit(form.slot, form.form, place, offset))
                offset = data.find(form.needle, offset + 1)
    return hits


def files_under(root: Path, skip: Iterable[Path] = ()) -> list[tuple[str, bytes]]:
    """(path relative to root, content) of every file under root, except those under `skip`."""
    skipped = [s.resolve() for s in skip]
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(path.resolve().is_relative_to(s) for s in skipped):
            continue
        found.append((str(path.relative_to(root)), path.read_bytes()))
    return found


def test_the_search_finds_every_form_it_looks_for(tmp_path: Path) -> None:
    """The control: plant each form of a sentinel (as a Basic header, a form-encoded body, a JSON log line,
    a base64 blob at each alignment) in files and check the search reports each at its offset. Without this
    a broken search would make every hygiene test pass."""
    value = "sentinel-control+Ab1/Cd=Ef2gH3"
    forms = forms_of("control", value)
    raw = value.encode()
    planted = {
        "plain.log": b'{"event": "x", "token": "' + raw + b'"}\n',
        "basic.txt": b"Authorization: Basic " + base64.b64encode(b":" + raw) + b"\r\n",
        "form.txt": b"grant_type=client_credentials&client_secret=" + quote_plus(value).encode() + b"&x=1",
        "url.txt": b"GET /?secret=sentinel-control%2bAb1%2fCd%3dEf2gH3 HTTP/1.1",  # lower-case escapes
        "b64-1.txt": base64.b64encode(b"x" + raw + b"yz"),
        "b64-2.txt": base64.b64encode(b"xy" + raw + b"z"),
        "b64url.txt": base64.urlsafe_b64encode(b"prefix:" + raw),
        "nested/deep.bin": b"\x00\x01" * 100 + raw + b"\xff" * 10,
    }
    for name, data in planted.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "clean.txt").write_bytes(b"sentinel-control but not the value; " + raw[:-1])
    (tmp_path / "skipped").mkdir()
    (tmp_path / "skipped" / "secret.txt").write_bytes(raw)

    hits = search(files_under(tmp_path, skip=[tmp_path / "skipped"]), forms)

    places = {hit.place for hit in hits}
    assert places == set(planted), sorted(places ^ set(planted))
    by_place = {hit.place: hit for hit in hits if hit.form == "plain"}
    assert by_place["plain.log"].offset == len(b'{"event": "x", "token": "')
    assert by_place["nested/deep.bin"].offset == 200
    assert "clean.txt" not in places  # a prefix of the value is not the value
    assert {h.form for h in hits if h.place == "form.txt"} == {"URL-encoded"}
    assert {h.form for h in hits if h.place == "url.txt"} == {"URL-encoded, lower-case hex"}
    assert "base64 of ':' + value (Basic header)" in {h.form for h in hits if h.place == "basic.txt"}
    for place in ("b64-1.txt", "b64-2.txt", "b64url.txt"):
        assert all(h.form.startswith("base64") for h in hits if h.place == place), place
    assert all(value not in str(hit) for hit in hits)  # messages name the slot, never the value


def test_sentinels_render_as_themselves() -> None:
    """The module docstring's premise: JSON, TOML basic strings and repr leave every sentinel unchanged, so
    searching for the value as written also covers those renderings."""
    sentinels = [TOKEN, PAT, CLIENT_SECRET, LDAP_PASSWORD, WRONG_TOKEN, WRONG_PAT, WRONG_EXPIRED_PAT]
    sentinels += [WRONG_CLIENT_SECRET, WRONG_LDAP_PASSWORD]
    for value in sentinels:
        assert json.dumps(value)[1:-1] == value
        assert repr(value)[1:-1] == value
        assert quote(value, safe="") != value  # so the URL-encoded form is a search of its own
    assert len(set(sentinels)) == len(sentinels)


# -- the world ----------------------------------------------------------------------------------------------


@dataclass
class Slot:
    """A configured secret: where it lives, its value, how to put another value there."""

    name: str
    reference: str  # "{ file }" | "{ env }"
    value: str
    put: Callable[[str], None]


@dataclass
class WrongValue:
    """A wrong value for one slot, and what its cycle must report."""

    slot: Slot
    label: str
    value: str
    says: str
    before: Callable[[], None] = lambda: None  # e.g. make the emulator treat the PAT as expired


@dataclass
class HygieneWorld:
    """The running peers, the config, the slots and their wrong values, and every command's output."""

    root: Path
    config: Path
    slots: list[Slot]
    wrong: list[WrongValue]
    target: TimetrackerEmulator
    cloud: hh.Cloud
    expected_roles: dict[str, str]
    outputs: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    def run(self, argv: list[str], capfd: pytest.CaptureFixture[str], label: str) -> tuple[int, str, str]:
        """One command at -vv; keeps its stdout and stderr for the search."""
        code = main(["-vv", *(a.replace("{root}", str(self.root)) for a in argv), "-c", str(self.config)])
        out, err = capfd.readouterr()
        self.outputs += [(f"stdout of `{label}`", out.encode()), (f"stderr of `{label}`", err.encode())]
        return code, out, err

    def forms(self) -> list[Form]:
        found = [f for slot in self.slots for f in forms_of(slot.name, slot.value)]
        found += [f for w in self.wrong for f in forms_of(f"{w.slot.name} ({w.label})", w.value)]
        found += [f for token in self.cloud.authority.issued for f in forms_of(ISSUED, token)]
        return found

    def redact(self, text: str) -> str:
        """`text` with every form of every secret replaced by its slot name: safe for a failure message."""
        data = text.encode()
        for form in sorted(self.forms(), key=lambda f: -len(f.needle)):
            data = data.replace(form.needle, f"<{form.slot}>".encode())
        return data.decode(errors="replace")


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)


def _directory(cloud: hh.Cloud) -> tuple[str, dict[str, str]]:
    """ADO 'Timetracker Users' ⊃ ann and the Entra group Engineering (dana, eli), which is also a rule of its
    own (Product). Returns the Entra group's object id and the roles a converged run gives."""
    entra, ado = cloud.entra_dir, cloud.ado_dir
    engineering = entra.add_group("Engineering")
    for name in ("dana", "eli"):
        entra.add_member(engineering, entra.add_user(f"{name}@example.com"))
    users = ado.add_group("Timetracker Users")
    ado.add_member(users, ado.add_user("ann@example.com"))
    ado.add_member(users, ado.add_entra_group("Engineering", engineering))
    roles = {"ann@example.com": "Team", "dana@example.com": "Product", "eli@example.com": "Product"}
    return engineering, roles


def _config(root: Path, target: TimetrackerEmulator, cloud: hh.Cloud, group: str, ldap: str) -> Path:
    text = f"""
metrics_file = "metrics.prom"

[target]
url = "{target.base_url}"
token = {{ file = "secrets/7pace-token.txt" }}
ca_bundle = "ca.pem"
requests_per_second = 0
requests_per_minute = 0

[[sources]]
name = "ado"
type = "azure_devops"
organization = "contoso"
vssps_url = "{cloud.ado.base_url}"
pat = {{ env = "{PAT_ENV}" }}
expand_entra_with = "aad"
ca_bundle = "ca.pem"

[[sources]]
name = "aad"
type = "entra"
tenant_id = "{hh.TENANT}"
client_id = "{hh.CLIENT_ID}"
client_secret = {{ file = "secrets/entra-secret.txt" }}
graph_url = "{cloud.graph.base_url}"
authority_url = "{cloud.authority.base_url}"
ca_bundle = "ca.pem"
{ldap}
[[rules]]
source = "ado"
group = "[contoso]\\\\Timetracker Users"
role = "Team"

[[rules]]
source = "aad"
group = "{group}"
role = "Product"

[policy]
grace = "0s"

[state]
dir = "state"

[audit]
dir = "logs"
"""
    path = root / "syncd.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Ldap:
    """The LDAP part of the world: a config fragment, and the roles its rule gives."""

    fragment: str
    roles: dict[str, str]


def ldap_part(dc: Any) -> Ldap:
    fragment = f"""
[[sources]]
name = "corp"
type = "ldap"
url = "{dc.ldaps_url}"
bind_user = "{dataset.SERVICE_USER}"
bind_password = {{ env = "{LDAP_ENV}" }}
base_dn = "{dataset.BASE_DN}"
ca_bundle = "{dc.ca_file}"
tls_server_name = "DC1.test.example.com"

[[rules]]
source = "corp"
group = "PrimaryOuter"
role = "Administrator"
"""
    members = dataset.expected_members("PrimaryOuter")
    roles = {key: "Administrator" for key, enabled in members.items() if enabled}
    assert roles, "PrimaryOuter has enabled members"
    return Ldap(fragment, roles)


def set_ldap_password(dc: Any, password: str) -> None:
    """The service account's password becomes the sentinel: an admin reset over LDAP, the way the data set
    is written (Samba allows unicodePwd on 389 with strong auth off)."""
    from ldap3 import MODIFY_REPLACE, NONE, Connection, Server

    conn = Connection(
        Server(dc.host, 389, get_info=NONE),
        samba_dc.ADMIN_DN,
        samba_dc.ADMIN_PASSWORD,
        auto_bind=True,
        raise_exceptions=True,
    )
    try:
        conn.modify(
            dataset.SERVICE_DN, {"unicodePwd": [(MODIFY_REPLACE, [f'"{password}"'.encode("utf-16-le")])]}
        )
    finally:
        conn.unbind()


@contextlib.contextmanager
def hygiene_world(
    tmp_path: Path, ca: TestCA, monkeypatch: pytest.MonkeyPatch, ldap: Ldap | None = None
) -> Iterator[HygieneWorld]:
    """The 7pace emulator over HTTPS, the cloud emulators over HTTPS, and a config using every secret slot
    (and the LDAP source, when given)."""
    root = tmp_path / "world"
    root.mkdir()
    with hh.running_cloud(root, ca, pat=PAT, client_secret=CLIENT_SECRET) as cloud:
        group, roles = _directory(cloud)
        if ldap is not None:
            roles |= ldap.roles
        people = [EmulatedUser(email) for email in sorted(roles)]
        people.append(EmulatedUser("owner@example.com", "Team"))  # seated by hand: unmanaged, kept
        target = TimetrackerEmulator(
            people, token=TOKEN, quota_per_second=None, quota_per_minute=None, ssl_context=ca.server_context()
        )
        with target:
            token = Slot(
                "7pace token", "{ file }", TOKEN, lambda v: _write_secret(root / "secrets/7pace-token.txt", v)
            )
            pat = Slot("Azure DevOps PAT", "{ env }", PAT, lambda v: monkeypatch.setenv(PAT_ENV, v))
            secret = Slot(
                "Entra client secret", "{ file }", CLIENT_SECRET,
                lambda v: _write_secret(root / "secrets/entra-secret.txt", v),
            )  # fmt: skip

            def expire() -> None:
                cloud.ado.expired_pats = {WRONG_EXPIRED_PAT}
                cloud.ado.honour_suppress = (
                    False  # the 203 sign-in page, as ADO answers clients that ignore it
                )

            slots = [token, pat, secret]
            wrong = [
                WrongValue(token, "wrong", WRONG_TOKEN, "refused the credentials (HTTP 401"),
                WrongValue(pat, "wrong", WRONG_PAT, "refused the credentials (HTTP 401"),
                WrongValue(pat, "expired", WRONG_EXPIRED_PAT, "HTML page instead of JSON (HTTP 203)", expire),
                WrongValue(secret, "wrong", WRONG_CLIENT_SECRET, "AADSTS7000215"),
            ]
            if ldap is not None:
                password = Slot(
                    "LDAP bind password", "{ env }", LDAP_PASSWORD, lambda v: monkeypatch.setenv(LDAP_ENV, v)
                )
                slots.append(password)
                wrong.append(WrongValue(password, "wrong", WRONG_LDAP_PASSWORD, "invalid credentials"))
            for slot in slots:
                slot.put(slot.value)
            config = _config(root, target, cloud, group, ldap.fragment if ldap else "")
            yield HygieneWorld(root, config, slots, wrong, target, cloud, roles)


# -- the cycle ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """What a test runs: the commands with the right values, the slots whose wrong values get a cycle of
    WRONG_COMMANDS each, and whether a final `run` shows the right values work again."""

    good: list[list[str]]
    wrong_slots: tuple[str, ...]
    final_run: bool

    def commands_cell(self, wrong: list[str]) -> str:
        """The commands a slot went through: `wrong` names its wrong values ("wrong", "expired")."""
        text = ", ".join(_label(argv) for argv in self.good) + " at -vv"
        if wrong:
            text += f"; {' / '.join(wrong)} value: " + ", ".join(_label(argv) for argv in WRONG_COMMANDS)
        return text + ("; run again" if self.final_run else "")


def _label(argv: list[str]) -> str:
    return " ".join(argv).replace("{root}/", "")


def exercise(world: HygieneWorld, capfd: pytest.CaptureFixture[str], script: Script) -> list[str]:
    """The commands with the right secrets, then check/plan/run once per wrong value (each must fail with
    exit 5 and say why), then (optionally) a clean run. Returns what went wrong (redacted), apart from
    leaks, which the search finds afterwards."""
    problems: list[str] = []
    for argv in script.good:
        label = _label(argv)
        code, out, err = world.run(argv, capfd, label)
        if code != 0:
            problems.append(f"`{label}`: exit {code}, expected 0: {world.redact(out + err)[-600:]}")
    roles = {hh.key(e): r for e, r in world.target.roles_by_email().items()}
    wanted = {hh.key(e): r for e, r in world.expected_roles.items()} | {"owner@example.com": "Team"}
    if roles != wanted:
        problems.append(f"the cycle did not converge: {roles} != {wanted}")
    if not world.cloud.authority.issued:
        problems.append("the authority issued no token: the Entra slot was never used")
    verbose = [
        data for place, data in world.outputs if place.startswith(("stderr of `plan", "stderr of `check"))
    ]
    if not any(b'"level": "info"' in data for data in verbose):
        problems.append("`-vv` plan/check logged nothing below warning: the debug level was not in force")

    for wrong in world.wrong:
        if wrong.slot.name not in script.wrong_slots:
            continue
        wrong.before()
        wrong.slot.put(wrong.value)
        for argv in WRONG_COMMANDS:
            label = f"{_label(argv)} with the {wrong.label} {wrong.slot.name}"
            code, out, err = world.run(argv, capfd, label)
            if code != 5 or wrong.says not in out + err:
                problems.append(
                    f"`{label}`: exit {code} (expected 5), {wrong.says!r} "
                    f"{'shown' if wrong.says in out + err else 'NOT shown'}: {world.redact(out + err)[-600:]}"
                )
        wrong.slot.put(wrong.slot.value)
    if script.final_run:
        code, out, err = world.run(["run"], capfd, "run after the right values are back")
        if code != 0:
            problems.append(
                f"`run` with the right values back: exit {code}: {world.redact(out + err)[-600:]}"
            )
    return problems


def places(world: HygieneWorld) -> tuple[list[tuple[str, bytes]], list[str]]:
    """Everything to search, and what is missing from it (a place that should exist but does not would
    make a clean search meaningless)."""
    files = files_under(world.root, skip=[world.secrets])
    names = [name for name, _ in files]
    missing = []
    for what, present in (
        ("state/ files", any(n.startswith("state/") for n in names)),
        ("an audit file", any(n.startswith("logs/audit-") for n in names)),
        ("a diagnostic log file", any(n.startswith("logs/syncd-") for n in names)),
        ("the metrics file", "metrics.prom" in names),
        ("the saved plan", "plan.json" in names),
    ):
        if not present:
            missing.append(what)
    return world.outputs + files, missing


def check_hygiene(
    world: HygieneWorld,
    capfd: pytest.CaptureFixture[str],
    record: Callable[..., None],
    script: Script,
    run: str,
    order: int,
) -> None:
    problems = exercise(world, capfd, script)
    searched, missing = places(world)
    problems += [f"nothing to search: {what} was not written" for what in missing]
    hits = search(searched, world.forms())
    slots = [(s.name, s.reference) for s in world.slots] + [(ISSUED, "(held in memory)")]
    for index, (name, reference) in enumerate(slots):
        found = [h for h in hits if h.slot == name or h.slot.startswith(name + " (")]
        wrong = [w.label for w in world.wrong if w.slot.name == name and name in script.wrong_slots]
        cells = [run, name, reference, script.commands_cell(wrong), PLACES_CELL, FORMS_CELL]
        record(SECTION, COLUMNS, [*cells, f"{len(found)} hit(s)" if found else "none"], (order, index))
    assert not problems, "\n".join(problems)
    assert not hits, f"{len(hits)} sentinel occurrence(s): " + "; ".join(map(str, hits[:40]))


# -- the tests --------------------------------------------------------------------------------------------------


def test_cloud_and_7pace_secrets_never_leak(
    tmp_path: Path,
    test_ca: TestCA,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    record: Callable[..., None],
    fast_retries: None,
) -> None:
    """7pace token, Azure DevOps PAT and Entra client secret (and the access tokens issued for them): runs
    without Samba."""
    with hygiene_world(tmp_path, test_ca, monkeypatch) as world:
        script = Script(
            GOOD_COMMANDS, ("7pace token", "Azure DevOps PAT", "Entra client secret"), final_run=True
        )
        check_hygiene(world, capfd, record, script, "7pace + Azure DevOps + Entra", 0)


@pytest.mark.samba
def test_every_slot_with_ldap_never_leaks(
    tmp_path: Path,
    test_ca: TestCA,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    record: Callable[..., None],
    fast_retries: None,
    killable_dc: Any,
) -> None:
    """Every slot at once, the LDAP bind password included (its value reset to a sentinel on a DC of our
    own), the LDAP error path being a wrong password (invalidCredentials)."""
    set_ldap_password(killable_dc, LDAP_PASSWORD)
    with hygiene_world(tmp_path, test_ca, monkeypatch, ldap_part(killable_dc)) as world:
        script = Script(LDAP_GOOD_COMMANDS, ("LDAP bind password",), final_run=False)
        check_hygiene(world, capfd, record, script, "7pace + Azure DevOps + Entra + LDAP (Samba)", 1)
