"""perfsys.symbols against real binaries: a program built here with known symbols, libc,
the kernel's kallsyms, MMAP2 records of a real ring and the JIT map of CPython 3.12+."""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import lzma
import os
import random
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import DATA, perf_event_open, python312, record

import perfsys
from perfsys import constants as C
from perfsys import ioctls
from perfsys.symbols import (
    AddressSpace,
    ElfError,
    ElfSymbols,
    Mapping,
    Symbolizer,
    SymbolTable,
    elf_symbols,
    kernel_symbols,
    perf_map,
)

SOURCE = DATA / "symbols_target.c"
NAMES = ("perfsys_static_leaf", "perfsys_global_func", "main")


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"no {tool} on this machine")
    return path


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The target built four ways: PIE, non-PIE, stripped to .dynsym, stripped with
    MiniDebugInfo (its .symtab, xz-compressed, in .gnu_debugdata); and as a library."""
    gcc = _need("gcc")
    objcopy = _need("objcopy")
    d = tmp_path_factory.mktemp("symbols")
    out = {"pie": d / "pie", "nopie": d / "nopie", "dynsym": d / "dynsym",
           "minidebug": d / "minidebug", "lib": d / "libtarget.so"}
    base = [gcc, "-O1", "-g", "-Wl,--build-id", str(SOURCE)]
    subprocess.run([*base, "-fPIE", "-pie", "-o", str(out["pie"])], check=True)
    subprocess.run([*base, "-fno-pie", "-no-pie", "-o", str(out["nopie"])], check=True)
    subprocess.run([*base, "-shared", "-fPIC", "-DAS_LIBRARY", "-o", str(out["lib"])], check=True)
    subprocess.run([*base, "-rdynamic", "-o", str(out["dynsym"])], check=True)
    subprocess.run([objcopy, "--strip-all", str(out["dynsym"])], check=True)
    # MiniDebugInfo as Fedora makes it: the symbols alone, xz'd into the stripped file
    mini = d / "mini.debug"
    subprocess.run([objcopy, "--strip-debug", "--remove-section=.comment", str(out["pie"]),
                    str(mini)], check=True)
    (d / "mini.xz").write_bytes(lzma.compress(mini.read_bytes(), format=lzma.FORMAT_XZ))
    subprocess.run([objcopy, "--strip-all", "--add-section", f".gnu_debugdata={d / 'mini.xz'}",
                    str(out["pie"]), str(out["minidebug"])], check=True)
    return out


@dataclass
class Running:
    pid: int
    addrs: dict[str, int]


@pytest.fixture
def run_target(builds: dict[str, Path]) -> Iterator[dict[str, Running]]:
    procs: list[subprocess.Popen[str]] = []
    started: dict[str, Running] = {}

    def start(kind: str) -> Running:
        p = subprocess.Popen([str(builds[kind])], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        procs.append(p)
        assert p.stdout is not None
        pid, *addrs = p.stdout.readline().split()
        return Running(int(pid), {n: int(a, 16) for n, a in zip(NAMES, addrs, strict=True)})

    for kind in ("pie", "nopie", "dynsym", "minidebug"):
        started[kind] = start(kind)
    try:
        yield started
    finally:
        for p in procs:
            p.communicate("x", timeout=30)
            assert p.returncode == 0


def _nm(path: Path, *flags: str, kinds: str = "tTiW") -> dict[int, set[str]]:
    """Addresses of the symbols nm lists for ``path`` with a type in ``kinds`` (text and
    weak symbols by default): {address: names}."""
    out = subprocess.run([_need("nm"), "--defined-only", *flags, str(path)], check=True,
                         capture_output=True, text=True).stdout
    found: dict[int, set[str]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in kinds:
            found.setdefault(int(parts[0], 16), set()).add(parts[2].split("@")[0])
    return found


def _readelf_build_id(path: Path) -> bytes:
    out = subprocess.run([_need("readelf"), "-n", str(path)], check=True, capture_output=True,
                         text=True).stdout
    match = re.search(r"Build ID: ([0-9a-f]+)", out)
    assert match is not None, out
    return bytes.fromhex(match.group(1))


# -- ELF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pie", "nopie", "lib"])
def test_elf_table_agrees_with_nm(builds: dict[str, Path], kind: str) -> None:
    elf = ElfSymbols.from_path(builds[kind])
    nm = _nm(builds[kind])
    ours = {start: name for start, _, name in elf.table}
    assert ".symtab" in elf.sources and ".dynsym" in elf.sources
    for name in ("perfsys_static_leaf", "perfsys_global_func"):
        assert name in ours.values()
    for start, name in ours.items():
        assert name in nm.get(start, set()), (hex(start), name)
    for start, names in _nm(builds[kind], kinds="tTi").items():  # every text symbol is there
        if any(not n.startswith(("_init", "_fini", "_start")) for n in names):
            assert start in ours, (hex(start), names)
    assert elf.build_id == _readelf_build_id(builds[kind])


def test_stripped_file_keeps_dynsym_only(builds: dict[str, Path]) -> None:
    elf = ElfSymbols.from_path(builds["dynsym"])
    assert elf.sources == (".dynsym",)
    names = {name for _, _, name in elf.table}
    assert "perfsys_global_func" in names and "main" in names
    assert "perfsys_static_leaf" not in names
    assert names == set().union(*_nm(builds["dynsym"], "-D", kinds="tTi").values())


def test_minidebuginfo_names_static_functions(builds: dict[str, Path]) -> None:
    elf = ElfSymbols.from_path(builds["minidebug"])
    assert ".gnu_debugdata" in elf.sources and ".symtab" not in elf.sources
    full = ElfSymbols.from_path(builds["pie"])
    assert list(elf.table) == list(full.table)
    assert elf.build_id == full.build_id == _readelf_build_id(builds["minidebug"])


def test_running_programs_are_named(run_target: dict[str, Running]) -> None:
    symbolizer = Symbolizer(kernel=False)
    for kind, target in run_target.items():
        for name, addr in target.addrs.items():
            for delta in (0, 1, 3):
                sym = symbolizer.lookup(target.pid, addr + delta)
                if kind == "dynsym" and name == "perfsys_static_leaf":
                    assert sym is None or sym.name != name
                    continue
                assert sym is not None, (kind, name)
                assert (sym.name, sym.start, sym.offset) == (name, addr, delta), (kind, sym)
                assert sym.size > delta
                assert str(sym) == (f"{name}+{delta:#x}" if delta else name)
    assert symbolizer.failed == {}


def test_libc_in_this_process_agrees_with_nm() -> None:
    libc = ctypes.CDLL(None)
    symbolizer = Symbolizer([os.getpid()], kernel=False)
    for fn in ("getpid", "write", "qsort", "malloc"):  # not IFUNCs: dlsym would resolve them
        addr = ctypes.cast(getattr(libc, fn), ctypes.c_void_p).value
        assert addr is not None
        sym = symbolizer.lookup(os.getpid(), addr)
        assert sym is not None, fn
        m = symbolizer.spaces[os.getpid()].find(addr)
        assert m is not None and sym.path == m.path
        file_addr = elf_symbols(m.path).address(addr - m.start + m.pgoff)
        assert file_addr is not None
        nm = _nm(Path(m.path), "-D")
        assert sym.name in nm[file_addr - sym.offset], (fn, sym)


def test_build_id_is_checked(builds: dict[str, Path], run_target: dict[str, Running]) -> None:
    target = run_target["pie"]
    real = AddressSpace.from_proc(target.pid)
    m = real.find(target.addrs["perfsys_global_func"])
    assert m is not None and m.inode == os.stat(builds["pie"]).st_ino
    build_id = elf_symbols(builds["pie"]).build_id
    assert build_id is not None
    s = Symbolizer(kernel=False)
    s.spaces[target.pid] = AddressSpace([m._replace(inode=0, build_id=build_id)])
    found = s.lookup(target.pid, target.addrs["perfsys_global_func"])
    assert found is not None and found.name == "perfsys_global_func"
    wrong = bytes(b ^ 0xFF for b in build_id)
    s.spaces[target.pid] = AddressSpace([m._replace(inode=0, build_id=wrong)])
    assert s.lookup(target.pid, target.addrs["perfsys_global_func"]) is None
    assert "build-id" in s.failed[m.path]
    # a file replaced since it was mapped (another inode) names nothing either
    s.spaces[target.pid] = AddressSpace([m._replace(inode=m.inode + 1)])
    assert s.lookup(target.pid, target.addrs["perfsys_global_func"]) is None
    assert "replaced" in s.failed[m.path]


def test_bad_elf_is_elferror(builds: dict[str, Path], tmp_path: Path) -> None:
    data = builds["pie"].read_bytes()
    with pytest.raises(ElfError):
        ElfSymbols.from_bytes(b"not an elf file at all, not even close" * 4)
    rng = random.Random(1)
    assert len(ElfSymbols.from_bytes(data[:16] + bytes(64)).table) == 0  # no tables at all
    for cut in (64, 200, len(data) // 3):
        with pytest.raises(ElfError):
            ElfSymbols.from_bytes(data[:cut] + bytes(64))
    for _ in range(200):  # corrupted headers: an ElfError or a table, never anything else
        bad = bytearray(data)
        for _ in range(8):
            bad[rng.randrange(0, 4096)] = rng.randrange(256)
        with contextlib.suppress(ElfError):
            ElfSymbols.from_bytes(bytes(bad))
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ElfError):
        ElfSymbols.from_path(tmp_path / "empty")


# -- tables and address spaces -----------------------------------------------------------------


def test_symbol_table_bisects() -> None:
    t = SymbolTable([(0x3000, 0x10, "c"), (0x1000, 0x100, "a"), (0x1000, 0x200, "alias"),
                     (0x2000, 0, "b"), (0, 5, "undefined")])
    assert len(t) == 3
    assert t.lookup(0xFFF) is None
    assert t.lookup(0x1000) == ("a", 0x1000, 0x200)
    assert t.lookup(0x11FF) == ("a", 0x1000, 0x200)
    assert t.lookup(0x1200) is None
    assert t.lookup(0x2FFF) == ("b", 0x2000, 0x1000)  # size 0: up to the next symbol
    assert t.lookup(0x300F) == ("c", 0x3000, 0x10)
    assert t.lookup(0x3010) is None


def test_address_space_matches_a_page_model() -> None:
    """Random overlapping mmaps, checked page by page against a dict of page -> (path, offset)."""
    rng = random.Random(7)
    space = AddressSpace()
    model: dict[int, tuple[str, int]] = {}
    for n in range(300):
        start = rng.randrange(0, 64)
        length = rng.randrange(1, 16)
        pgoff = rng.randrange(0, 8)
        space.add(Mapping(start * 4096, (start + length) * 4096, pgoff * 4096, f"/f{n}"))
        for page in range(start, start + length):
            model[page] = (f"/f{n}", (pgoff + page - start) * 4096)
        for page in range(0, 81):
            m = space.find(page * 4096 + 5)
            got = None if m is None else (m.path, m.pgoff + page * 4096 - m.start)
            assert got == model.get(page), (n, page)
        ends = [(m.start, m.end) for m in space.mappings]
        assert ends == sorted(ends)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ends))


# -- records, the kernel, JIT maps ---------------------------------------------------------------


def test_mmap2_records_follow_a_dlopen(builds: dict[str, Path], tmp_path: Path) -> None:
    """A library loaded while a ring records MMAP2: its functions named from the records."""
    lib_path = tmp_path / "libfollow.so"
    shutil.copy(builds["lib"], lib_path)  # a fresh path: nobody has it mapped yet
    attr = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY,
                                   sample_period=1, mmap=1, mmap2=1, task=1, disabled=1,
                                   sample_id_all=1, sample_type=C.PERF_SAMPLE_TID)
    decoder = perfsys.Decoder(attr)
    fd = perf_event_open(attr, 0, -1)
    try:
        with perfsys.RingBuffer(fd, 16) as ring:
            ioctls.ENABLE(fd)
            lib = ctypes.CDLL(str(lib_path))
            ioctls.DISABLE(fd)
            records = ring.read(decoder=decoder)
    finally:
        os.close(fd)
    lib.perfsys_static_leaf_address.restype = ctypes.c_void_p
    addrs = {"perfsys_global_func": ctypes.cast(lib.perfsys_global_func, ctypes.c_void_p).value,
             "perfsys_static_leaf": lib.perfsys_static_leaf_address()}
    s = Symbolizer(kernel=False)
    pid = os.getpid()
    s.spaces[pid] = AddressSpace()  # only what the records say
    mine = [r for r in records if isinstance(r, perfsys.Mmap2Record) and r.pid == pid
            and r.filename == str(lib_path)]
    assert mine, records
    for r in records:
        s.feed(r)
    for name, addr in addrs.items():
        assert addr is not None
        sym = s.lookup(pid, addr + 2)
        assert sym is not None and (sym.name, sym.start, sym.offset) == (name, addr, 2)
        assert sym.path == str(lib_path)


def test_kernel_samples_are_named_from_kallsyms() -> None:
    table = kernel_symbols()
    if table is None:
        pytest.skip("/proc/kallsyms shows no addresses here (kptr_restrict or no privilege)")
    attr = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_CPU_CLOCK,
                                   sample_period=100_000, disabled=1,
                                   sample_type=C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID)
    try:
        fd = perf_event_open(attr, 0, -1)
    except PermissionError as err:
        pytest.skip(f"kernel-mode sampling not allowed here: {err}")
    decoder = perfsys.Decoder(attr)
    try:
        with perfsys.RingBuffer(fd, 16) as ring:
            ioctls.ENABLE(fd)
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:
                os.stat("/")  # a system call: time in the kernel
            ioctls.DISABLE(fd)
            samples = [r for r in ring.read(decoder=decoder) if isinstance(r, perfsys.SampleRecord)]
    finally:
        os.close(fd)
    kernel = [r.ip for r in samples
              if r.misc & C.PERF_RECORD_MISC_CPUMODE_MASK == C.PERF_RECORD_MISC_KERNEL]
    if not kernel:
        pytest.skip("no sample landed in the kernel")
    s = Symbolizer([os.getpid()])
    names = [s.lookup(os.getpid(), ip) for ip in kernel]
    assert all(n is not None and n.path.startswith("[") for n in names), names
    kallsyms = {name for _, _, name in table[0]}
    assert all(n is not None and n.name in kallsyms and n.offset < n.size for n in names)


def test_perf_map_parsing(tmp_path: Path) -> None:
    path = tmp_path / "perf-1.map"
    path.write_text("7f0000001000 40 py::f:a.py\nnot a line\n7f0000002000 8 [jit] b c\n")
    t = perf_map(path)
    assert list(t) == [(0x7F0000001000, 0x40, "py::f:a.py"), (0x7F0000002000, 8, "[jit] b c")]


def test_python_perf_map_names_trampolines() -> None:
    python = python312()
    code = (
        "import os, sys\n"
        "sys.activate_stack_trampoline('perf')\n"
        "def perfsys_jit_target():\n    return 1\n"
        "perfsys_jit_target()\n"
        "print(os.getpid(), flush=True)\n"
        "sys.stdin.read(1)\n"
    )
    p = subprocess.Popen([python, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout is not None
        pid = int(p.stdout.readline())
        table = perf_map(f"/tmp/perf-{pid}.map")
        entries = [(start, size) for start, size, name in table
                   if name.startswith("py::perfsys_jit_target:")]
        assert entries, list(table)[:5]
        s = Symbolizer(kernel=False)
        start, size = entries[0]
        sym = s.lookup(pid, start + size // 2)
        assert sym is not None and sym.name.startswith("py::perfsys_jit_target:")
        assert sym.path == f"/tmp/perf-{pid}.map"
        m = s.spaces[pid].find(start)
        assert m is not None and not m.path.startswith("/")  # an anonymous mapping
    finally:
        p.communicate("x", timeout=30)
    assert p.returncode == 0
    os.unlink(f"/tmp/perf-{pid}.map")


def test_elf_cache_reads_a_replaced_file_again(builds: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "copy"
    shutil.copy(builds["pie"], path)
    first = elf_symbols(path)
    assert elf_symbols(path) is first
    shutil.copy(builds["lib"], tmp_path / "other")
    os.replace(tmp_path / "other", path)
    again = elf_symbols(path)
    assert again is not first and again.build_id == elf_symbols(builds["lib"]).build_id
    os.unlink(path)


def test_fork_and_exit_records_follow_processes() -> None:
    """FORK gives the child a copy of its parent's table; EXIT of the process drops it."""
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_TID))
    s = Symbolizer(kernel=False)
    parent, child = 1_000_001, 1_000_002  # beyond pid_max: never read from /proc
    s.spaces[parent] = AddressSpace([Mapping(0x1000, 0x2000, 0, "/parent")])
    s.feed(decoder.decode(record(C.PERF_RECORD_FORK,
                                 struct.pack("=iiiiQ", child, parent, child, parent, 1))))
    m = s.spaces[child].find(0x1800)
    assert m is not None and m.path == "/parent"
    s.feed(decoder.decode(record(C.PERF_RECORD_MMAP,
                                 struct.pack("=iiQQQ", child, child, 0x1000, 0x800, 0)
                                 + b"/child\0\0")))
    child_map = s.spaces[child].find(0x1200)
    parent_map = s.spaces[parent].find(0x1200)
    assert child_map is not None and child_map.path == "/child"
    assert parent_map is not None and parent_map.path == "/parent"  # a copy, not shared
    s.feed(decoder.decode(record(C.PERF_RECORD_EXIT,
                                 struct.pack("=iiiiQ", child, parent, child + 1, parent, 2))))
    assert child in s.spaces  # a thread of it exited, not the process
    s.feed(decoder.decode(record(C.PERF_RECORD_EXIT,
                                 struct.pack("=iiiiQ", child, parent, child, parent, 3))))
    assert child not in s.spaces and parent in s.spaces
