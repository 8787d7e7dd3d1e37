"""``python -m perfsys``: list and stat, against the running kernel and against perf stat."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import DATA, DEVICES, ENV, TRACEFS, require_tracefs, touch_pages

import perfsys
from perfsys import constants as C
from perfsys.__main__ import Counter, Row, Session, main, print_stat, stat_rows
from perfsys.events import EventGroup, parse_event


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perfsys", *args], capture_output=True,
                          text=True, env=ENV, timeout=120)


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler (gcc) to build the workload")
    exe = tmp_path_factory.mktemp("workload") / "touch_sleep"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(DATA / "touch_sleep.c")],
                   check=True)
    return exe


def csv_counts(text: str, sep: str = ",") -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        fields = line.split(sep)
        if len(fields) >= 5:
            out[fields[2]] = fields[0]
    return out


# -- list ------------------------------------------------------------------


def test_list_shows_every_pmu_with_its_type() -> None:
    r = run_cli("list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for d in sorted(DEVICES.iterdir()):
        t = (d / "type").read_text().strip()
        assert any(line.split()[:3] == [d.name, "type", t] for line in lines), d.name
    for f in DEVICES.glob("*/format/*"):
        assert f"{f.name}={f.read_text().strip()}" in r.stdout


def test_list_marks_what_cannot_open() -> None:
    r = run_cli("list")
    line = next(x for x in r.stdout.splitlines() if x.strip().startswith("cpu-cycles OR cycles"))
    attr = perfsys.perf_event_attr(type=C.PERF_TYPE_HARDWARE, config=C.PERF_COUNT_HW_CPU_CYCLES,
                                   disabled=1)
    try:
        os.close(perfsys.perf_event_open(attr, 0, -1))
    except OSError as err:
        import errno

        assert f"[not supported here: {errno.errorcode[err.errno]}]" in line
    else:
        assert "not supported" not in line
    tc = next(x for x in r.stdout.splitlines() if x.strip().startswith("task-clock"))
    assert "not supported" not in tc
    assert "L1-dcache-load-misses" in r.stdout
    if (TRACEFS / "events" / "sched").is_dir():
        assert any(x.split()[:1] == ["sched"] for x in r.stdout.splitlines())


def test_list_pattern_lists_tracepoints() -> None:
    require_tracefs("sched", "sched_switch")
    r = run_cli("list", "sched_switch")
    assert r.returncode == 0
    assert "  sched:sched_switch" in r.stdout.splitlines()
    assert "task-clock" not in r.stdout


# -- stat ------------------------------------------------------------------


def test_stat_agrees_with_perf(workload: Path) -> None:
    """page-faults and context-switches of one deterministic program, perf vs perfsys.

    The program touches 3000 fresh pages (3000 faults) and sleeps 40 times for 1 ms (40
    voluntary switches); both tools enable counting at its exec and inherit into nothing.
    What differs run to run is the dynamic loader's and libc's start-up (a few dozen
    faults, varying by a handful with address-space layout) and involuntary switches when
    the two shared cores are busy. So: each count must reach the program's own floor, and
    the tools agree within 2% + 10 for faults and 25% + 5 for switches, which is wider
    than the run-to-run spread of either tool alone on this machine, and far narrower
    than the floors themselves (a counter that missed the program would fail).
    """
    perf = shutil.which("perf")
    if perf is None:
        pytest.skip("perf is not installed (tools/bootstrap.sh installs linux-perf)")
    args = [str(workload), "3000", "40", "0"]
    events = "page-faults,context-switches"
    p = subprocess.run([perf, "stat", "-x,", "-e", events, *args], capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0 or "page-faults" not in p.stderr:
        pytest.skip(f"perf stat does not work here: {p.stderr.strip()[:200]}")
    ours = run_cli("stat", "-x,", "-e", events, "--", *args)
    assert ours.returncode == 0, ours.stderr
    theirs_c, ours_c = csv_counts(p.stderr), csv_counts(ours.stderr)
    pf_t, pf_o = int(theirs_c["page-faults"]), int(ours_c["page-faults"])
    cs_t, cs_o = int(theirs_c["context-switches"]), int(ours_c["context-switches"])
    assert pf_o >= 3000 and pf_t >= 3000
    assert cs_o >= 40 and cs_t >= 40
    assert abs(pf_o - pf_t) <= 0.02 * pf_t + 10, (pf_o, pf_t)
    assert abs(cs_o - cs_t) <= 0.25 * cs_t + 5, (cs_o, cs_t)


def test_stat_human_output(workload: Path) -> None:
    r = run_cli("stat", "-e", "task-clock,page-faults,cycles", "--", str(workload), "100", "2",
                "0")
    assert r.returncode == 0, r.stderr
    assert f"Performance counter stats for '{workload} 100 2 0':" in r.stderr
    lines = r.stderr.splitlines()
    tc = next(x for x in lines if " task-clock" in x)
    assert tc.split()[1] == "msec" and "CPUs utilized" in tc
    pf = next(x for x in lines if " page-faults" in x)
    assert int(pf.split()[0]) >= 100 and "/sec" in pf
    cy = next(x for x in lines if x.strip().endswith("cycles"))
    try:
        parse_event("cycles").attr()
        attr = parse_event("cycles").attr(disabled=1)
        os.close(perfsys.perf_event_open(attr, 0, -1))
    except OSError:
        assert cy.split()[:2] == ["<not", "supported>"]
    assert "seconds time elapsed" in r.stderr
    assert "seconds user" in r.stderr and "seconds sys" in r.stderr


def test_stat_group_csv(workload: Path) -> None:
    r = run_cli("stat", "-x", ";", "-e", "{task-clock,page-faults,cs}", "-e", "minor-faults",
                str(workload), "500", "3", "0")
    assert r.returncode == 0, r.stderr
    rows = [x.split(";") for x in r.stderr.splitlines()]
    assert [x[2] for x in rows] == ["task-clock", "page-faults", "cs", "minor-faults"]
    assert all(len(x) == 7 for x in rows)
    assert rows[0][1] == "msec"
    assert int(rows[1][0]) >= 500 and int(rows[3][0]) >= 500
    assert int(rows[2][0]) >= 3
    # one group, scheduled together: one running time for its members
    assert rows[0][3] == rows[1][3] == rows[2][3]
    assert float(rows[0][4]) == 100.0


def test_stat_tracepoint(workload: Path) -> None:
    require_tracefs("sched", "sched_switch")
    r = run_cli("stat", "-x,", "-e", "sched:sched_switch,context-switches", "--", str(workload),
                "0", "10", "0")
    assert r.returncode == 0, r.stderr
    c = csv_counts(r.stderr)
    assert int(c["sched:sched_switch"]) >= 10
    assert int(c["context-switches"]) >= 10


def test_stat_exit_status_passes_through(workload: Path) -> None:
    assert run_cli("stat", "-e", "task-clock", str(workload), "0", "0", "7").returncode == 7
    r = run_cli("stat", "-e", "task-clock", "--", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 128 + signal.SIGTERM
    assert "task-clock" in r.stderr


def test_stat_command_not_found() -> None:
    r = run_cli("stat", "--", "/no/such/program")
    assert r.returncode == 127
    assert r.stderr.strip().splitlines() == [
        "perfsys: stat: cannot run '/no/such/program': No such file or directory"
    ]


def test_stat_pid(workload: Path) -> None:
    # about 2.5 s of 1 ms sleeps: long enough for perfsys to start and attach
    child = subprocess.Popen([str(workload), "0", "2000", "0"])
    try:
        time.sleep(0.05)
        r = run_cli("stat", "-x,", "-e", "context-switches,task-clock", "-p", str(child.pid))
    finally:
        child.wait()
    assert r.returncode == 0, r.stderr
    cs = int(csv_counts(r.stderr)["context-switches"])
    assert 1 <= cs <= 2000 + 50


def test_stat_pid_timeout() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        t0 = time.monotonic()
        r = run_cli("stat", "-e", "task-clock", "--timeout", "200", "-p", str(child.pid))
        assert time.monotonic() - t0 < 25
    finally:
        child.kill()
        child.wait()
    assert r.returncode == 0, r.stderr
    assert f"process id '{child.pid}'" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a command"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["stat"], "nothing to count"),
        (["stat", "-e"], "argument -e/--event: expected one argument"),
        (["stat", "-e", "cyclez", "true"], "unknown event 'cyclez'"),
        (["stat", "-e", "task-clock:q", "true"], "bad modifier 'q'"),
        (["stat", "-e", "{task-clock", "true"], "'{' without its '}' (at position 0 of"),
        (["stat", "-e", "software/nope=1/", "true"], "unknown term 'nope'"),
        (["stat", "-e", "", "true"], "empty event list"),
        (["stat", "--bogus", "true"], "unrecognized arguments: --bogus"),
        (["stat", "-p", "abc"], "bad id 'abc'"),
        (["stat", "-p", "1", "--", "true"], "not both"),
        (["stat", "--timeout", "-5", "-p", "1"], "--timeout takes"),
        (["stat", "-x", "", "true"], "may not be empty"),
        (["list", "a", "b"], "at most one PATTERN"),
        (["list", "--bogus"], "unknown option"),
    ],
)
def test_bad_command_lines(args: list[str], message: str) -> None:
    r = run_cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("perfsys: ") and message in lines[0]
    assert r.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
        (["stat", "-t", "0"], "bad id '0'"),
        (["stat", "-r", "0", "true"], "--repeat takes a whole number >= 1"),
        (["stat", "-r", "2", "-p", "1"], "-r repeats a COMMAND"),
        (["stat", "-r", "2", "-I", "100", "true"], "-r and -I"),
        (["stat", "-I", "5", "true"], ">= 10"),
        (["stat", "-A", "true"], "-A needs -a or -C"),
        (["stat", "--per-core", "true"], "--per-core needs -a or -C"),
        (["stat", "--per-socket", "-p", "1"], "-a or -C"),
        (["stat", "--per-thread", "true"], "--per-thread needs -p PID or -t TID"),
        (["stat", "-A", "--per-core", "-a"], "not allowed with argument"),
        (["stat", "-x,", "-j", "true"], "not allowed with argument"),
        (["stat", "-C", "x", "true"], "bad CPU list 'x'"),
        (["stat", "-C", "100000", "true"], "CPU 100000 is not online"),
        (["stat", "-a", "-p", "1"], "not both"),
        (["stat", "-D", "100", "-p", "1"], "-D delays"),
        (["stat", "--filter", "x", "true"], "--filter follows the -e"),
        (["stat", "-e", "cs", "--filter", "x", "true"], "--filter applies to tracepoints"),
        (["stat", "-o", "/no/such/dir/x", "true"], "cannot write '/no/such/dir/x'"),
        (["stat", "--timeout", "x", "-p", "1"], "--timeout takes"),
])
def test_stat_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str],
                           message: str) -> None:
    """stat's own usage errors, in this process: one line on stderr, status 2."""
    assert main(args) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1, err
    assert lines[0].startswith("perfsys: stat: ") and message in lines[0]


def test_stat_no_such_pid() -> None:
    # a pid that cannot exist: above pid_max
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    r = run_cli("stat", "-e", "task-clock", "-p", str(pid_max + 1))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"perfsys: no such process: {pid_max + 1}"]


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "stat" in capsys.readouterr().out
    assert main(["stat", "--help"]) == 0
    assert "--field-separator" in capsys.readouterr().out


def test_multiplexed_counts_are_scaled_and_marked() -> None:
    """Scaling arithmetic and its display, from counter values the kernel could report.

    Software events are never multiplexed, so this machine cannot make the kernel do it;
    the numbers are those a counter that ran a quarter of the time would read.
    """
    spec = parse_event("cs")
    session = Session([EventGroup([spec])], [], enable_on_exec=False)
    c: Counter = session.counters[0][0]
    c.fds.append(-1)  # "opened"
    c.counts[(0, -1)] = [1000, 4_000_000, 1_000_000]
    rows = stat_rows(session, 1.0)
    assert rows[0] == Row("4000", "", "cs", 1_000_000, 25.0, count=4000.0)
    import io

    out = io.StringIO()
    print_stat(rows, out, None, "'x'", 1.0, None)
    line = next(x for x in out.getvalue().splitlines() if " cs" in x)
    assert line.split()[0] == "4000" and line.endswith("(25.00%)")
    assert "multiplexed" in out.getvalue()
    c.counts[(0, -1)][2] = 0
    assert stat_rows(session, 1.0)[0].value == "<not counted>"
    c.fds.clear()


def test_stat_ctrl_c_goes_to_the_command() -> None:
    """Ctrl-C (SIGINT to the terminal's process group) ends the command, not perfsys,
    which still prints the counts and exits with 128 + SIGINT, as the shell would."""
    p = subprocess.Popen(
        [sys.executable, "-m", "perfsys", "stat", "-x,", "-e", "task-clock", "--", "sleep", "30"],
        stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True,
    )
    try:
        # wait until the command has exec'd: perfsys's child becomes "sleep"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
            if kids and Path(f"/proc/{kids[0]}/comm").read_text().strip() == "sleep":
                break
            time.sleep(0.02)
        else:
            pytest.fail("the command never started")
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 128 + signal.SIGINT
    assert ",msec,task-clock," in err


# -- stat: perf's options, compared with perf stat ------------------------------------------
#
# Where both tools count the same program, the tolerance is stated with each test: counts
# of one deterministic program agree within a few percent, and where the whole machine is
# counted (-a, -C), other processes' activity is counted too, so each count must reach the
# program's own floor, and the layouts must be perf's.


def perf_or_skip() -> str:
    perf = shutil.which("perf")
    if perf is None:
        pytest.skip("perf is not installed (tools/bootstrap.sh installs linux-perf)")
    p = subprocess.run([perf, "stat", "-x,", "-e", "task-clock", "true"], capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0 or "task-clock" not in p.stderr:
        pytest.skip(f"perf stat does not work here: {p.stderr.strip()[:200]}")
    return perf


def perf_stat(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["perf", "stat", *args], capture_output=True, text=True, timeout=120,
                          preexec_fn=(lambda: drop_to(user)) if user is not None else None)


def drop_to(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def csv_rows(text: str, sep: str = ",") -> list[list[str]]:
    return [x.split(sep) for x in text.splitlines() if x and not x.startswith("#")]


@pytest.fixture(scope="module")
def threads_spin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler (gcc) to build the threaded workload")
    exe = tmp_path_factory.mktemp("threads") / "threads_spin"
    subprocess.run(["gcc", "-O1", "-pthread", "-o", str(exe),
                    str(DATA / "threads_spin.c")], check=True)
    return exe


def test_csv_layout_is_perfs(workload: Path) -> None:
    """-x: the same lines, fields and units as perf; a <not supported> line byte for byte."""
    perf_or_skip()
    args = ["-x,", "-e", "task-clock,page-faults,cycles", "--", str(workload), "100", "0", "0"]
    theirs, ours = csv_rows(perf_stat(*args).stderr), csv_rows(run_cli("stat", *args).stderr)
    assert [len(r) for r in ours] == [len(r) for r in theirs] == [7, 7, 7]
    assert [r[1:3] for r in ours] == [r[1:3] for r in theirs]
    assert [r[4] for r in ours] == [r[4] for r in theirs]
    if theirs[2][0] == "<not supported>":
        assert ours[2] == theirs[2]


def test_stat_repeat(workload: Path) -> None:
    """-r 4: the mean of 4 runs and "+- x.xx%"; page-faults within 2% + 10 of perf's mean."""
    perf_or_skip()
    args = ["-r", "4", "-x,", "-e", "page-faults,task-clock", "--", str(workload), "2000", "0",
            "0"]
    theirs, ours = csv_rows(perf_stat(*args).stderr), csv_rows(run_cli("stat", *args).stderr)
    assert [len(r) for r in ours] == [len(r) for r in theirs] == [8, 8]
    assert all(re.fullmatch(r"\d+\.\d\d%", r[3]) for r in ours)
    pf_t, pf_o = float(theirs[0][0]), float(ours[0][0])
    assert pf_o >= 2000 and abs(pf_o - pf_t) <= 0.02 * pf_t + 10, (pf_o, pf_t)
    human = run_cli("stat", "-r", "3", "-e", "page-faults", "--", str(workload), "100", "0", "0")
    assert human.returncode == 0, human.stderr
    assert "(3 runs):" in human.stderr
    line = next(x for x in human.stderr.splitlines() if "page-faults" in x)
    assert re.search(r"\( \+- +\d+\.\d\d% \)$", line), line
    assert re.search(r"\d +\+- \d+\.\d+ seconds time elapsed  \( \+- +\d+\.\d\d% \)",
                     human.stderr)


def test_stat_interval(workload: Path) -> None:
    """-I 100: lines of 100 ms each with their time column, in CSV too; the intervals'
    context switches add up to the program's 300 at least, as perf's do."""
    perf_or_skip()
    args = ["-I", "100", "-x,", "-e", "cs", "--", str(workload), "0", "300", "0"]
    theirs, ours = csv_rows(perf_stat(*args).stderr), csv_rows(run_cli("stat", *args).stderr)
    assert {len(r) for r in ours} == {len(r) for r in theirs} == {8}
    times = [float(r[0]) for r in ours]
    assert len(times) >= 3 and times == sorted(times)
    assert all(re.fullmatch(r" *\d+\.\d{9}", r[0]) for r in ours)
    # a tick is never early: the i-th line comes at 100 ms * i or later, each in a later
    # 100 ms slot than the one before (how late depends on the machine's load, so unbounded);
    # the last line is the command's exit, in any slot
    slots = [int(t / 0.1 + 1e-6) for t in times[:-1]]
    assert slots == sorted(set(slots)), times
    assert all(slot >= i + 1 for i, slot in enumerate(slots)), times
    cs_o = sum(int(r[1]) for r in ours if r[1][0] != "<")
    cs_t = sum(int(r[1]) for r in theirs if r[1][0] != "<")
    assert cs_o >= 300 and cs_t >= 300
    assert abs(cs_o - cs_t) <= 0.25 * cs_t + 5, (cs_o, cs_t)
    human = run_cli("stat", "-I", "100", "-e", "task-clock", "--", str(workload), "0", "150", "0")
    lines = human.stderr.splitlines()
    assert lines[0] == "#           time             counts unit events"
    assert re.match(r" +\d+\.\d{9} +(\d+\.\d\d|<not counted>) msec task-clock", lines[1])
    j = run_cli("stat", "-I", "100", "-j", "-e", "task-clock", "--", str(workload), "0", "150",
                "0")
    first = json.loads(j.stderr.splitlines()[0])
    assert list(first)[:2] == ["interval", "counter-value"]


def test_stat_system_wide(workload: Path) -> None:
    """-a, -C, -A, --per-core, --per-socket: the aggregation columns are perf's, from the
    sysfs topology; the counts reach the program's floor (300 page faults, 20 switches)."""
    perf_or_skip()
    prog = [str(workload), "300", "20", "0"]
    for extra in ([], ["-A"], ["--per-core"], ["--per-socket"]):
        args = ["-a", *extra, "-x,", "-e", "page-faults,cs", "--", *prog]
        theirs = csv_rows(perf_stat(*args).stderr)
        r = run_cli("stat", *args)
        assert r.returncode == 0, r.stderr
        ours = csv_rows(r.stderr)
        width = {"-A": 1, "--per-core": 2, "--per-socket": 2}.get(extra[0] if extra else "", 0)
        assert [r[:width] for r in ours] == [r[:width] for r in theirs], extra
        assert [len(r) for r in ours] == [len(r) for r in theirs]
        for name, floor in (("page-faults", 300), ("cs", 20)):
            mine = sum(int(r[width]) for r in ours if r[width + 2] == name)
            perfs = sum(int(r[width]) for r in theirs if r[width + 2] == name)
            # whatever else runs on the machine is counted too, by both tools at
            # different moments: the program's own floor is the tolerance
            assert mine >= floor and perfs >= floor, (name, mine, perfs)
    r = run_cli("stat", "-C", "0", "-A", "-x,", "-e", "cpu-clock", "--", *prog)
    rows = csv_rows(r.stderr)
    assert [x[0] for x in rows] == ["CPU0"] and rows[0][3] == "cpu-clock"
    # -C 0: cpu-clock of one CPU is the length of the counting: for each tool at least the
    # 200 ms sleep, and at most the tool's own lifetime (however long a loaded machine
    # keeps it from reading the counter)
    args = ["-C", "0", "-x,", "-e", "cpu-clock", "--", "sleep", "0.2"]
    for run in (lambda: run_cli("stat", *args), lambda: perf_stat(*args)):
        t0 = time.monotonic()
        counted = float(csv_rows(run().stderr)[0][0])
        lifetime_ms = (time.monotonic() - t0) * 1000
        assert 180 <= counted <= lifetime_ms, (counted, lifetime_ms)
    r = run_cli("stat", "-a", "-e", "cs", "--timeout", "200")
    assert r.returncode == 0 and "Performance counter stats for 'system wide':" in r.stderr
    j = run_cli("stat", "-a", "--per-socket", "-j", "-e", "cs", "--", *prog)
    theirs_j = perf_stat("-a", "--per-socket", "-j", "-e", "cs", "--", *prog).stderr
    assert list(json.loads(j.stderr.splitlines()[0])) == \
        list(json.loads(theirs_j.splitlines()[0]))


def start_threads(exe: Path) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen([str(exe), "2000", "200"], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline().split()
    assert line[0] == "ready"
    return child, int(line[1])


def task_clock_ms(text: str) -> dict[str, float]:
    return {r[0] if len(r) == 8 else "": float(r[-7]) for r in csv_rows(text)
            if r[-5] == "task-clock"}


@pytest.mark.thread_unsafe(reason="its program spins three threads that must start after "
                                  "stat attaches: copies running at once starve it past that")
def test_stat_pid_counts_every_thread(threads_spin: Path) -> None:
    """-p of a process whose threads spin 3 x 200 ms of CPU (two of them started while
    counted, one that existed before): at least 570 ms, and within 15% + 30 ms of perf."""
    perf_or_skip()
    child, _tid = start_threads(threads_spin)
    try:
        r = run_cli("stat", "-x,", "-e", "task-clock", "-p", str(child.pid))
    finally:
        child.wait()
    assert r.returncode == 0, r.stderr
    ours = task_clock_ms(r.stderr)[""]
    child, _tid = start_threads(threads_spin)
    # perf watches for the process with kill(pid, 0): it must be reaped, not a zombie
    perf = subprocess.Popen(["perf", "stat", "-x,", "-e", "task-clock", "-p", str(child.pid)],
                            stderr=subprocess.PIPE, text=True)
    child.wait()
    _, err = perf.communicate(timeout=60)
    theirs = task_clock_ms(err)[""]
    assert ours >= 570 and theirs >= 570
    assert abs(ours - theirs) <= 0.15 * theirs + 30, (ours, theirs)


@pytest.mark.thread_unsafe(reason="its program spins three threads that must start after "
                                  "stat attaches: copies running at once starve it past that")
def test_stat_per_thread_and_tid(threads_spin: Path) -> None:
    """--per-thread: one line per thread that existed at the start (new threads count in
    their creator's line, as perf's); -t TID: that thread only (its 200 ms)."""
    child, tid = start_threads(threads_spin)
    try:
        r = run_cli("stat", "-x,", "--per-thread", "-e", "task-clock", "-p", str(child.pid))
    finally:
        child.wait()
    assert r.returncode == 0, r.stderr
    per = task_clock_ms(r.stderr)
    name = threads_spin.name[:15]
    assert set(per) == {f"{name}-{child.pid}", f"{name}-{tid}"}
    assert per[f"{name}-{child.pid}"] >= 380 and per[f"{name}-{tid}"] >= 190
    child, tid = start_threads(threads_spin)
    try:
        r = run_cli("stat", "-x,", "-e", "task-clock", "-t", str(tid))
    finally:
        child.wait()
    assert r.returncode == 0, r.stderr
    assert 190 <= task_clock_ms(r.stderr)[""] < 380
    assert "thread id" in run_cli("stat", "-e", "cs", "-t", str(os.getpid()), "--timeout",
                                  "50").stderr


@pytest.mark.thread_unsafe(reason="starts children as nobody through preexec_fn, which is "
                                  "unsafe beside other threads")
def test_stat_unprivileged_falls_back_to_user_mode() -> None:
    """As nobody, with perf_event_paranoid 2, the kernel refuses kernel-mode counting: stat
    counts user mode only, says so with the library's hint, and names the events ":u" as
    perf does; page-faults of `true` within 20% + 10 of perf's, run as nobody too."""
    paranoid = int(Path("/proc/sys/kernel/perf_event_paranoid").read_text())
    if paranoid < 2 or paranoid > 2:
        pytest.skip(f"perf_event_paranoid is {paranoid}: the fallback happens at 2")
    if os.geteuid() != 0:
        pytest.skip("not root: cannot start a child as nobody")
    nobody = 65534
    python = None  # an interpreter nobody can run, that imports this perfsys
    for candidate in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        try:
            probe = subprocess.run([candidate, "-c", "import perfsys"], env=ENV,
                                   capture_output=True, preexec_fn=lambda: drop_to(nobody))
        except OSError:
            continue
        if probe.returncode == 0:
            python = candidate
            break
    if python is None:
        pytest.skip("nobody can run no Python that imports this perfsys (unreadable paths)")
    def stat(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([python, "-m", "perfsys", "stat", "-x,", *args], env=ENV,
                              capture_output=True, text=True, timeout=120,
                              preexec_fn=lambda: drop_to(nobody))

    # kernel mode only: nothing to fall back to; the library's reason is the message
    r = stat("-e", "cs:k", "--", "true")
    assert r.returncode == 1 and "set exclude_kernel=1" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    r = stat("-e", "cs:G", "--", "true")  # perf's name: u joins written modifiers
    assert r.returncode == 0 and ",cs:Gu," in r.stderr
    r = stat("-e", "task-clock,page-faults", "--", "true")
    assert r.returncode == 0, r.stderr
    note = r.stderr.splitlines()[0]
    assert note.startswith("perfsys: stat: counting user mode only (task-clock:u, page-faults:u)")
    assert "exclude_kernel=1" in note
    ours = csv_counts("\n".join(r.stderr.splitlines()[1:]))
    assert float(ours["task-clock:u"]) > 0
    if shutil.which("perf") is None:
        return
    theirs = csv_counts(perf_stat("-x,", "-e", "task-clock,page-faults", "--", "true",
                                  user=nobody).stderr)
    assert set(theirs) == set(ours)
    pf_t, pf_o = int(theirs["page-faults:u"]), int(ours["page-faults:u"])
    assert abs(pf_o - pf_t) <= 0.2 * pf_t + 10, (pf_o, pf_t)


def test_stat_output_json_no_inherit_delay(workload: Path, tmp_path: Path) -> None:
    """-o FILE, -j (perf's keys), --no-inherit (a shell's child goes uncounted), -D (the
    program's early page faults go uncounted), against perf's counts where they differ."""
    perf_or_skip()
    out = tmp_path / "counts"
    r = run_cli("stat", "-o", str(out), "-x,", "-e", "page-faults", "--", str(workload), "10",
                "0", "0")
    assert r.returncode == 0 and "page-faults" not in r.stderr
    text = out.read_text().splitlines()
    assert text[0].startswith("# started on ") and text[1] == ""
    assert int(text[2].split(",")[0]) >= 10
    j = run_cli("stat", "-j", "-e", "task-clock,page-faults,cycles", "--", "true")
    theirs_j = perf_stat("-j", "-e", "task-clock,page-faults,cycles", "--", "true").stderr
    mine = [json.loads(x) for x in j.stderr.splitlines() if x.startswith("{")]
    perfs = [json.loads(x) for x in theirs_j.splitlines() if x.startswith("{")]
    assert [list(x) for x in mine] == [list(x) for x in perfs]
    assert [x["event"] for x in mine] == ["task-clock", "page-faults", "cycles"]
    shell = ["sh", "-c", f"{workload} 3000 0 0"]
    inherit = csv_counts(run_cli("stat", "-x,", "-e", "page-faults", "--", *shell).stderr)
    alone = csv_counts(run_cli("stat", "--no-inherit", "-x,", "-e", "page-faults", "--",
                               *shell).stderr)
    perf_alone = csv_counts(perf_stat("--no-inherit", "-x,", "-e", "page-faults", "--",
                                      *shell).stderr)
    assert int(inherit["page-faults"]) >= 3000
    assert int(alone["page-faults"]) < 3000 and int(perf_alone["page-faults"]) < 3000
    late = csv_counts(run_cli("stat", "-D", "150", "-x,", "-e", "page-faults,cs", "--",
                              str(workload), "3000", "300", "0").stderr)
    assert int(late["page-faults"]) < 3000 and int(late["cs"]) >= 50


def test_stat_filter(workload: Path) -> None:
    """--filter reaches the tracepoint before it: no switch of this program has prev_pid 1."""
    require_tracefs("sched", "sched_switch")
    prog = ["--", str(workload), "0", "20", "0"]
    r = run_cli("stat", "-x,", "-e", "sched:sched_switch", "--filter", "prev_pid == 1",
                "-e", "cs", *prog)
    assert r.returncode == 0, r.stderr
    c = csv_counts(r.stderr)
    assert int(c["sched:sched_switch"]) == 0 and int(c["cs"]) >= 20
    r = run_cli("stat", "-x,", "-e", "sched:sched_switch", "--filter", "prev_pid > 0", *prog)
    assert int(csv_counts(r.stderr)["sched:sched_switch"]) >= 20
    r = run_cli("stat", "-e", "sched:sched_switch", "--filter", "no_such_field == 1", *prog)
    assert r.returncode == 1 and "bad filter" in r.stderr


def test_stat_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    from perfsys.__main__ import stat_parser

    assert main(["stat", "--help"]) == 0
    text = capsys.readouterr().out
    options = [s for a in stat_parser()._actions for s in a.option_strings]
    assert len(options) > 25
    for opt in options:
        assert re.search(rf"(^|[ ,]){re.escape(opt)}\b", text, re.M), opt


def test_stat_weak_group_falls_apart() -> None:
    """The kernel refuses a pinned sibling (EINVAL). In a plain group the member is
    <not supported>; in a weak group (:W) the group is opened again as single events,
    and both count. (The parser refuses a member's own :D; the spec is built here.)"""
    def session(weak: bool) -> Session:
        lead = parse_event("task-clock:W" if weak else "task-clock")
        member = parse_event("page-faults")
        member.fields["pinned"] = 1
        return Session([EventGroup([lead, member], braced=True)],
                       [(threading.get_native_id(), -1)], enable_on_exec=False, inherit=False)

    plain = session(False)
    plain.open()
    try:
        assert plain.counters[0][1].unsupported == "EINVAL"
        assert len(plain.reads) == 1
    finally:
        plain.close()
    weak = session(True)
    weak.open()
    try:
        lead, member = weak.counters[0]
        assert member.unsupported is None and len(lead.fds) == len(member.fds) == 1
        assert [(g, len(m)) for _fd, g, m, _t in weak.reads] == [(False, 1), (False, 1)]
        weak.enable()
        touch_pages(64)
        weak.disable()
        weak.read()
        assert lead.value > 0 and member.value > 0
    finally:
        weak.close()


def test_percore_sums_the_cpus_of_a_core(tmp_path: Path) -> None:
    """With -A, an event with the percore term has one line per core, its CPUs' counts
    summed; the topology is a fake sysfs tree in which CPUs 0 and 1 are one core."""
    from perfsys.__main__ import format_rows, online_cpus

    cpus = online_cpus()
    if len(cpus) < 2:
        pytest.skip("one CPU online: no core to share")
    for cpu in cpus:
        topo = tmp_path / f"devices/system/cpu/cpu{cpu}/topology"
        topo.mkdir(parents=True)
        for name, value in (("physical_package_id", 0), ("die_id", 0),
                            ("core_id", 0 if cpu in cpus[:2] else cpu)):
            (topo / name).write_text(f"{value}\n")
    shared = parse_event("cpu-clock/percore/")
    plain = parse_event("cpu-clock")
    session = Session([EventGroup([shared]), EventGroup([plain])], [(-1, c) for c in cpus],
                      enable_on_exec=False)
    session.open()
    try:
        session.enable()
        time.sleep(0.05)
        session.disable()
        session.read()
    finally:
        session.close()
    rows = stat_rows(session, 0.05, "cpu", sysfs=str(tmp_path))
    mine = [r for r in rows if r.name == "cpu-clock/percore/"]
    per_cpu = [r for r in rows if r.name == "cpu-clock"]
    assert [r.bucket for r in per_cpu] == [f"CPU{c}" for c in cpus]
    assert mine[0].bucket == "S0-D0-C0" and len(mine) == len(cpus) - 1
    both = sum(v[0] for t, v in session.counters[0][0].counts.items() if t[1] in cpus[:2])
    assert mine[0].count == both
    assert format_rows(mine[:1], ",", False, "cpu")[0].startswith("S0-D0-C0,")
    assert format_rows(mine[:1], None, False, "cpu")[0].startswith("S0-D0-C0   ")


def test_stat_pmu_that_refuses_exclude_guest() -> None:
    """msr refuses every exclude_* bit: perf's default exclude_guest is dropped for it, as
    perf does (so msr/tsc/ counts, as in perf), but not where :G asked for it."""
    if not (DEVICES / "msr/events/tsc").exists():
        pytest.skip("no msr PMU with a tsc event here")
    r = run_cli("stat", "-x,", "-e", "msr/tsc/,msr/tsc/G", "--", "true")
    assert r.returncode == 0, r.stderr
    c = csv_counts(r.stderr)
    assert int(c["msr/tsc/"]) > 0 and c["msr/tsc/G"] == "<not supported>"
    if shutil.which("perf"):
        assert int(csv_counts(perf_stat("-x,", "-e", "msr/tsc/", "true").stderr)["msr/tsc/"]) > 0


def test_stat_command_timeout() -> None:
    """--timeout ends a command with SIGTERM, as perf's, and prints what was counted."""
    t0 = time.monotonic()
    r = run_cli("stat", "-x,", "--timeout", "200", "-e", "task-clock", "--", "sleep", "30")
    assert time.monotonic() - t0 < 25
    assert r.returncode == 128 + signal.SIGTERM
    assert ",msec,task-clock," in r.stderr


def test_stat_system_wide_interval_until_ctrl_c() -> None:
    """-a -I without a command counts until Ctrl-C, then prints the last interval."""
    p = subprocess.Popen([sys.executable, "-m", "perfsys", "stat", "-a", "-I", "100", "-x,",
                          "-e", "cs"], stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 30
        lines = 0
        assert p.stderr is not None
        while lines < 2 and time.monotonic() < deadline:
            if p.stderr.readline():
                lines += 1
        p.send_signal(signal.SIGINT)
        rest = p.communicate(timeout=20)[1]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0 and lines == 2, rest
    assert "Traceback" not in rest
    assert all(",cs," in x for x in rest.splitlines())


def test_stat_pinned_group_counts_every_member(workload: Path) -> None:
    """:D on a group pins its leader only, so the kernel takes the members too."""
    r = run_cli("stat", "-x,", "-e", "{task-clock,page-faults}:D", "--", str(workload), "300",
                "0", "0")
    assert r.returncode == 0, r.stderr
    c = csv_counts(r.stderr)
    assert int(c["page-faults:D"]) >= 300 and float(c["task-clock:D"]) > 0
