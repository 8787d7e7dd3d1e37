"""Event classes beyond software counters: tracepoints (with filters and BPF
programs), uprobes on a binary the test builds."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from support import DEVICES, SYS_NR, getpid_n, libc, opened, require_tracefs, tracepoint_id

import perfsys
from perfsys import constants as C
from perfsys import ioctls


def _tracepoint(name: str, **fields: int) -> perfsys.perf_event_attr:
    require_tracefs()
    try:
        tp = tracepoint_id(name)
    except FileNotFoundError:
        pytest.skip(f"this kernel has no tracepoint {name}")
    return perfsys.perf_event_attr(type=C.PERF_TYPE_TRACEPOINT, config=tp, disabled=1, **fields)


@pytest.mark.parametrize("n", [1, 17, 100])
def test_tracepoint_counts_exactly_the_calls_made(n: int) -> None:
    with opened(_tracepoint("syscalls:sys_enter_getpid")) as fd:
        getpid_n(3)  # outside the window
        ioctls.ENABLE(fd)
        getpid_n(n)
        ioctls.DISABLE(fd)
        assert perfsys.read_value(fd) == n


def test_set_filter_changes_what_is_counted() -> None:
    with open(os.devnull, "wb") as a, open(os.devnull, "wb") as b:
        fa, fb = a.fileno(), b.fileno()
        with opened(_tracepoint("syscalls:sys_enter_write")) as fd:
            ioctls.SET_FILTER(fd, f"fd == {fa}")
            ioctls.ENABLE(fd)
            for _ in range(7):
                os.write(fa, b"x")
            for _ in range(5):
                os.write(fb, b"x")
            ioctls.DISABLE(fd)
            assert perfsys.read_value(fd) == 7
            with pytest.raises(FileExistsError, match="one filter"):
                ioctls.SET_FILTER(fd, "fd == 0")
        with opened(_tracepoint("syscalls:sys_enter_write")) as fd:
            ioctls.SET_FILTER(fd, f"fd == {fb}".encode())
            ioctls.ENABLE(fd)
            for _ in range(7):
                os.write(fa, b"x")
            for _ in range(5):
                os.write(fb, b"x")
            ioctls.DISABLE(fd)
            assert perfsys.read_value(fd) == 5


def test_set_filter_that_does_not_parse() -> None:
    with opened(_tracepoint("syscalls:sys_enter_write")) as fd:
        with pytest.raises(OSError) as e:
            ioctls.SET_FILTER(fd, "no_such_field == 1")
        assert e.value.errno == errno.EINVAL and "PERF_EVENT_IOC_SET_FILTER" in str(e.value)


# -- BPF: a two-instruction tracepoint program loaded with bpf(2) ----------------

SYS_BPF = SYS_NR.get("bpf")
BPF_PROG_LOAD, BPF_OBJ_GET_INFO_BY_FD, BPF_PROG_TYPE_TRACEPOINT = 5, 15, 5


def _bpf(cmd: int, attr_bytes: bytearray) -> int:
    buf = (ctypes.c_char * len(attr_bytes)).from_buffer(attr_bytes)
    r = libc.syscall(ctypes.c_long(SYS_BPF), ctypes.c_int(cmd), buf,
                     ctypes.c_uint(len(attr_bytes)))
    if r < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
    return int(r)


def _load_program(ret: int) -> int:
    """BPF_PROG_TYPE_TRACEPOINT program "r0 = ret; exit": 0 drops the event, 1 keeps it."""
    insns = struct.pack("=BBhi", 0xB7, 0, 0, ret) + struct.pack("=BBhi", 0x95, 0, 0, 0)
    code = ctypes.create_string_buffer(insns)
    lic = ctypes.create_string_buffer(b"GPL")
    a = bytearray(128)
    struct.pack_into("=IIQQ", a, 0, BPF_PROG_TYPE_TRACEPOINT, 2, ctypes.addressof(code),
                     ctypes.addressof(lic))
    return _bpf(BPF_PROG_LOAD, a)


def _program_id(prog_fd: int) -> int:
    info = ctypes.create_string_buffer(256)
    a = bytearray(128)
    struct.pack_into("=IIQ", a, 0, prog_fd, 256, ctypes.addressof(info))
    _bpf(BPF_OBJ_GET_INFO_BY_FD, a)
    return int(struct.unpack_from("=I", info.raw, 4)[0])


def _count_getpid_with(a: perfsys.perf_event_attr, prog: int) -> tuple[int, int]:
    """(count of 11 getpid calls, QUERY_BPF's ids) with prog attached to a fresh event."""
    with opened(a) as fd:
        assert ioctls.QUERY_BPF(fd) == (0, ())
        ioctls.SET_BPF(fd, prog)
        with pytest.raises(OSError) as e:
            ioctls.SET_BPF(fd, prog)
        assert e.value.errno == errno.EEXIST and "attached already" in str(e.value)
        ioctls.ENABLE(fd)
        getpid_n(11)
        ioctls.DISABLE(fd)
        count, ids = perfsys.read_value(fd), ioctls.QUERY_BPF(fd)
        assert ioctls.QUERY_BPF(fd, 0) == (1, ())
        with pytest.raises(OSError) as e:
            ioctls.QUERY_BPF(fd, 65)
        assert e.value.errno == errno.E2BIG
        raw = bytearray(8 + 4 * 4)  # a perf_event_query_bpf with room for 4 ids
        q = perfsys.perf_event_query_bpf.from_buffer(raw)
        q.ids_len = 4
        assert ioctls.QUERY_BPF(fd, raw) == 1 == q.prog_cnt
        assert (struct.unpack_from("=I", raw, 8)[0],) == ids[1]
        return count, ids[1][0]


def _getpid_tracepoint_and_programs(*rets: int) -> tuple[perfsys.perf_event_attr, list[int]]:
    """The attr of sys_enter_getpid and one loaded program per return value, or a skip
    saying what the machine lacks."""
    if SYS_BPF is None:
        pytest.skip(f"no bpf(2) number known for {os.uname().machine}")
    a = _tracepoint("syscalls:sys_enter_getpid")
    try:
        return a, [_load_program(r) for r in rets]
    except OSError as e:
        pytest.skip(f"cannot load a BPF program here: {e}")


@pytest.mark.thread_unsafe(reason="a tracepoint's BPF programs run for every event on it: "
                                  "another thread's program would change this test's counts")
def test_set_bpf_and_query_bpf() -> None:
    a, (drop, keep) = _getpid_tracepoint_and_programs(0, 1)
    try:
        # a tracepoint's programs run for every perf event on it: one at a time
        # the program's return value decides whether the event counts
        assert _count_getpid_with(a, drop) == (0, _program_id(drop))
        assert _count_getpid_with(a, keep) == (11, _program_id(keep))
    finally:
        os.close(drop)
        os.close(keep)


_ids_len_after_check: list[memoryview] = []
"""Set while the next test runs: the query buffer its audit hook changes."""


def _change_ids_len(event: str, args: tuple[object, ...]) -> None:
    if event == "perfsys.ioctl" and args[1] == "QUERY_BPF" and _ids_len_after_check:
        struct.pack_into("=I", _ids_len_after_check[0], 0, 1)


@pytest.mark.thread_unsafe(reason="the BPF program runs for every event on the tracepoint, "
                                  "and the audit hook is process-wide")
def test_query_bpf_hands_the_kernel_the_ids_len_it_checked() -> None:
    # ids_len changed after perfsys checked it (another thread could, while the GIL is
    # released; an audit hook runs at that very moment) cannot make the kernel write
    # past the caller's buffer. Audit hooks stay for the interpreter's life: this one
    # acts only while the list above holds a buffer.
    a, (prog,) = _getpid_tracepoint_and_programs(1)
    whole = bytearray(8 + 4)            # a query with room for 0 ids (ids_len = 0),
    whole[8:] = b"\xaa" * 4             # then 4 bytes that are not the caller's buffer
    sys.addaudithook(_change_ids_len)
    try:
        with opened(a) as fd:
            ioctls.SET_BPF(fd, prog)
            _ids_len_after_check.append(memoryview(whole))
            try:
                assert ioctls.QUERY_BPF(fd, memoryview(whole)[:8]) == 1
            finally:
                _ids_len_after_check.pop().release()
    finally:
        os.close(prog)
    assert whole[8:] == b"\xaa" * 4


def test_set_bpf_refuses_a_software_counter_with_a_non_bpf_fd() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as fd:
        with pytest.raises(OSError) as e:
            ioctls.SET_BPF(fd, fd)  # not a BPF program
        assert e.value.errno in (errno.EINVAL, errno.EBADF)
        with pytest.raises(OSError) as e:
            ioctls.QUERY_BPF(fd)
        assert e.value.errno == errno.EINVAL


# -- uprobe on a function of a binary built here -----------------------------

TARGET_C = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int perfsys_target(int x) { __asm__ volatile(""); return x + 1; }
int main(int argc, char **argv) {
    int n = atoi(argv[1]), s = 0;
    (void)argc;
    if (getchar() == EOF) return 2;  /* wait until the probe is open */
    for (int i = 0; i < n; i++) s = perfsys_target(s);
    return s == n ? 0 : 1;
}
"""


def _elf_file_offset(path: Path, symbol: str) -> int:
    """The file offset of symbol's code, from the ELF64 symbol table and segments."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "ELF64 only"
    o = {1: "<", 2: ">"}[data[5]]  # EI_DATA: ELFDATA2LSB, ELFDATA2MSB
    e_phoff, e_shoff = struct.unpack_from(o + "QQ", data, 0x20)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from(o + "HHHH", data, 0x36)
    sections = [struct.unpack_from(o + "IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
                for i in range(e_shnum)]
    value = None
    for sh in sections:
        if sh[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[sh[6]]
        for off in range(sh[4], sh[4] + sh[5], sh[9]):
            st_name, _info, _other, _shndx, st_value, _size = struct.unpack_from(
                o + "IBBHQQ", data, off)
            start = strtab[4] + st_name
            if data[start:data.index(b"\0", start)] == symbol.encode():
                value = st_value
    assert value is not None, f"{symbol} not in {path}'s symbol table"
    for i in range(e_phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from(
            o + "IIQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 1 and p_vaddr <= value < p_vaddr + p_filesz:  # PT_LOAD
            return value - p_vaddr + p_offset
    raise AssertionError(f"{symbol} is in no PT_LOAD segment")


def _uprobe_type() -> int:
    p = DEVICES / "uprobe" / "type"
    if not p.exists():
        pytest.skip("no uprobe PMU in /sys/bus/event_source/devices")
    return int(p.read_text())


@pytest.mark.parametrize("calls", [1, 9])
def test_uprobe_counts_calls_of_a_function(tmp_path: Path, calls: int) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "target.c"
    src.write_text(TARGET_C)
    binary = tmp_path / "target"
    subprocess.run([cc, "-O1", "-o", str(binary), str(src)], check=True)
    if binary.read_bytes()[4] != 2:
        pytest.skip("the ELF reader here handles 64-bit binaries only")
    path = ctypes.create_string_buffer(str(binary).encode())
    a = perfsys.perf_event_attr(type=_uprobe_type(), config=0, config1=ctypes.addressof(path),
                                config2=_elf_file_offset(binary, "perfsys_target"))
    child = subprocess.Popen([str(binary), str(calls)], stdin=subprocess.PIPE)
    try:
        with opened(a, pid=child.pid) as fd:
            assert child.stdin is not None
            child.stdin.write(b"go")
            child.stdin.close()
            assert child.wait() == 0
            assert perfsys.read_value(fd) == calls
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_uprobe_on_a_missing_file() -> None:
    path = ctypes.create_string_buffer(b"/nonexistent/perfsys-binary")
    a = perfsys.perf_event_attr(type=_uprobe_type(), config=0, config1=ctypes.addressof(path),
                                config2=0)
    with pytest.raises(FileNotFoundError) as e:
        perfsys.perf_event_open(a, 0, -1)
    assert "perf_event_open(type=" in str(e.value)
