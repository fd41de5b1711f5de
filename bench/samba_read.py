"""Time and peak memory of reading a 10,000-member nested group from a real Samba AD DC.

    sudo .venv/bin/python bench/samba_read.py [--reads N]

Needs root and `apt-get install -y --no-install-recommends samba-ad-dc samba-ad-provision`. The first run
provisions a domain with 10,000 users in Bench10k ⊃ Div0…Div4 ⊃ two teams each ⊃ 1,000 users each and
caches it (tests/ldap/samba_dc.py; $SYNCD_SAMBA_CACHE or the temp directory); later runs copy it.
The read runs in a child process so its peak RSS (ru_maxrss) is the reader's alone: Python, ldap3 and
syncd imported, then `LdapSource.read_group("Bench10k")` over LDAPS, page size 1000.

The reader finds the nested groups with IN_CHAIN and their members with `memberOf` equality filters
(syncd/sources/ldap_membership.py). Samba indexes neither memberOf nor IN_CHAIN, and its DC spends about
0.2-0.3 ms of CPU on each entry it returns (measured with 1,000 and 10,000 entries), so these timings are an
upper bound for AD, not a prediction.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "SYNCD_BENCH_LDAP_PASSWORD"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "tests" / "ldap" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(url: str, ca_file: str, reads: int) -> None:
    """Runs in the child process: read the group `reads` times, print one JSON line."""
    sys.path.insert(0, str(ROOT))
    from syncd.config_section import Section  # imported here: the parent process stays lean
    from syncd.sources.ldap import LdapSource
    from syncd.sources.ldap_settings import parse_ldap_settings

    dataset = load("ad_dataset")
    samba_dc = load("samba_dc")
    problems: list[str] = []
    values = {
        "url": url,
        "bind_user": samba_dc.ADMIN_DN,
        "bind_password": {"env": PASSWORD_ENV},
        "base_dn": dataset.BASE_DN,
        "ca_bundle": ca_file,
        "tls_server_name": samba_dc.CERT_NAME,
    }
    settings = parse_ldap_settings(Section(values, "bench", Path("bench.toml"), problems), "bench")
    assert not problems, problems
    before = rss_kb()
    source = LdapSource(settings)
    timings = []
    result = None
    for _ in range(reads):
        started = time.perf_counter()
        result = source.read_group(dataset.BENCH_GROUP)
        timings.append(time.perf_counter() - started)
    source.close()
    assert result is not None
    print(json.dumps({
        "health": result.health.value,
        "members": len(result.members),
        "deepest_via": max((len(p.via) for p in result.members), default=0),
        "seconds": timings,
        "rss_before_kb": before,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reads", type=int, default=2, help="reads in one process (first is cold)")
    parser.add_argument("--child", nargs=2, metavar=("URL", "CA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.reads)
        return 0

    samba_dc = load("samba_dc")
    dataset = load("ad_dataset")
    reason = samba_dc.unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    started = time.monotonic()
    template, built = samba_dc.cached_template(
        f"bench-{dataset.BENCH_VERSION}",
        lambda dc: dataset.populate_bench(dc.host, samba_dc.ADMIN_DN, samba_dc.ADMIN_PASSWORD),
    )
    if built.get("reused"):
        print(f"template: reused {template} ({time.monotonic() - started:.1f}s)")
    else:
        print(
            f"template: built in {time.monotonic() - started:.1f}s (provision {built['provision']:.1f}s, "
            f"first start {built['first_start']:.1f}s, {dataset.BENCH_USERS} users {built['users']:.1f}s, "
            f"groups {built['groups']:.1f}s)"
        )
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as scratch:
        directory = Path(scratch) / "dc"
        samba_dc.copy_directory(Path(template), directory)
        with samba_dc.host_lock("127.0.0.1"):
            dc = samba_dc.start(directory)
            try:
                env = {**os.environ, PASSWORD_ENV: samba_dc.ADMIN_PASSWORD}
                command = [sys.executable, __file__, "--reads", str(args.reads)]
                command += ["--child", dc.ldaps_url, str(dc.ca_file)]
                output = subprocess.run(
                    command, env=env, capture_output=True, text=True, check=False, timeout=900
                )
            finally:
                dc.stop()
    if output.returncode != 0:
        print(output.stdout, output.stderr, file=sys.stderr)
        return 1
    report = json.loads(output.stdout.strip().splitlines()[-1])
    seconds = ", ".join(f"{s:.2f}s" for s in report["seconds"])
    print(
        f"read {dataset.BENCH_GROUP}: health={report['health']} members={report['members']} "
        f"(longest nesting path {report['deepest_via']} groups) in {seconds} (first cold); "
        f"peak RSS {report['peak_rss_kb'] / 1024:.0f} MiB "
        f"(RSS {report['rss_before_kb'] / 1024:.0f} MiB before the first read)"
    )
    return 0 if report["health"] == "ok" and report["members"] == dataset.BENCH_USERS else 1


if __name__ == "__main__":
    sys.exit(main())
