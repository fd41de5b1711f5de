"""syncd benchmarks (issue 8): one command, one table, the issue's targets checked.

    .venv/bin/python bench/run.py            # full: about 5 minutes on the 2-core reference machine
    .venv/bin/python bench/run.py --quick    # smaller sizes, one run each, no Samba: about 30 s

Scenarios (N people in one file-source group, S seats in the 7pace emulator, c % churn = c % of the group
joined and has no seat yet, and as many seat holders left the group):
- plan-10k, plan-100k: `syncd plan --format json`, N = S = 10,000 / 100,000, 1 % churn, quota off on both
  sides; median of --runs runs after one unmeasured first run (which also adopts every matching seat into
  the state ledger: its figures are in the notes). Their ratio is the scaling target.
- apply-10k: `syncd apply` of 10,000 seat assignments (nobody has a seat yet) against the emulator with its
  quota at 20 requests/s and 1,200/min, syncd's [target] set to the same quota (batch_size 100).
- naive: bench/naive.py, one POST per person changed, the same data and quota, on a sample of the changes
  (--naive-changes; 0 = all 10,000: about 16 minutes, since a 429 costs it a whole-second Retry-After) and
  scaled linearly to 10,000 (the baseline is quota-bound, so time and requests are linear in changes).
- samba: bench/samba_read.py (a 10,000-member nested group from a real Samba AD DC) when present and root.

syncd runs as a child process (`python -m syncd`); its CPU time and peak RSS are its own (os.wait4 rusage
of that child). The emulator runs in another process (bench/emulator_host.py) and reports its request log
after each syncd run; requests by kind, 429s and rates come from that log, i.e. from the server's side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pstats
import re
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
TOKEN = "bench-token"
GROUP = "Staff"
ROLE = "Team"
DOMAIN = "bench.example"
POST = "POST users/roles"
GET = "GET users/roles"


# -- data ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """N people in group Staff; `joiners` of them hold no seat yet; `leavers` hold a seat but left."""

    people: int
    joiners: int
    leavers: int
    members: Path
    users: Path

    @property
    def seats(self) -> int:
        return self.people - self.joiners + self.leavers


def make_dataset(folder: Path, people: int, joiners: int, leavers: int) -> Dataset:
    folder.mkdir(parents=True, exist_ok=True)
    members = folder / "members.csv"
    users = folder / "users.csv"
    with members.open("w", encoding="utf-8", newline="\n") as out:
        out.write("group,email\n")
        out.writelines(f"{GROUP},p{i:06d}@{DOMAIN}\n" for i in range(people))
    with users.open("w", encoding="utf-8", newline="\n") as out:
        out.write("email,role\n")
        # joiners are spread through the list, as real ones would be
        step = people / joiners if joiners else 0.0
        joining = {int(k * step) for k in range(joiners)}
        out.writelines(f"p{i:06d}@{DOMAIN},{'None' if i in joining else ROLE}\n" for i in range(people))
        out.writelines(f"left{i:06d}@{DOMAIN},{ROLE}\n" for i in range(leavers))
    return Dataset(people, joiners, leavers, members, users)


CONFIG = """\
[target]
type = "timetracker"
url = "{url}"
token = {{ file = "token.txt" }}
allow_insecure_http = true
batch_size = {batch_size}
requests_per_second = {per_second}
requests_per_minute = {per_minute}

[[sources]]
name = "hr"
type = "file"
path = "{members}"

[[rules]]
source = "hr"
group = "{group}"
role = "{role}"

[policy]
unmanaged = "remove"            # leavers' seats are removed (so the plan has removals to compute)
grace = "0s"
max_removals = 1000000
max_removal_percent = 100
max_group_shrink_percent = 100

[state]
dir = "state"

[audit]
dir = "logs"
"""


def write_config(folder: Path, url: str, members: Path, per_second: int, per_minute: int, batch: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    token = folder / "token.txt"
    token.write_text(TOKEN, encoding="utf-8")
    token.chmod(0o600)
    config = folder / "syncd.toml"
    config.write_text(
        CONFIG.format(
            url=url,
            batch_size=batch,
            per_second=per_second,
            per_minute=per_minute,
            members=members.as_posix(),
            group=GROUP,
            role=ROLE,
        ),
        encoding="utf-8",
    )
    return config


# -- processes -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Logged:
    at: float
    kind: str
    status: int
    entries: int


class Emulator:
    """bench/emulator_host.py in its own process; `take_log()` fetches (and resets) its request log."""

    def __init__(
        self, dataset: Dataset, folder: Path, per_second: int, per_minute: int, extra: Sequence[str] = ()
    ) -> None:
        self.log_file = folder / "emulator-log.json"
        self.taken = 0
        self.stderr = (folder / "emulator.stderr").open("w", encoding="utf-8")
        command = [PYTHON, str(BENCH / "emulator_host.py"), "--users", str(dataset.users)]
        command += ["--log-out", str(self.log_file), "--token", TOKEN]
        command += ["--quota-per-second", str(per_second), "--quota-per-minute", str(per_minute), *extra]
        started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.url = ""
        try:
            assert self.process.stdout is not None
            ready, _, _ = select.select([self.process.stdout], [], [], 300)
            line = self.process.stdout.readline() if ready else ""
            if not line.startswith("listening "):
                raise RuntimeError(f"emulator did not start (see {self.stderr.name}): {line!r}")
            self.url = line.split()[1]
        except BaseException:
            self.stop()
            raise
        self.startup = time.perf_counter() - started

    def take_log(self) -> list[Logged]:
        self.log_file.unlink(missing_ok=True)
        os.kill(self.process.pid, signal.SIGUSR1)
        for _ in range(600):  # up to 60 s
            if self.log_file.exists():
                rows = json.loads(self.log_file.read_text(encoding="utf-8"))["requests"]
                self.taken += 1  # kept for --keep: requests-N.json, one per syncd run
                self.log_file.replace(self.log_file.with_name(f"requests-{self.taken}.json"))
                return [Logged(float(at), kind, int(status), int(n)) for at, kind, status, n in rows]
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the emulator did not report its request log (see {self.stderr.name})")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


@contextlib.contextmanager
def emulator(
    dataset: Dataset, folder: Path, per_second: int, per_minute: int, extra: Sequence[str] = ()
) -> Iterator[Emulator]:
    running = Emulator(dataset, folder, per_second, per_minute, extra)
    try:
        yield running
    finally:
        running.stop()


@dataclass(frozen=True)
class Measured:
    """One child process: wall seconds, CPU seconds (user + system), peak RSS in KiB, exit code, output."""

    wall: float
    cpu: float
    rss_kib: int
    exit_code: int
    stdout: str
    stderr: str


def measure(command: Sequence[str], cwd: Path, timeout: float) -> Measured:
    """Run a child and take its own rusage with wait4 (RUSAGE_CHILDREN would mix in the emulator's)."""
    out = cwd / "child.stdout"
    err = cwd / "child.stderr"
    with out.open("w", encoding="utf-8") as stdout, err.open("w", encoding="utf-8") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), cwd=cwd, stdout=stdout, stderr=stderr)
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it; tell Popen
    return Measured(
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss,
        process.returncode,
        out.read_text(encoding="utf-8"),
        err.read_text(encoding="utf-8"),
    )


def syncd_command(args: Sequence[str], profile: Path | None) -> list[str]:
    if profile is None:
        return [PYTHON, "-m", "syncd", *args]
    return [PYTHON, "-m", "cProfile", "-o", str(profile), "-m", "syncd", *args]


# -- figures ---------------------------------------------------------------------------------------------
@dataclass
class Row:
    scenario: str
    runs: int
    wall: float
    cpu: float | None
    rss_mib: float | None
    requests: dict[str, int] = field(default_factory=dict)
    throttled: int = 0
    per_minute: float | None = None  # sustained request rate
    quota_per_minute: int = 0  # 0 = quota off
    note: str = ""


def by_kind(log: Sequence[Logged]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in log:
        if r.status != 429:
            counts[r.kind] = counts.get(r.kind, 0) + 1
    return counts


def rate_per_minute(log: Sequence[Logged], kind: str | None = None) -> float | None:
    """Accepted requests per minute between the first and the last one (n − 1 intervals)."""
    times = sorted(r.at for r in log if r.status != 429 and (kind is None or r.kind == kind))
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return 60.0 * (len(times) - 1) / (times[-1] - times[0])


def kinds_text(counts: dict[str, int]) -> str:
    short = {GET: "GET", POST: "POST", "GET users": "GET users", WORKLOGS: "worklogs"}
    return " ".join(f"{short.get(k, k)}={v}" for k, v in sorted(counts.items())) or "-"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(walls: Sequence[float], cpus: Sequence[float]) -> str:
    if len(walls) < 2:
        return ""
    return f"wall {min(walls):.2f}–{max(walls):.2f} s, CPU {min(cpus):.2f}–{max(cpus):.2f} s; "


def show_profile(path: Path, top: int) -> None:
    print(
        f"\n  cProfile of {path.name}, top {top} by own time (wall clock: recv_into is waiting for the peer; "
        "profiled runs are slower than the table's):"
    )
    stats = pstats.Stats(str(path))
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    for (filename, line, function), (_, calls, own, cumulative, _) in rows:
        where = filename.replace(str(ROOT) + "/", "")
        where = re.sub(r".*/site-packages/", "", where)
        print(f"    {own:7.2f}s own {cumulative:7.2f}s cum {calls:>9} calls  {where}:{line} {function}")


# -- scenarios -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    work: Path
    plan_sizes: tuple[int, int]
    runs: int
    churn_percent: float
    apply_changes: int
    quota_per_second: int
    batch_size: int
    naive_changes: int
    samba: bool
    profile: bool
    stages: bool
    timeout: float
    idle_seats: int = 10_000
    idle_worklogs: int = 500_000


def plan_scenario(options: Options, people: int) -> tuple[Row, list[float], list[float], str]:
    """Returns the row, the measured walls and CPUs, and the CPU-by-stage breakdown (or "")."""
    churn = round(people * options.churn_percent / 100)
    folder = options.work / f"plan-{people}"
    dataset = make_dataset(folder / "data", people, churn, churn)
    walls: list[float] = []
    cpus: list[float] = []
    rss: list[int] = []
    counts: dict[str, int] = {}
    breakdown = ""
    expected = {"seat-assign": churn, "seat-unassign": churn, "role-change": 0}
    with emulator(dataset, folder, 0, 0) as emu:
        run_dir = folder / "run"
        config = write_config(run_dir, emu.url, dataset.members, 0, 0, options.batch_size)
        args = ["plan", "-c", str(config), "--format", "json"]
        # The first plan ever also adopts every seat that already matches its rule into the state ledger
        # (policy.adopt); the runs after it are the steady state a scheduled syncd lives in.
        cold = measure(syncd_command(args, None), run_dir, options.timeout)
        check_plan(f"plan {people}", cold, expected)
        emu.take_log()
        for _ in range(options.runs):
            result = measure(syncd_command(args, None), run_dir, options.timeout)
            check_plan(f"plan {people}", result, expected)
            counts = by_kind(emu.take_log())
            walls.append(result.wall)
            cpus.append(result.cpu)
            rss.append(result.rss_kib)
        if options.stages and people == options.plan_sizes[1]:
            staged = measure([PYTHON, str(BENCH / "stages.py"), *args], run_dir, options.timeout)
            check_plan(f"plan {people} (stages)", staged, expected)
            emu.take_log()
            breakdown = staged.stderr[staged.stderr.index("CPU by stage") :].rstrip()
        if options.profile:
            profile = run_dir / f"plan-{people}.prof"
            profiled = measure(syncd_command(args, profile), run_dir, options.timeout)
            check_plan(f"plan {people} (profiled)", profiled, expected)
            emu.take_log()
            show_profile(profile, 15)
    seats = dataset.seats
    reads_expected = seats // 500 + 1
    with_none = (people + dataset.leavers) // 500 + 1  # includeNoneRoles: the plan assigns the joiners
    note = (
        f"N={people:,} S={seats:,} churn {options.churn_percent:g}% → {churn:,}+{churn:,} changes; "
        f"{with_none} reads expected (users/roles with the joiners' None rows; {reads_expected} without); "
        f"{spread(walls, cpus)}first run "
        f"(empty state, adopts {seats - churn:,} seats): wall {cold.wall:.2f} s, CPU {cold.cpu:.2f} s, "
        f"RSS {cold.rss_kib / 1024:.0f} MiB; emulator loaded in {emu.startup:.1f} s"
    )
    row = Row(
        f"plan-{people // 1000}k",
        len(walls),
        median(walls),
        median(cpus),
        median(rss) / 1024,
        counts,
        note=note,
    )
    return row, walls, cpus, breakdown


def check_plan(what: str, result: Measured, expected: dict[str, int]) -> None:
    check_exit(what, result, (0,))
    counts = json.loads(result.stdout)["counts"]
    if {k: counts[k] for k in expected} != expected:
        raise RuntimeError(f"{what}: expected {expected}, got {counts}")


def traffic_row(name: str, result: Measured, log: Sequence[Logged], quota_per_minute: int, note: str) -> Row:
    """A one-run row whose requests, 429s and rate come from the emulator's log."""
    throttled = sum(1 for r in log if r.status == 429)
    return Row(
        name,
        1,
        result.wall,
        result.cpu,
        result.rss_kib / 1024,
        by_kind(log),
        throttled,
        rate_per_minute(log),
        quota_per_minute,
        note,
    )


def apply_once(options: Options, folder: Path, profile: bool) -> tuple[Measured, list[Logged]]:
    """`syncd apply` of options.apply_changes assignments against a fresh emulator at the quota."""
    changes = options.apply_changes
    per_second = options.quota_per_second
    dataset = make_dataset(folder / "data", changes, changes, 0)
    with emulator(dataset, folder, per_second, per_second * 60) as emu:
        run_dir = folder / "run"
        config = write_config(
            run_dir, emu.url, dataset.members, per_second, per_second * 60, options.batch_size
        )
        path = run_dir / "apply.prof" if profile else None
        result = measure(syncd_command(["apply", "-c", str(config)], path), run_dir, options.timeout)
        check_exit("apply", result, (0,))
        if f"Applied {changes} of {changes} change(s); 0 failed" not in result.stdout:
            raise RuntimeError(f"apply: not every change applied: {result.stdout[-400:]}")
        log = emu.take_log()
    if path is not None:
        show_profile(path, 15)
    return result, log


def apply_scenario(options: Options) -> tuple[Row, int, int, float | None]:
    """Returns the row, the request budget, total requests, and the POST-phase rate per minute."""
    changes = options.apply_changes
    per_minute = options.quota_per_second * 60
    result, log = apply_once(options, options.work / "apply", profile=False)
    if options.profile:
        apply_once(options, options.work / "apply-profiled", profile=True)
    counts = by_kind(log)
    # budget (issue 8): ceil(changes / batch) writes + the reads + 5. Reads: `users/roles` before and after
    # (verify), floor(rows / 500) + 1 pages each (the list ends at an empty page). This apply assigns, so the
    # first read also lists the organization's users without a seat (includeNoneRoles: `users` "only when
    # needed", issue 8): its rows are the 10,000 people, not the 0 seats.
    reads = (changes // 500 + 1) + (changes // 500 + 1)
    budget = math.ceil(changes / options.batch_size) + reads + 5
    total = sum(counts.values())
    post_rate = rate_per_minute(log, POST)
    progress = sum(1 for line in result.stderr.splitlines() if '"event": "progress"' in line)
    note = (
        f"{changes:,} assignments, batch_size {options.batch_size}; budget {budget} requests; "
        f"POST-phase rate {post_rate or 0:.0f}/min; progress events on stderr: {progress}"
    )
    name = f"apply-{changes // 1000}k" if changes >= 1000 else f"apply-{changes}"
    return traffic_row(name, result, log, per_minute, note), budget, total, post_rate


def naive_scenario(options: Options) -> tuple[Row, float, float]:
    """Returns the row and the wall time and request count scaled to all the changes."""
    changes = options.apply_changes
    per_second = options.quota_per_second
    per_minute = per_second * 60
    folder = options.work / "naive"
    dataset = make_dataset(folder / "data", changes, changes, 0)
    sample = options.naive_changes or changes
    with emulator(dataset, folder, per_second, per_minute) as emu:
        command = [PYTHON, str(BENCH / "naive.py"), "--url", emu.url, "--token", TOKEN]
        command += ["--members", str(dataset.members), "--group", GROUP, "--role", ROLE]
        command += ["--limit", str(sample)]
        # the naive run is quota-bound: allow 3× the quota's minimum time
        result = measure(command, folder, options.timeout + 3 * sample / per_second)
        check_exit("naive", result, (0,))
        log = emu.take_log()
    report = json.loads(result.stdout.strip().splitlines()[-1])
    counts = by_kind(log)
    scale = changes / report["changes"]
    posts = counts.get(POST, 0)
    scaled_requests = sum(counts.values()) - posts + posts * scale
    # the sample's time minus its reads, per POST, times all the POSTs, plus the reads
    post_times = sorted(r.at for r in log if r.kind == POST)
    read_seconds = result.wall - (post_times[-1] - post_times[0] if len(post_times) > 1 else 0.0)
    scaled_wall = result.wall if scale == 1 else read_seconds + (result.wall - read_seconds) * scale
    note = f"one POST per person: measured on {report['changes']:,} of {changes:,} changes"
    if scale != 1:
        note += f", scaled ×{scale:g} → {scaled_requests:,.0f} requests, {scaled_wall:,.0f}s"
    return traffic_row("naive", result, log, per_minute, note), scaled_wall, scaled_requests


@dataclass(frozen=True)
class SambaResult:
    seconds: float | None
    rss_mib: float | None
    message: str


class TreeCpu:
    """CPU seconds of a process's descendants, by /proc polling (no psutil): the last sample of each process
    before it ends, so a total can be short by up to one interval of its final burst."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.seen: dict[int, tuple[str, float]] = {}  # pid → (command line, CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> TreeCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            parents: dict[int, int] = {}
            stats: dict[int, tuple[str, float]] = {}
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    stat = (entry / "stat").read_text()
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                fields = stat[stat.rindex(")") + 2 :].split()
                pid = int(entry.name)
                parents[pid] = int(fields[1])
                stats[pid] = (command, (int(fields[11]) + int(fields[12])) / self._tick)
            for pid, value in stats.items():
                ancestor, hops = parents.get(pid), 0
                while ancestor not in (None, 0, 1, self.root) and hops < 50:
                    ancestor, hops = parents.get(ancestor), hops + 1
                if ancestor == self.root:
                    self.seen[pid] = value

    def total(self, needle: str) -> float:
        return sum(cpu for command, cpu in self.seen.values() if needle in command)

    def samba(self) -> float:
        """The DC's processes: `samba -i -M single …` itself and any it retitles "samba: task[…]"."""
        return sum(
            cpu
            for command, cpu in self.seen.values()
            if command.startswith("samba:") or Path(command.split(" ", 1)[0]).name == "samba"
        )


def samba_scenario(options: Options) -> SambaResult:
    script = BENCH / "samba_read.py"
    if not options.samba:
        return SambaResult(None, None, "skipped (--quick or --no-samba)")
    if not script.exists():
        return SambaResult(None, None, "skipped: bench/samba_read.py is not there")
    if os.geteuid() != 0:
        return SambaResult(None, None, "skipped: needs root (it starts a Samba AD DC on 127.0.0.1)")
    process = subprocess.Popen(
        [PYTHON, str(script), "--reads", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    with TreeCpu(process.pid) as cpu:
        try:
            output, _ = process.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return SambaResult(None, None, "failed: bench/samba_read.py took over 30 minutes")
    text = output.strip()
    if process.returncode == 2:
        return SambaResult(None, None, f"skipped: {text.splitlines()[-1] if text else 'cannot run'}")
    found = re.search(r" in (.*?) \(first cold\); peak RSS (\d+) MiB", text)
    if process.returncode != 0 or not found:
        return SambaResult(None, None, f"failed (exit {process.returncode}): {text[-300:]}")
    reads = [float(s.rstrip("s")) for s in found.group(1).split(", ")]
    shares = (
        f"; CPU during the 3 reads (/proc sampling): syncd's reader ≈ {cpu.total('--child'):.1f} s "
        f"(incl. imports), Samba DC ≈ {cpu.samba():.1f} s (its search evaluation)"
    )
    return SambaResult(median(reads), float(found.group(2)), text.splitlines()[-1] + shares)


def machine_reference() -> float:
    """CPU seconds of a fixed pure-Python workload (JSON and dicts, like syncd's), best of seven: this VM's
    speed drifts by tens of percent over minutes, so CPU figures are only comparable next to it."""
    rows = [{"email": f"p{i:06d}@{DOMAIN}", "role": {"id": str(i), "name": ROLE}} for i in range(20_000)]
    text = json.dumps(rows)
    best = math.inf
    for _ in range(7):
        begun = time.process_time()
        decoded = json.loads(text)
        index = {row["email"]: row["role"]["name"] for row in decoded}
        _ = sorted(index)
        best = min(best, time.process_time() - begun)
    return best


def machine_reference_ms() -> float:
    """machine_reference() in a child process: the parent must stay small, because a child started with
    vfork + exec inherits the parent's peak RSS as its own ru_maxrss floor."""
    output = subprocess.run(
        [PYTHON, __file__, "--machine-reference"], capture_output=True, text=True, check=True, timeout=120
    )
    return float(output.stdout)


IDLE_RECLAIM = """
[reclaim]
idle_for = "60d"
min_seat_age = "0s"
mode = "report"
activity_overlap = "{overlap}"
activity_budget = {budget}
"""
WORKLOGS = "GET worklogs/all"
QUOTA_PER_MINUTE = 100  # 7pace's documented quota (10/s, 100/min)


def idle_scenario(options: Options) -> list[Row]:
    """Idle seats (issue 18): S seats, W worklogs over 60 days (every 10th person logs nothing), `syncd idle
    --format json` runs: the first read in one go (activity_budget = 0), then incremental reads with the
    default 26 h overlap and with 1 h; then, from an empty state, the first read spread over runs by the
    default budget of 300 requests. Quota off on both sides; the time at 7pace's quota is computed from the
    requests (100/min), since waiting it out would only measure the limiter."""
    seats, count = options.idle_seats, options.idle_worklogs
    folder = options.work / "idle"
    dataset = make_dataset(folder / "data", seats, 0, 0)
    extra = ("--worklogs", str(count), "--worklog-days", "60", "--idle-every", "10")
    rows: list[Row] = []
    with emulator(dataset, folder, 0, 0, extra) as emu:
        runs = [("idle-first", "26h", 0), ("idle-26h", "26h", 0), ("idle-1h", "1h", 0)]
        runs += [(f"idle-budget{i}", "26h", 300) for i in range(1, 7)]
        budget_dir = folder / "run-budget"
        for name, overlap, budget in runs:
            run_dir = budget_dir if budget else folder / "run"
            config = write_config(run_dir, emu.url, dataset.members, 0, 0, options.batch_size)
            text = config.read_text(encoding="utf-8")
            config.write_text(text + IDLE_RECLAIM.format(overlap=overlap, budget=budget), encoding="utf-8")
            command = syncd_command(["idle", "-c", str(config), "--format", "json"], None)
            result = measure(command, run_dir, 900)
            check_exit(name, result, (0,))
            summary = json.loads(result.stdout)["summary"] or "first read in progress"
            log = emu.take_log()
            reads = sum(1 for r in log if r.kind == WORKLOGS)
            rows_read = sum(r.entries for r in log if r.kind == WORKLOGS)
            at_quota = _at_quota(sum(1 for r in log if r.status != 429))
            note = (
                f"S={seats:,} W={count:,} in 60 d; {WORKLOGS}: {reads} requests, {rows_read:,} rows "
                f"(overlap {overlap}, activity_budget {budget}); all requests at 7pace's 100/min "
                f"≥ {at_quota}; {summary}; emulator loaded in {emu.startup:.1f} s"
            )
            rows.append(Row(name, 1, result.wall, result.cpu, result.rss_kib / 1024, by_kind(log), note=note))
            if budget and summary != "first read in progress":
                break
    return rows


def _at_quota(requests: int) -> str:
    """The least time `requests` take under 10/s and 100/min sliding windows."""
    minutes, rest = divmod(max(requests - 1, 0), QUOTA_PER_MINUTE)
    seconds = 60 * minutes + rest / 10
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def check_exit(what: str, result: Measured, allowed: tuple[int, ...]) -> None:
    if result.exit_code not in allowed:
        raise RuntimeError(
            f"{what}: exit {result.exit_code}; stderr: {result.stderr.strip()[-800:]}; "
            f"stdout: {result.stdout.strip()[-300:]}"
        )


# -- report ----------------------------------------------------------------------------------------------
def print_table(rows: Sequence[Row], samba: SambaResult | None) -> None:
    header = (
        f"{'scenario':<10} {'runs':>4} {'wall s':>8} {'CPU s':>7} {'RSS MiB':>8}  "
        f"{'requests by kind':<24} {'429':>4} {'req/min':>8} {'of quota':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        cpu = f"{r.cpu:.2f}" if r.cpu is not None else "-"
        rss = f"{r.rss_mib:.0f}" if r.rss_mib is not None else "-"
        rate = f"{r.per_minute:.0f}" if r.per_minute is not None else "-"
        share = (
            f"{100 * r.per_minute / r.quota_per_minute:.0f}%"
            if r.per_minute and r.quota_per_minute
            else "off"
        )
        print(
            f"{r.scenario:<10} {r.runs:>4} {r.wall:>8.2f} {cpu:>7} {rss:>8}  "
            f"{kinds_text(r.requests):<24} {r.throttled:>4} {rate:>8} {share:>8}"
        )
    if samba is not None and samba.seconds is not None:
        print(
            f"{'samba-10k':<10} {3:>4} {samba.seconds:>8.2f} {'-':>7} {samba.rss_mib or 0:>8.0f}  (LDAP read)"
        )
    print()
    for r in rows:
        print(f"{r.scenario}: {r.note}")
    if samba is not None:
        print(f"samba-10k: {samba.message}")


def verdict(ok: bool) -> str:
    return "MET   " if ok else "MISSED"


@dataclass
class Results:
    """What this invocation measured (scenarios left out by --only stay None)."""

    small: Row | None = None
    large: Row | None = None
    breakdown: str = ""
    applied: Row | None = None
    budget: int = 0
    total: int = 0
    post_rate: float | None = None
    naive: Row | None = None
    naive_wall: float = 0.0
    naive_requests: float = 0.0
    samba: SambaResult | None = None
    idle: list[Row] = field(default_factory=list)

    def rows(self) -> list[Row]:
        return [r for r in (self.small, self.large, self.applied, self.naive) if r is not None] + self.idle


def targets(options: Options, results: Results) -> list[tuple[bool | None, str]]:
    """(met?, what) for each of issue 8's targets that was measured; None = could not be measured."""
    found: list[tuple[bool | None, str]] = []
    small, large, applied = results.small, results.large, results.applied
    if large is not None:
        cpu, rss = large.cpu or 0.0, large.rss_mib or 0.0
        found.append((cpu <= 4, f"{large.scenario}: syncd CPU {cpu:.2f} s ≤ 4 s"))
        found.append((rss <= 250, f"{large.scenario}: peak RSS {rss:.0f} MiB ≤ 250 MB"))
        if small is not None:
            factor = options.plan_sizes[1] // options.plan_sizes[0]
            ratio = large.wall / small.wall
            found.append((ratio <= 12, f"scaling: wall {ratio:.2f}× ≤ 12× for {factor}× the people"))
    if applied is not None:
        quota = options.quota_per_second * 60
        achieved = results.post_rate or 0.0
        found += [
            (
                results.total <= results.budget,
                f"apply: {results.total} requests ≤ {results.budget} = ceil(changes / batch) + reads + 5",
            ),
            (applied.throttled == 0, f"apply: {applied.throttled} responses 429 (zero wanted)"),
            (
                achieved >= 0.9 * quota,
                f"apply: POST-phase rate {achieved:.0f}/min ≥ 90 % of {quota}/min "
                f"({100 * achieved / quota:.0f} %)",
            ),
        ]
    naive = results.naive
    if applied is not None and naive is not None:
        sampled = options.naive_changes not in (0, options.apply_changes)
        found.append(
            (
                None if sampled else True,
                "naive baseline in the same run, ratio above"
                + (f" (measured on {options.naive_changes:,} changes, scaled linearly)" if sampled else ""),
            )
        )
    samba = results.samba
    if samba is not None and samba.seconds is None:
        found.append((None, f"samba: {samba.message}"))
    elif samba is not None and samba.seconds is not None:
        rss_mib = samba.rss_mib or 0.0
        found.append(
            (
                samba.seconds <= 15 and rss_mib <= 150,
                f"samba: 10,000-member read {samba.seconds:.2f} s ≤ 15 s (median of 3), "
                f"peak RSS {rss_mib:.0f} MiB ≤ 150 MB",
            )
        )
    return found


SCENARIOS = ("plan", "apply", "naive", "samba", "idle")


def run_scenarios(options: Options, only: Sequence[str]) -> Results:
    results = Results()
    if "plan" in only:
        results.small, _, _, _ = plan_scenario(options, options.plan_sizes[0])
        print(f"  {results.small.scenario}: {results.small.wall:.2f}s", flush=True)
        results.large, _, _, results.breakdown = plan_scenario(options, options.plan_sizes[1])
        print(f"  {results.large.scenario}: {results.large.wall:.2f}s", flush=True)
    if "apply" in only:
        results.applied, results.budget, results.total, results.post_rate = apply_scenario(options)
        print(f"  {results.applied.scenario}: {results.applied.wall:.2f}s", flush=True)
    if "naive" in only:
        results.naive, results.naive_wall, results.naive_requests = naive_scenario(options)
        print(f"  naive: {results.naive.wall:.2f}s", flush=True)
    if "samba" in only:
        results.samba = samba_scenario(options)
    if "idle" in only:
        results.idle = idle_scenario(options)
        print("  " + ", ".join(f"{r.scenario}: {r.wall:.2f}s" for r in results.idle), flush=True)
    return results


def print_report(options: Options, results: Results, quick: bool) -> None:
    print()
    print_table(results.rows(), results.samba)
    small, large, applied, naive = results.small, results.large, results.applied, results.naive
    if large is not None and results.breakdown:
        print(f"\n{large.scenario} {results.breakdown}\n  (one more run, under bench/stages.py)")
    print()
    if applied is not None and naive is not None:
        requests, wall = results.naive_requests, results.naive_wall
        print(
            f"naive ÷ syncd, {options.apply_changes:,} changes: requests {requests:,.0f} ÷ {results.total} "
            f"= {requests / results.total:.0f}×; wall {wall:,.0f} s ÷ {applied.wall:.1f} s "
            f"= {wall / applied.wall:.0f}×"
        )
    if small is not None and large is not None:
        print(
            f"scaling {large.scenario} ÷ {small.scenario}: wall {large.wall / small.wall:.2f}×, "
            f"CPU {(large.cpu or 0) / (small.cpu or 1):.2f}× (medians)"
        )
    print()
    print(
        "Targets (issue 8)" + (" at a tenth of the sizes (--quick): indicative only" if quick else "") + ":"
    )
    for met, text in targets(options, results):
        print(f"  {'n/a   ' if met is None else 'MET   ' if met else 'MISSED'} {text}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1k/10k plans, 1,000 changes, 1 run, no Samba")
    parser.add_argument("--runs", type=int, help="plan runs per size (median reported; default 3, quick 1)")
    parser.add_argument("--naive-changes", type=int, help="naive sample (0 = all; default 2,000, quick 200)")
    parser.add_argument("--only", help=f"comma-separated scenarios to run, of {','.join(SCENARIOS)}")
    parser.add_argument("--no-samba", action="store_true", help="skip the Samba scenario")
    parser.add_argument("--profile", action="store_true", help="also run each once more under cProfile")
    parser.add_argument("--keep", type=Path, help="keep the scenarios' files in this folder")
    parser.add_argument("--machine-reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.machine_reference:
        print(f"{1000 * machine_reference():.1f}")
        return 0
    only = [name.strip() for name in (args.only or ",".join(SCENARIOS)).split(",") if name.strip()]
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        parser.error(f"--only: unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")

    work = args.keep or Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    if args.keep:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    naive_default = 200 if args.quick else 2_000
    options = Options(
        work=work,
        plan_sizes=(1_000, 10_000) if args.quick else (10_000, 100_000),
        runs=args.runs or (1 if args.quick else 3),
        churn_percent=1.0,
        apply_changes=1_000 if args.quick else 10_000,
        quota_per_second=20,
        batch_size=100,
        naive_changes=naive_default if args.naive_changes is None else args.naive_changes,
        samba=not (args.quick or args.no_samba),
        profile=args.profile,
        stages=not args.quick,
        timeout=600,
        idle_seats=1_000 if args.quick else 10_000,
        idle_worklogs=50_000 if args.quick else 500_000,
    )
    started = time.perf_counter()
    reference = machine_reference_ms()
    print(f"syncd bench ({'quick' if args.quick else 'full'}); files in {work}", flush=True)
    try:
        results = run_scenarios(options, only)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print_report(options, results, args.quick)
    print(
        f"\nbench took {time.perf_counter() - started:.0f} s; machine reference "
        f"{reference:.0f} ms at the start, {machine_reference_ms():.0f} ms at the end "
        "(bench.run.machine_reference: lower is faster; CPU figures scale with it); the bench's own "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (a floor under "
        "every RSS above)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
