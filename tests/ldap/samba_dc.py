"""A throw-away Samba AD domain controller on loopback, for the LDAP source's tests and bench.

Recipe and pitfalls: /work/shared/design/directory-server.md (measured there). In short: provision into a
directory with `-s /dev/null` (do not merge the host's smb.conf), trim the services to LDAP, one process,
no fsync, keep every pid/socket file inside the directory, run `samba -i` in the foreground so the PID we
hold is the server's, stop it by that PID.

Provisioning and populating take tens of seconds, so a populated directory is built once and cached as a
*template* (keyed by a version string); each session copies it (`cp -a`, a fraction of a second) and starts
the copy. The copy keeps the domain SID, the GUIDs and the self-signed TLS certificate.

Used by tests/ldap/conftest.py and bench/samba_read.py (loaded by path; tests are not a package).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

REALM = "TEST.EXAMPLE.COM"
DOMAIN = "TEST"
BASE_DN = "DC=test,DC=example,DC=com"
ADMIN_DN = f"CN=Administrator,CN=Users,{BASE_DN}"
ADMIN_PASSWORD = "Passw0rd!Test"
# the self-signed server certificate carries only this CN (no SAN), so clients must expect this name
CERT_NAME = "DC1.test.example.com"


def unavailable_reason() -> str | None:
    """Why a Samba DC cannot run here, or None when it can."""
    if os.name != "posix" or os.geteuid() != 0:
        return "the Samba AD DC must run as root (samba refuses to start otherwise)"
    missing = [tool for tool in ("samba", "samba-tool") if shutil.which(tool) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not installed; run: apt-get install -y --no-install-recommends "
            "samba-ad-dc samba-ad-provision"
        )
    return None


@dataclass
class RunningDC:
    """A Samba process we started; only its own PID is ever signalled."""

    directory: Path
    host: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ca_file(self) -> Path:
        return self.directory / "private" / "tls" / "ca.pem"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}:636"

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.host}:389"

    def source_toml(self, *, bind_user: str, password_env: str, base_dn: str, name: str = "corp") -> str:
        """A `[[sources]]` table for syncd's config: this DC over LDAPS, the password from `password_env`."""
        return f"""
[[sources]]
name = "{name}"
type = "ldap"
url = "{self.ldaps_url}"
bind_user = "{bind_user}"
bind_password = {{ env = "{password_env}" }}
base_dn = "{base_dn}"
ca_bundle = "{self.ca_file}"
tls_server_name = "{CERT_NAME}"
"""

    def admin(self) -> Any:
        """An ldap3 Connection bound as the domain Administrator over plain LDAP (for tests that write)."""
        from ldap3 import NONE, Connection, Server

        return Connection(
            Server(self.host, 389, get_info=NONE),
            ADMIN_DN,
            ADMIN_PASSWORD,
            auto_bind=True,
            raise_exceptions=True,
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, wait up to 15 s, then SIGKILL (samba exits in 1-2 s; its children go with it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        _pid_file(self.host).unlink(missing_ok=True)

    def kill(self) -> None:
        """Die like a crashed DC: SIGKILL, no goodbye to connected clients."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)
        _pid_file(self.host).unlink(missing_ok=True)


def provision(directory: Path) -> None:
    """`samba-tool domain provision` into `directory`, then the smb.conf edits the recipe needs."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "provision.log"
    with log.open("wb") as out:
        result = subprocess.run(
            [
                "samba-tool", "domain", "provision", "-s", "/dev/null",
                f"--targetdir={directory}", f"--realm={REALM}", f"--domain={DOMAIN}",
                f"--adminpass={ADMIN_PASSWORD}", "--server-role=dc", "--dns-backend=NONE",
                "--use-rfc2307", "--host-name=dc1",
                "--option=interfaces = lo", "--option=bind interfaces only = yes",
                f"--option=log file = {directory}/log.%m",
            ],
            stdout=out, stderr=subprocess.STDOUT, check=False, timeout=300,
        )  # fmt: skip
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-20:]
        raise RuntimeError("samba-tool domain provision failed:\n" + "\n".join(tail))
    (directory / "run").mkdir(exist_ok=True)
    (directory / "cache").mkdir(exist_ok=True)
    conf = directory / "etc" / "smb.conf"
    lines = conf.read_text().splitlines()
    out_lines: list[str] = []
    for line in lines:
        if line.strip().startswith("server services ="):
            continue
        out_lines.append(line)
        if line.strip() == "[global]":
            # provision drops 'ldap server require strong auth' given as --option, so it is added here;
            # the global-by-default paths are moved inside the directory (pitfalls 3 and 4)
            out_lines += [
                "\tldap server require strong auth = no",
                "\tldb:nosync = true",
                "\tserver services = ldap",
                f"\tpid directory = {directory}/run",
                f"\tncalrpc dir = {directory}/run/ncalrpc",
                f"\twinbindd socket directory = {directory}/run/winbindd",
                f"\tntp signd socket directory = {directory}/run/ntp_signd",
            ]
    conf.write_text("\n".join(out_lines) + "\n")
    (directory / "BUILT_AT").write_text(str(directory))


def copy_directory(template: Path, target: Path, *, listen: str = "lo") -> None:
    """Copy a stopped DC's directory; point its smb.conf at the copy and at the `listen` interface."""
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["cp", "-a", str(template), str(target)], check=True, timeout=300)
    built_at = (template / "BUILT_AT").read_text().strip()
    conf = target / "etc" / "smb.conf"
    text = conf.read_text().replace(built_at, str(target))
    lines = []
    for line in text.splitlines():
        if line.strip().startswith("interfaces ="):
            line = f"\tinterfaces = {listen}"
        lines.append(line)
    conf.write_text("\n".join(lines) + "\n")
    (target / "BUILT_AT").write_text(str(target))
    for stale in (target / "run").glob("*.pid"):
        stale.unlink()


def host_lock(host: str) -> FileLock:
    """Samba's ports are fixed (389/636): test sessions running at once on one machine take turns per
    address instead of colliding. Hold it from before start until after stop."""
    return FileLock(str(cache_root() / f"syncd-samba-{host}.lock"), timeout=1800)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def start(directory: Path, *, host: str = "127.0.0.1", timeout: float = 60.0) -> RunningDC:
    """Start `samba -i -M single` on `directory` and wait until the rootDSE answers on `host`.

    Refuses when something already listens on the address: its answers would pass for ours."""
    from ldap3 import Connection, Server

    _reap_orphan(host)
    for port in (389, 636):
        if _listening(host, port):
            raise RuntimeError(f"{host}:{port} is already in use by another process; Samba needs 389 and 636")
    output = (directory / "samba.out").open("ab")
    process = subprocess.Popen(
        ["samba", "-i", "-M", "single", "-s", str(directory / "etc" / "smb.conf")],
        stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    output.close()
    dc = RunningDC(directory, host, process)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = (directory / "samba.out").read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError(f"samba exited with {process.returncode}:\n" + "\n".join(tail))
        with contextlib.suppress(Exception):
            conn = Connection(Server(host, 389, connect_timeout=2), receive_timeout=5)
            conn.open()
            conn.search("", "(objectClass=*)", "BASE", attributes=["defaultNamingContext"])
            answered = bool(conn.response)
            conn.unbind()
            if answered and process.poll() is None:
                _pid_file(host).write_text(f"{process.pid}\n{directory / 'samba.out'}\n")
                return dc
        if time.monotonic() > deadline:
            dc.stop()
            raise RuntimeError(f"samba did not answer LDAP on {host}:389 within {timeout:.0f}s")
        time.sleep(0.1)


def _pid_file(host: str) -> Path:
    return cache_root() / f"syncd-samba-{host}.pid"


def _reap_orphan(host: str) -> None:
    """Stop a DC this module started for `host` in a test process that was killed before its clean-up
    (SIGKILL skips fixture finalizers). Only that recorded PID, and only while it is still the samba binary
    writing to the recorded output file (samba rewrites its command line, so that cannot be checked); the
    caller holds host_lock(host), so no live session is using it."""
    record = _pid_file(host)
    try:
        pid_text, output = record.read_text().splitlines()[:2]
        pid = int(pid_text)
        executable = os.readlink(f"/proc/{pid}/exe")
        stdout = os.readlink(f"/proc/{pid}/fd/1")
    except (OSError, ValueError):
        record.unlink(missing_ok=True)
        return
    if Path(executable).name == "samba" and stdout == output:
        os.kill(pid, signal.SIGTERM)
        for _ in range(150):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    record.unlink(missing_ok=True)


@contextlib.contextmanager
def running(directory: Path, *, host: str = "127.0.0.1") -> Iterator[RunningDC]:
    dc = start(directory, host=host)
    try:
        yield dc
    finally:
        dc.stop()


def cache_root() -> Path:
    return Path(os.environ.get("SYNCD_SAMBA_CACHE") or tempfile.gettempdir())


def cached_template(
    name: str, populate: Callable[[RunningDC], dict[str, float]]
) -> tuple[Path, dict[str, float]]:
    """The populated template `name` (include a version in it), built now if absent.

    Returns its directory and its build timings (provision, first start, populate, stop; seconds) plus
    `reused` = 1.0 when it came from an earlier session. Built under a lock into a side directory and
    renamed only when complete, so an interrupted build is never mistaken for a template.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    template = root / f"syncd-samba-{name}"
    with FileLock(str(template) + ".lock", timeout=900):
        timings_file = template / "timings.json"
        if timings_file.exists():
            timings = json.loads(timings_file.read_text())
            return template, {**timings, "reused": 1.0}
        building = root / f"syncd-samba-{name}.building"
        if building.exists():
            shutil.rmtree(building)
        t0 = time.monotonic()
        provision(building)
        provisioned = time.monotonic() - t0
        with host_lock("127.0.0.1"):
            t1 = time.monotonic()
            dc = start(building)
            t2 = time.monotonic()
            try:
                populate_timings = populate(dc)
            finally:
                dc.stop()
            t3 = time.monotonic()
        timings = {"provision": provisioned, "first_start": t2 - t1, "populate": t3 - t2, **populate_timings}
        (building / "timings.json").write_text(json.dumps(timings))
        if template.exists():
            shutil.rmtree(template)
        building.rename(template)
        # smb.conf inside still names the .building path; BUILT_AT records it so copies can rewrite it
        return template, {**timings, "reused": 0.0}
