"""Register names for ``sample_regs_user`` / ``sample_regs_intr``, per architecture.

::

    from perfsys import regs

    attr.sample_regs_user = regs.mask("ip", "sp", "bp")      # this machine's numbers
    ...
    regs.named(attr.sample_regs_user, sample.regs_user)      # {'bp': ..., 'sp': ..., 'ip': ...}

A sample's ``regs_user`` (and ``regs_intr``) holds one u64 per bit set in the attr's
mask, lowest bit first; the bits are the ``PERF_REG_<ARCH>_*`` numbers of the
architecture's ``asm/perf_regs.h`` (``perfsys.constants.PERF_REGS[arch]``, generated
from the headers). A register's short name is its enum name without the
``PERF_REG_<ARCH>_`` prefix, in lower case (``PERF_REG_X86_IP`` -> ``ip``); the
enum's ``*_MAX`` markers are not registers. A bit that names no register but follows
one, as the upper halves of x86's 128-bit ``XMM`` registers do, is ``<name>_hi``
(``xmm0_hi``); any other is ``bit<N>``.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from functools import cache

from perfsys import constants as C

__all__ = ["ARCHES", "arch", "mask", "named", "names"]

ARCHES: tuple[str, ...] = tuple(C.PERF_REGS)
"""The architectures the tables cover, by the kernel's names."""

# platform.machine() -> the kernel's architecture name
_MACHINES = {
    "x86_64": "x86", "amd64": "x86", "i386": "x86", "i486": "x86", "i586": "x86",
    "i686": "x86", "aarch64": "arm64", "arm64": "arm64", "ppc64": "powerpc",
    "ppc64le": "powerpc", "ppc": "powerpc", "s390x": "s390", "riscv64": "riscv",
    "riscv32": "riscv", "loongarch64": "loongarch", "mips": "mips", "mips64": "mips",
    "mipsel": "mips", "mips64el": "mips", "csky": "csky",
}


def arch(machine: str | None = None) -> str:
    """The kernel's name for the architecture of ``machine`` (default: this one's
    ``platform.machine()``), as ``perfsys.constants.PERF_REGS`` keys it."""
    m = platform.machine() if machine is None else machine
    if m in _MACHINES:
        return _MACHINES[m]
    if m.startswith("arm"):
        return "arm"
    raise ValueError(f"no perf_regs.h table for machine {m!r}; known: {', '.join(ARCHES)}")


def _check_arch(a: str | None) -> str:
    if a is None:
        return arch()
    if a not in C.PERF_REGS:
        raise ValueError(f"unknown architecture {a!r}; choose one of {', '.join(ARCHES)}")
    return a


def names(architecture: str | None = None) -> dict[int, str]:
    """Bit number -> short register name, for ``architecture`` (default: this machine)."""
    return dict(_names(_check_arch(architecture)))


@cache
def _names(a: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for full, bit in C.PERF_REGS[a].items():
        short = full.split("_", 3)[3].lower()   # PERF_REG_<ARCH>_<NAME>
        if full.startswith("PERF_REG_EXTENDED_") or short == "max" or short.endswith("_max"):
            continue
        out.setdefault(bit, short)
    return dict(sorted(out.items()))


def _name_of(bit: int, table: dict[int, str]) -> str:
    if bit in table:
        return table[bit]
    if bit - 1 in table:
        return table[bit - 1] + "_hi"
    return f"bit{bit}"


def mask(*registers: str, architecture: str | None = None) -> int:
    """The ``sample_regs_user``/``sample_regs_intr`` mask of the named registers
    (short names, any case, or the full ``PERF_REG_*`` names)."""
    a = _check_arch(architecture)
    by_name = {v: k for k, v in _names(a).items()}
    full = C.PERF_REGS[a]
    m = 0
    for r in registers:
        if r in full:
            bit = full[r]
        elif r.lower() in by_name:
            bit = by_name[r.lower()]
        else:
            raise ValueError(f"{a} has no register {r!r}; it has {', '.join(by_name)}")
        m |= 1 << bit
    return m


def named(regs_mask: int, values: Sequence[int], architecture: str | None = None
          ) -> dict[str, int]:
    """Name a sample's ``regs_user`` or ``regs_intr`` values by the attr's mask.

    ``values`` must hold one value per bit set in ``regs_mask`` (the kernel writes them
    lowest bit first); an empty ``values`` (the sample's ABI was
    ``PERF_SAMPLE_REGS_ABI_NONE``: no user registers, e.g. a kernel thread) gives ``{}``.
    """
    if regs_mask < 0 or regs_mask >> 64:
        raise ValueError(f"the register mask {regs_mask:#x} is not a u64")
    if not values:
        return {}
    bits = [b for b in range(64) if regs_mask >> b & 1]
    if len(bits) != len(values):
        raise ValueError(f"the mask {regs_mask:#x} selects {len(bits)} registers, but "
                         f"{len(values)} values were given")
    table = _names(_check_arch(architecture))
    return {_name_of(b, table): v for b, v in zip(bits, values, strict=True)}
