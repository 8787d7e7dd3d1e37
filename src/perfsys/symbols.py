"""From addresses to names: mappings, ELF symbols, JIT maps and kernel symbols.

An address is named in three steps. The mapping that holds it comes from a process's
address space, read from ``/proc/PID/maps`` and kept up to date by the ``MMAP``/``MMAP2``,
``FORK`` and ``EXIT`` records a sampling event writes (:class:`Symbolizer` follows the
processes it is fed). The mapping turns the address into an offset in its file, and the
file's ELF program headers turn that into the address the file's symbols use. The symbol
is then found by bisection in a sorted table made once per file (``.symtab``, ``.dynsym``
and the ``.gnu_debugdata`` MiniDebugInfo that distributions leave in stripped files),
cached by file identity; a mapping that carries a build-id is only named from a file with
the same build-id. Addresses outside any file come from the JIT map ``/tmp/perf-PID.map``
(CPython 3.12 and newer write one after ``sys.activate_stack_trampoline("perf")``), and
kernel addresses from ``/proc/kallsyms`` when it shows them.

Everything here is pure Python over the public API: it reads files and records, and
makes no perf call of its own.
"""

from __future__ import annotations

import bisect
import lzma
import mmap
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from perfsys._perfsys import ExitRecord, ForkRecord, Mmap2Record, MmapRecord

__all__ = [
    "AddressSpace",
    "ElfError",
    "ElfSymbols",
    "Mapping",
    "Symbol",
    "SymbolTable",
    "Symbolizer",
    "elf_symbols",
    "kernel_symbols",
    "perf_map",
]

KERNEL = "[kernel.kallsyms]"
CONTEXT_MARKERS = 2**64 - 4095
"""Callchain entries at or above this are PERF_CONTEXT_* markers, not addresses."""


class ElfError(ValueError):
    """A file that is not ELF, or whose headers point outside it."""


class Symbol(NamedTuple):
    """A named address: ``name`` starts at ``start`` (the address in the process), and the
    looked-up address is ``offset`` bytes into it. ``path`` is the file it came from, the JIT
    map, ``[kernel.kallsyms]`` or ``[module]``."""

    name: str
    start: int
    size: int
    offset: int
    path: str

    def __str__(self) -> str:
        return f"{self.name}+{self.offset:#x}" if self.offset else self.name


class SymbolTable:
    """Symbols of one address space (a file's, a JIT map's, the kernel's) sorted by start.

    ``lookup(addr)`` bisects: the symbol with the greatest start at or below ``addr``,
    if ``addr`` is inside it. A symbol of size 0 reaches to the next symbol's start.
    """

    __slots__ = ("ends", "names", "starts")

    def __init__(self, symbols: Iterable[tuple[int, int, str]]) -> None:
        rows = sorted(s for s in symbols if s[0])
        starts: list[int] = []
        sizes: list[int] = []
        names: list[str] = []
        for start, size, name in rows:
            if starts and starts[-1] == start:  # aliases: keep the first name, the largest size
                sizes[-1] = max(sizes[-1], size)
                continue
            starts.append(start)
            sizes.append(size)
            names.append(name)
        ends = [s + z for s, z in zip(starts, sizes, strict=True)]
        for i, size in enumerate(sizes):
            if not size:
                ends[i] = starts[i + 1] if i + 1 < len(starts) else starts[i] + 1
        self.starts = starts
        self.ends = ends
        self.names = names

    def __len__(self) -> int:
        return len(self.starts)

    def __iter__(self) -> Iterator[tuple[int, int, str]]:
        """(start, size, name) in address order."""
        for start, end, name in zip(self.starts, self.ends, self.names, strict=True):
            yield start, end - start, name

    def lookup(self, addr: int) -> tuple[str, int, int] | None:
        """(name, start, size) of the symbol holding ``addr``, or None."""
        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0 or addr >= self.ends[i]:
            return None
        start = self.starts[i]
        return self.names[i], start, self.ends[i] - start


# -- ELF ----------------------------------------------------------------------------------

SHT_SYMTAB, SHT_NOTE, SHT_DYNSYM = 2, 7, 11
PT_LOAD, PT_NOTE = 1, 4
STT_FUNC, STT_GNU_IFUNC = 2, 10
NT_GNU_BUILD_ID = 3
EM_ARM = 40
SHN_XINDEX = 0xFFFF


class _Layout:
    """The struct formats of one ELF class and byte order."""

    def __init__(self, is64: bool, order: str) -> None:
        if is64:
            self.ehdr = struct.Struct(order + "16xHHIQQQIHHHHHH")
            self.shdr = struct.Struct(order + "IIQQQQIIQQ")
            self.phdr = struct.Struct(order + "IIQQQQQQ")
            self.sym = struct.Struct(order + "IBBHQQ")
        else:
            self.ehdr = struct.Struct(order + "16xHHIIIIIHHHHHH")
            self.shdr = struct.Struct(order + "IIIIIIIIII")
            self.phdr = struct.Struct(order + "IIIIIIII")
            self.sym = struct.Struct(order + "IIIBBH")
        self.is64 = is64
        self.note = struct.Struct(order + "III")

    def symbol(self, data: bytes | mmap.mmap, off: int) -> tuple[int, int, int, int, int]:
        """(st_name, st_info, st_shndx, st_value, st_size)."""
        if self.is64:
            name, info, _, shndx, value, size = self.sym.unpack_from(data, off)
        else:
            name, value, size, info, _, shndx = self.sym.unpack_from(data, off)
        return name, info, shndx, value, size

    def segment(self, data: bytes | mmap.mmap, off: int) -> tuple[int, int, int, int]:
        """(p_type, p_offset, p_vaddr, p_filesz)."""
        if self.is64:
            ptype, _, offset, vaddr, _, filesz, _, _ = self.phdr.unpack_from(data, off)
        else:
            ptype, offset, vaddr, _, filesz, _, _, _ = self.phdr.unpack_from(data, off)
        return ptype, offset, vaddr, filesz


@dataclass
class ElfSymbols:
    """The function symbols of one ELF file, in the file's own address space.

    ``table`` holds ``.symtab``, ``.dynsym`` and the MiniDebugInfo's symbols (addresses as the
    file gives them); ``segments`` the ``PT_LOAD`` segments (file offset, address, size)
    that turn a mapping's file offset into such an address; ``build_id`` the GNU build-id
    note's bytes, or None.
    """

    path: str
    table: SymbolTable
    segments: list[tuple[int, int, int]]
    build_id: bytes | None
    sources: tuple[str, ...] = ()
    """The sections the symbols came from, e.g. ('.dynsym', '.gnu_debugdata')."""

    @classmethod
    def from_bytes(cls, data: bytes | mmap.mmap, path: str = "<bytes>") -> ElfSymbols:
        """Parse ``data``, an ELF image; ElfError when it is not one or is cut short."""
        try:
            return cls._parse(data, path)
        except (struct.error, IndexError, OverflowError, lzma.LZMAError) as err:
            raise ElfError(f"{path}: malformed ELF ({err})") from err

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> ElfSymbols:
        """Parse the file at ``path`` (mapped read-only while it is parsed)."""
        path = os.fspath(path)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 64:
                raise ElfError(f"{path}: not an ELF file ({size} bytes)")
            with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as data:
                return cls.from_bytes(data, path)

    @classmethod
    def _parse(cls, data: bytes | mmap.mmap, path: str) -> ElfSymbols:
        if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
            raise ElfError(f"{path}: not an ELF file")
        lay = _Layout(data[4] == 2, "<" if data[5] == 1 else ">")
        (_, machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
         shstrndx) = lay.ehdr.unpack_from(data, 0)
        size = len(data)
        thumb = machine == EM_ARM

        def section(i: int) -> tuple[int, int, int, int, int, int]:
            """(sh_name, sh_type, sh_offset, sh_size, sh_link, sh_entsize) of section i."""
            off = shoff + i * shentsize
            name, stype, _, _, offset, ssize, link, _, _, entsize = lay.shdr.unpack_from(data, off)
            return name, stype, offset, ssize, link, entsize

        sections: list[tuple[int, int, int, int, int, int]] = []
        if shoff:
            if shentsize < lay.shdr.size:
                raise ElfError(f"{path}: e_shentsize {shentsize} too small")
            first = section(0)
            if shnum == 0:
                shnum = first[3]  # extended numbering: the count is in section 0's sh_size
            if shstrndx == SHN_XINDEX:
                shstrndx = first[4]
            if shoff + shnum * shentsize > size:
                raise ElfError(f"{path}: section headers past the end of the file")
            sections = [section(i) for i in range(shnum)]

        def blob(offset: int, length: int) -> bytes:
            if offset + length > size:
                raise ElfError(f"{path}: a section runs past the end of the file")
            return bytes(data[offset:offset + length])

        names_blob = blob(sections[shstrndx][2], sections[shstrndx][3]) if sections else b""

        def cstr(strtab: bytes, off: int) -> str:
            end = strtab.find(b"\0", off)
            return strtab[off:end if end >= 0 else len(strtab)].decode("utf-8", "surrogateescape")

        rows: list[tuple[int, int, str]] = []
        sources: list[str] = []
        build_id: bytes | None = None
        for name_off, stype, offset, ssize, link, entsize in sections:
            sname = cstr(names_blob, name_off)
            if stype in (SHT_SYMTAB, SHT_DYNSYM) and link < len(sections):
                strtab = blob(sections[link][2], sections[link][3])
                step = entsize or lay.sym.size
                if step < lay.sym.size or offset + ssize > size:
                    raise ElfError(f"{path}: {sname} is malformed")
                for off in range(offset, offset + ssize - lay.sym.size + 1, step):
                    st_name, info, shndx, value, vsize = lay.symbol(data, off)
                    if shndx == 0 or (info & 0xF) not in (STT_FUNC, STT_GNU_IFUNC):
                        continue
                    rows.append((value & ~1 if thumb else value, vsize, cstr(strtab, st_name)))
                sources.append(sname)
            elif stype == SHT_NOTE and build_id is None:
                build_id = _build_id(lay, blob(offset, ssize))
            elif sname == ".gnu_debugdata":
                inner = lzma.decompress(blob(offset, ssize))
                mini = cls.from_bytes(inner, path + ":.gnu_debugdata")
                rows.extend(mini.table)
                sources.append(sname)

        segments: list[tuple[int, int, int]] = []
        if phoff and phentsize >= lay.phdr.size:
            for i in range(phnum):
                ptype, offset, vaddr, filesz = lay.segment(data, phoff + i * phentsize)
                if ptype == PT_LOAD:
                    segments.append((offset, vaddr, filesz))
                elif ptype == PT_NOTE and build_id is None and offset + filesz <= size:
                    build_id = _build_id(lay, blob(offset, filesz))
        return cls(path, SymbolTable(rows), segments, build_id, tuple(sources))

    def address(self, file_offset: int) -> int | None:
        """The file's own address of the byte at ``file_offset``, by its PT_LOAD segments."""
        for offset, vaddr, filesz in self.segments:
            if offset <= file_offset < offset + filesz:
                return file_offset - offset + vaddr
        return None

    def lookup(self, file_offset: int) -> tuple[str, int, int] | None:
        """(name, start, size) of the symbol at ``file_offset``, start as a file offset."""
        vaddr = self.address(file_offset)
        if vaddr is None:
            return None
        found = self.table.lookup(vaddr)
        if found is None:
            return None
        name, start, size = found
        return name, start - vaddr + file_offset, size


def _build_id(lay: _Layout, notes: bytes) -> bytes | None:
    off = 0
    while off + 12 <= len(notes):
        namesz, descsz, ntype = lay.note.unpack_from(notes, off)
        name_at = off + 12
        desc_at = name_at + (namesz + 3) // 4 * 4
        if ntype == NT_GNU_BUILD_ID and notes[name_at:name_at + namesz] == b"GNU\0":
            return notes[desc_at:desc_at + descsz]
        off = desc_at + (descsz + 3) // 4 * 4
    return None


_elf_cache: dict[tuple[int, int, int, int], ElfSymbols] = {}


def elf_symbols(path: str | os.PathLike[str], st: os.stat_result | None = None) -> ElfSymbols:
    """``ElfSymbols.from_path(path)``, cached by the file's identity (device, inode, size
    and modification time, from ``st`` if given), so a replaced file is read again."""
    st = st or os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    found = _elf_cache.get(key)
    if found is None:
        found = _elf_cache[key] = ElfSymbols.from_path(path)
    return found


# -- JIT maps and the kernel ---------------------------------------------------------------


def perf_map(path: str | os.PathLike[str]) -> SymbolTable:
    """The symbols of a JIT map such as ``/tmp/perf-PID.map``: lines ``START SIZE NAME``,
    hexadecimal, as perf reads them. Lines that do not parse are skipped."""
    rows = []
    with open(path, "rb") as f:
        for line in f:
            parts = line.rstrip(b"\n").split(b" ", 2)
            if len(parts) == 3:
                try:
                    rows.append((int(parts[0], 16), int(parts[1], 16),
                                 parts[2].decode("utf-8", "replace")))
                except ValueError:
                    continue
    return SymbolTable(rows)


def kernel_symbols(path: str = "/proc/kallsyms") -> tuple[SymbolTable, dict[str, str]] | None:
    """The kernel's text symbols and each one's module (``[name]``), or None when the file
    cannot be read or hides the addresses (``kernel.kptr_restrict``, or no privilege)."""
    rows = []
    modules: dict[str, str] = {}
    try:
        with open(path, "rb") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[1] not in b"tTwW":
                    continue
                addr = int(parts[0], 16)
                name = parts[2].decode("utf-8", "replace")
                rows.append((addr, 0, name))
                if len(parts) > 3:
                    modules[name] = parts[3].decode("utf-8", "replace")
    except OSError:
        return None
    if not any(addr for addr, _, _ in rows):
        return None
    return SymbolTable(rows), modules


# -- mappings --------------------------------------------------------------------------------


class Mapping(NamedTuple):
    """One mapping of a process: ``[start, end)`` maps ``path`` from file offset ``pgoff``.
    ``inode`` and ``dev`` (major, minor) identify the file where known, ``build_id`` where
    the kernel reported it (MMAP2 with ``PERF_RECORD_MISC_MMAP_BUILD_ID``)."""

    start: int
    end: int
    pgoff: int
    path: str
    inode: int = 0
    dev: tuple[int, int] | None = None
    build_id: bytes | None = None


class AddressSpace:
    """The mappings of one process, sorted by start; a new mapping replaces what it covers,
    as mmap(2) does."""

    __slots__ = ("_starts", "mappings")

    def __init__(self, mappings: Iterable[Mapping] = ()) -> None:
        self.mappings: list[Mapping] = []
        self._starts: list[int] = []
        for m in mappings:
            self.add(m)

    @classmethod
    def from_proc(cls, pid: int | str = "self") -> AddressSpace:
        """The mappings ``/proc/PID/maps`` lists now (anonymous ones included)."""
        out = []
        with open(f"/proc/{pid}/maps", "rb") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 5:
                    continue
                lo, _, hi = parts[0].partition(b"-")
                major, _, minor = parts[3].partition(b":")
                name = parts[5].rstrip(b"\n") if len(parts) > 5 else b""
                out.append(Mapping(int(lo, 16), int(hi, 16), int(parts[2], 16),
                                   name.decode("utf-8", "surrogateescape"),
                                   int(parts[4]), (int(major, 16), int(minor, 16))))
        return cls(out)

    def copy(self) -> AddressSpace:
        new = AddressSpace()
        new.mappings = list(self.mappings)
        new._starts = list(self._starts)
        return new

    def add(self, m: Mapping) -> None:
        """Insert ``m``, cutting away the parts of older mappings that it covers."""
        if m.end <= m.start:
            return
        i = bisect.bisect_right(self._starts, m.start) - 1
        if i >= 0 and self.mappings[i].end > m.start:
            old = self.mappings[i]  # keeps its head; its tail beyond m comes back below
            self.mappings[i] = old._replace(end=m.start)
            if old.end > m.end:
                tail = old._replace(start=m.end, pgoff=old.pgoff + (m.end - old.start))
                self.mappings.insert(i + 1, tail)
                self._starts.insert(i + 1, tail.start)
            if old.start == m.start:
                del self.mappings[i], self._starts[i]
                i -= 1
        j = i + 1
        while j < len(self.mappings) and self.mappings[j].start < m.end:
            old = self.mappings[j]
            if old.end <= m.end:
                del self.mappings[j], self._starts[j]
            else:
                tail = old._replace(start=m.end, pgoff=old.pgoff + (m.end - old.start))
                self.mappings[j] = tail
                self._starts[j] = tail.start
                break
        self.mappings.insert(i + 1, m)
        self._starts.insert(i + 1, m.start)

    def find(self, addr: int) -> Mapping | None:
        """The mapping holding ``addr``, or None."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.mappings[i].end:
            return self.mappings[i]
        return None


# -- the symbolizer --------------------------------------------------------------------------


@dataclass
class Symbolizer:
    """Names addresses of the processes it follows, and of the kernel.

    ``Symbolizer(pids)`` reads each process's ``/proc/PID/maps`` now; ``feed(record)``
    keeps the tables current from a ring's ``MmapRecord``, ``Mmap2Record``,
    ``ForkRecord`` and ``ExitRecord``s (open the event with ``mmap=1, mmap2=1, task=1``,
    ``comm=1``); ``lookup(pid, addr)`` names one address, ``callchain(pid, ips)`` a
    whole callchain. Files that cannot be read or parsed, and mappings whose build-id
    differs from their file's, name nothing (``None``); ``failed`` says why, per path.
    """

    pids: Iterable[int] = ()
    kernel: bool = True
    """Name kernel addresses from ``/proc/kallsyms`` (when it shows them)."""
    spaces: dict[int, AddressSpace] = field(default_factory=dict, init=False)
    """The address space of each process followed, by pid."""
    failed: dict[str, str] = field(default_factory=dict, init=False)
    """Why a file named nothing, by the mapping's path."""
    _kernel: tuple[SymbolTable, dict[str, str]] | None = field(default=None, init=False)
    _kernel_read: bool = field(default=False, init=False)
    _jit: dict[int, tuple[tuple[int, int], SymbolTable]] = field(default_factory=dict,
                                                                 init=False)
    _files: dict[Mapping, tuple[ElfSymbols, int | None] | None] = field(default_factory=dict,
                                                                       init=False)

    def __post_init__(self) -> None:
        for pid in self.pids:
            self.spaces[pid] = AddressSpace.from_proc(pid)

    def follow(self, pid: int) -> AddressSpace:
        """The address space of ``pid``, read from /proc on first use (empty if it is gone)."""
        space = self.spaces.get(pid)
        if space is None:
            try:
                space = AddressSpace.from_proc(pid)
            except OSError:
                space = AddressSpace()
            self.spaces[pid] = space
        return space

    def feed(self, record: object) -> None:
        """Apply one decoded record: MMAP/MMAP2 add a mapping, FORK copies the parent's
        table to a new process, EXIT of a process drops its table. Others are ignored."""
        if isinstance(record, MmapRecord | Mmap2Record):
            m = Mapping(record.addr, record.addr + record.len, record.pgoff, record.filename)
            if isinstance(record, Mmap2Record):
                if record.build_id is not None:
                    m = m._replace(build_id=bytes(record.build_id))
                elif record.ino is not None and record.maj is not None and record.min is not None:
                    m = m._replace(inode=record.ino, dev=(record.maj, record.min))
            self.follow(record.pid).add(m)
        elif isinstance(record, ForkRecord):
            if record.pid != record.ppid:
                parent = self.spaces.get(record.ppid)
                self.spaces[record.pid] = (parent.copy() if parent is not None
                                           else self.follow(record.pid))
        elif isinstance(record, ExitRecord) and record.pid == record.tid:
            self.spaces.pop(record.pid, None)
            self._jit.pop(record.pid, None)

    def kernel_table(self) -> tuple[SymbolTable, dict[str, str]] | None:
        """The kallsyms table, read on first use; None where it is hidden."""
        if not self._kernel_read:
            self._kernel = kernel_symbols() if self.kernel else None
            self._kernel_read = True
        return self._kernel

    def jit(self, pid: int) -> SymbolTable | None:
        """``/tmp/perf-PID.map``'s symbols, read again whenever the file has changed."""
        path = f"/tmp/perf-{pid}.map"
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_size, st.st_mtime_ns)
        cached = self._jit.get(pid)
        if cached is None or cached[0] != key:
            cached = self._jit[pid] = (key, perf_map(path))
        return cached[1]

    def lookup(self, pid: int, addr: int) -> Symbol | None:
        """The symbol holding ``addr`` in process ``pid`` (or in the kernel), or None."""
        if addr >= CONTEXT_MARKERS:
            return None
        m = self.follow(pid).find(addr)
        if m is not None and m.path.startswith("/"):
            found = self._from_file(m, addr)
            if found is not None:
                return found
        if m is None or not m.path.startswith("/"):
            table = self.jit(pid)
            if table is not None:
                hit = table.lookup(addr)
                if hit is not None:
                    return Symbol(hit[0], hit[1], hit[2], addr - hit[1], f"/tmp/perf-{pid}.map")
        if m is None:
            kern = self.kernel_table()
            if kern is not None and addr >= kern[0].starts[0]:
                hit = kern[0].lookup(addr)
                if hit is not None:
                    module = kern[1].get(hit[0])
                    return Symbol(hit[0], hit[1], hit[2], addr - hit[1], module or KERNEL)
        return None

    def callchain(self, pid: int, ips: Iterable[int]) -> list[Symbol | None]:
        """``lookup`` of each address of a callchain, context markers left out."""
        return [self.lookup(pid, ip) for ip in ips if ip < CONTEXT_MARKERS]

    def _elf(self, m: Mapping) -> tuple[ElfSymbols, int | None] | None:
        """The symbols of ``m``'s file, checked against the mapping once per mapping, and
        what turns an address in ``m`` into the file's own address (added to it) where
        the mapping overlaps one PT_LOAD segment, as the loader maps them."""
        try:
            return self._files[m]
        except KeyError:
            pass
        path = m.path.removesuffix(" (deleted)")
        found: tuple[ElfSymbols, int | None] | None = None
        try:
            st = os.stat(path)
            if m.inode and st.st_ino != m.inode:
                raise ElfError(f"{path}: inode {st.st_ino}, but the mapping's file was {m.inode} "
                               "(the file was replaced)")
            elf = elf_symbols(path, st)
            if m.build_id is not None and elf.build_id is not None and m.build_id != elf.build_id:
                raise ElfError(f"{path}: build-id {elf.build_id.hex()}, but the mapping's is "
                               f"{m.build_id.hex()}")
            # the segments the mapping overlaps (it is page-aligned, they need not be)
            overlap = [vaddr - offset + m.pgoff - m.start
                       for offset, vaddr, filesz in elf.segments
                       if offset < m.pgoff + (m.end - m.start) and m.pgoff < offset + filesz]
            found = (elf, overlap[0] if len(overlap) == 1 else None)
        except (OSError, ElfError) as err:
            self.failed[m.path] = str(err)
        self._files[m] = found
        return found

    def _from_file(self, m: Mapping, addr: int) -> Symbol | None:
        found = self._elf(m)
        if found is None:
            return None
        elf, bias = found
        if bias is not None:  # the mapping is one segment's: no search for it
            hit = elf.table.lookup(addr + bias)
            if hit is None:
                return None
            name, start, size = hit
            return Symbol(name, start - bias, size, addr + bias - start, elf.path)
        offset = addr - m.start + m.pgoff
        hit = elf.lookup(offset)
        if hit is None:
            return None
        name, start_offset, size = hit
        return Symbol(name, start_offset - m.pgoff + m.start, size, offset - start_offset, elf.path)
