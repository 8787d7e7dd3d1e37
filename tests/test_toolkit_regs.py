"""perf_regs.h tables (generated) proven against the C compiler; perfsys.regs on real samples."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from probe_headers import headers, zig_headers
from support import spin_cpu

import perfsys
from perfsys import constants as C
from perfsys import regs

# the kernel's architecture name -> the ziglang wheel's include folder, and the macros
# that select the variant constants.py was generated for (as tools/gen_constants.py does)
FOLDERS = {
    "arm": ("arm-linux-any", []), "arm64": ("aarch64-linux-any", []),
    "csky": ("csky-linux-any", ["-D__CSKYABIV2__"]), "loongarch": ("loongarch-linux-any", []),
    "mips": ("mips-linux-any", []), "powerpc": ("powerpc-linux-any", []),
    "riscv": ("riscv-linux-any", []), "s390": ("s390x-linux-any", []),
    "x86": ("x86-linux-any", []),
}


def include_root() -> Path:
    """The pinned ziglang headers (or $PERFSYS_PROBE_HEADERS' copy of them), which
    constants.py was generated from: the folder that holds every <arch>-linux-any."""
    found = zig_headers()
    if found is None or not found.pinned:
        pytest.skip("the pinned ziglang headers are not here: no per-architecture "
                    "perf_regs.h to probe (" + headers().label + ")")
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to compile the probe")
    return Path(found.include_args[-1]).parent


def test_every_architecture_is_covered() -> None:
    assert set(FOLDERS) == set(C.PERF_REGS) == set(C.PERF_REGS_MASKS)
    assert tuple(C.PERF_REGS) == regs.ARCHES


@pytest.mark.parametrize("arch", sorted(FOLDERS))
def test_values_match_the_compiler(arch: str, tmp_path: Path) -> None:
    folder, defines = FOLDERS[arch]
    inc = include_root() / folder
    names = {**C.PERF_REGS[arch], **C.PERF_REGS_MASKS[arch]}
    src = tmp_path / "probe.c"
    src.write_text("#include <stdio.h>\n#include <asm/perf_regs.h>\nint main(void) {\n" + "".join(
        f'    printf("%s %llu\\n", "{n}", (unsigned long long)({n}));\n' for n in names)
        + "    return 0;\n}\n")
    exe = tmp_path / "probe"
    subprocess.run(["gcc", "-Wall", "-Werror", *defines, "-I", str(inc), "-o", str(exe),
                    str(src)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    got = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()}
    assert got == {n: v & (1 << 64) - 1 for n, v in names.items()}
    for n, v in C.PERF_REGS[arch].items():
        assert getattr(C, n) == v  # each member is a module constant too

    # nothing of the header is missing: every enum member and every macro it defines
    pre = subprocess.run(["gcc", "-E", "-P", *defines, "-I", str(inc), "-"],
                         input="#include <asm/perf_regs.h>\n", check=True,
                         capture_output=True, text=True).stdout
    members = set(re.findall(r"\b(PERF_REG_\w+)\s*(?:=[^,}]*)?[,}]", pre))
    assert members == set(C.PERF_REGS[arch])
    macros = subprocess.run(["gcc", "-E", "-dM", *defines, "-I", str(inc), "-"],
                            input="#include <asm/perf_regs.h>\n", check=True,
                            capture_output=True, text=True).stdout
    defined = {m for m in re.findall(r"^#define (PERF_REG_\w+)\s+\S", macros, re.M)}
    assert defined == set(C.PERF_REGS_MASKS[arch])


# -- the helper ---------------------------------------------------------------------------


def test_names_and_masks() -> None:
    assert regs.names("x86")[8] == "ip" and regs.names("x86")[6] == "bp"
    assert regs.mask("ip", "SP", "PERF_REG_X86_BP", architecture="x86") == 0b111 << 6
    assert regs.names("arm64")[32] == "pc"
    assert all(not n.endswith("max") for a in regs.ARCHES for n in regs.names(a).values())
    m = regs.mask("ip", "xmm0", architecture="x86") | 1 << 33
    assert regs.named(m, [1, 2, 3], "x86") == {"ip": 1, "xmm0": 2, "xmm0_hi": 3}
    assert regs.named(1 << 30, [5], "x86") == {"bit30": 5}
    assert regs.named(0b111, [], "x86") == {}      # PERF_SAMPLE_REGS_ABI_NONE
    assert regs.arch("x86_64") == "x86" and regs.arch("aarch64") == "arm64"
    assert regs.arch("armv7l") == "arm"


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        regs.names("vax")
    with pytest.raises(ValueError, match="no register"):
        regs.mask("eip", architecture="x86")
    with pytest.raises(ValueError, match="selects 2 registers"):
        regs.named(0b11, [1, 2, 3], "x86")
    with pytest.raises(ValueError, match="not a u64"):
        regs.named(1 << 64, [1], "x86")
    with pytest.raises(ValueError, match=r"no perf_regs\.h table"):
        regs.arch("pdp11")


IP_REGISTER = {"x86": "ip", "arm64": "pc", "arm": "pc", "riscv": "pc", "powerpc": "nip",
               "s390": "pc", "loongarch": "pc", "mips": "pc", "csky": "pc"}


def test_sample_regs_user_named_on_this_machine() -> None:
    try:
        arch = regs.arch()
    except ValueError as err:
        pytest.skip(str(err))
    ip, sp = IP_REGISTER[arch], "sp" if arch not in ("powerpc", "s390", "mips", "loongarch") \
        else None
    wanted = [ip] + ([sp] if sp else [])
    attr = perfsys.perf_event_attr(
        type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK, sample_period=100_000,
        sample_type=C.PERF_SAMPLE_IP | C.PERF_SAMPLE_REGS_USER,
        sample_regs_user=regs.mask(*wanted), exclude_kernel=1, disabled=1)
    fd = perfsys.perf_event_open(attr, 0, -1, -1, C.PERF_FLAG_FD_CLOEXEC)
    try:
        with perfsys.RingBuffer(fd, 16) as ring:
            perfsys.ioctls.ENABLE(fd)
            spin_cpu(0.05)
            perfsys.ioctls.DISABLE(fd)
            samples = [r for r in ring.read(decoder=perfsys.Decoder(attr))
                       if isinstance(r, perfsys.SampleRecord)]
    finally:
        os.close(fd)
    assert samples
    for s in samples:
        assert s.regs_user_abi != C.PERF_SAMPLE_REGS_ABI_NONE
        named = regs.named(attr.sample_regs_user, s.regs_user)
        assert list(named) == sorted(wanted, key=lambda n: regs.mask(n))
        assert named[ip] == s.ip  # a user-mode sample's ip is the user ip register
