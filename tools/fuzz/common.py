"""What both fuzz harnesses share: loading the instrumented perfsys, and the attrs they
decode with, drawn from the input.

``tools/fuzz/run.sh`` builds a copy of the extension instrumented for coverage (and with
undefined behaviour trapping) under ``build/fuzz`` and puts it first on the path. That
copy calls libFuzzer's coverage hooks, which atheris's core module carries; atheris
loads that module when fuzzing starts, so perfsys is imported on the first input, after
the module's symbols were made global.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path
from types import ModuleType
from typing import Any

import atheris

EXPECTED: tuple[type[BaseException], ...] = (ValueError, TypeError, OverflowError)
"""What bad input may raise; anything else, or a crash, is a finding."""

ATTR_SIZES = [64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 0]
_perfsys: ModuleType | None = None


def load() -> ModuleType:
    """perfsys, imported (instrumented) on the first call."""
    global _perfsys
    if _perfsys is None:
        core = next(Path(atheris.__file__).parent.glob("core_with_libfuzzer*.so"))
        ctypes.CDLL(str(core), mode=os.RTLD_GLOBAL | os.RTLD_NOLOAD)
        with atheris.instrument_imports():
            import perfsys
        _perfsys = perfsys
    return _perfsys


def attr(fdp: Any) -> bytes:
    """One perf_event_attr: mostly fields a decoder cares about, sometimes raw bytes."""
    perfsys = load()
    if fdp.ConsumeIntInRange(0, 7) == 0:
        return bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 160)))
    a = perfsys.perf_event_attr(
        sample_type=fdp.ConsumeIntInRange(0, (1 << 25) - 1),
        read_format=fdp.ConsumeIntInRange(0, 31),
        sample_id_all=fdp.ConsumeBool(),
        branch_sample_type=fdp.ConsumeIntInRange(0, (1 << 20) - 1),
        sample_regs_user=fdp.ConsumeIntInRange(0, 2**64 - 1),
        sample_regs_intr=fdp.ConsumeIntInRange(0, 2**64 - 1),
    )
    a.size = fdp.PickValueInList(ATTR_SIZES)
    return bytes(a)


def decoder(fdp: Any) -> Any:
    """A Decoder of one attr, or of up to three told apart by PERF_SAMPLE_IDENTIFIER;
    None when the attrs are refused (which is itself part of what is fuzzed)."""
    perfsys = load()
    arg: Any = attr(fdp) if fdp.ConsumeBool() else {
        fdp.ConsumeIntInRange(0, 2**64 - 1): attr(fdp) for _ in range(fdp.ConsumeIntInRange(1, 3))}
    try:
        return perfsys.Decoder(arg)
    except EXPECTED:
        return None


def records(fdp: Any, limit: int) -> bytes:
    """At most `limit` bytes of records: either raw bytes, or records whose headers are
    well formed (any type and misc, a size that covers the body), so that the fuzzer
    reaches the bodies without first finding the header's rules."""
    if fdp.ConsumeBool():
        return bytes(fdp.ConsumeBytes(limit))
    out = bytearray()
    while fdp.remaining_bytes() > 0 and len(out) + 8 <= limit:
        rtype = fdp.ConsumeIntInRange(0, 24)
        misc = fdp.ConsumeIntInRange(0, 0xFFFF)
        body = bytes(fdp.ConsumeBytes(8 * fdp.ConsumeIntInRange(0, 48)))
        body += bytes(-len(body) % 8)
        if len(out) + 8 + len(body) > limit:
            break
        out += struct.pack("=IHH", rtype, misc, 8 + len(body)) + body
    return bytes(out)
