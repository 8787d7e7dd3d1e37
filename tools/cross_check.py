"""Cross-compiles src/_perfsys.c for every Linux architecture zig has a C library for.

    python3 tools/cross_check.py [--only GLOB ...]

For each target (glibc and musl where zig ships them): the extension compiles with
its own flags (setup.py: -Wall -Wextra -Werror) as a release build does
(tools/build_wheels.py), and tools/cross_check.c compiles, which asserts that the
extension's ioctl request numbers and perf_event_open syscall number are those of
the target's kernel headers. Nothing is linked or run.
"""

from __future__ import annotations

import argparse
import fnmatch
import subprocess
import sys
import tempfile
from pathlib import Path

from build_wheels import RELEASE_FLAGS, ROOT, Interpreter, cross_include, zig

# zig's targets: every architecture Linux's perf_event_open runs on that zig has a C
# library for; glibc is missing for big-endian ppc64 in zig.
TARGETS = [
    "x86_64-linux-gnu", "x86_64-linux-musl",
    "x86-linux-gnu", "x86-linux-musl",
    "aarch64-linux-gnu", "aarch64-linux-musl",
    "arm-linux-gnueabihf", "arm-linux-musleabihf",
    "powerpc64le-linux-gnu", "powerpc64le-linux-musl",
    "powerpc64-linux-musl",
    "s390x-linux-gnu", "s390x-linux-musl",
    "riscv64-linux-gnu", "riscv64-linux-musl",
    "loongarch64-linux-gnu", "loongarch64-linux-musl",
]
ABI_HEADER = ROOT / "src" / "_perfsys_abi.h"


def macros(cc: list[str], target: str, source: str) -> set[str]:
    """The names of the macros defined after preprocessing `source`."""
    out = subprocess.run([*cc, "-target", target, "-E", "-dM", "-I", str(ABI_HEADER.parent),
                          "-x", "c", "-"], input=source, capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[1].split("(")[0] for line in out.splitlines()
            if line.startswith("#define ")}


def undef_header(cc: list[str], target: str, dest: Path) -> None:
    """perfsys_abi_undef.h: #undef of every macro _perfsys_abi.h defines but its X-lists."""
    base = "#include <linux/ioctl.h>\n#include <linux/types.h>\n"
    own = macros(cc, target, base + '#include "_perfsys_abi.h"\n') - macros(cc, target, base)
    lines = [f"#undef {name}" for name in sorted(own) if not name.startswith("PERFSYS_")]
    dest.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="GLOB")
    args = ap.parse_args()
    targets = [t for t in TARGETS if not args.only
               or any(fnmatch.fnmatch(t, g) for g in args.only)]
    cc = zig()
    interp = Interpreter.probe(sys.executable)
    failed = []
    with tempfile.TemporaryDirectory(prefix="perfsys-cross-") as tmp:
        work = Path(tmp)
        include = cross_include(interp, work / "include")
        for target in targets:
            tdir = work / target
            tdir.mkdir()
            undef_header(cc, target, tdir / "perfsys_abi_undef.h")
            steps = {
                "extension": [*cc, "-target", target, *RELEASE_FLAGS, *interp.cflags(include),
                              "-c", *(str(ROOT / s) for s in interp.sources),
                              "-o", str(tdir / "ext.o")],
                "kernel numbers": [*cc, "-target", target, "-std=gnu11", "-Wall", "-Wextra",
                                   "-Werror", "-I", str(ABI_HEADER.parent), "-I", str(tdir),
                                   "-c", str(ROOT / "tools" / "cross_check.c"),
                                   "-o", str(tdir / "check.o")],
            }
            for step, cmd in steps.items():
                if subprocess.run(cmd).returncode != 0:
                    failed.append(f"{target}: {step}")
            ok = not failed or not failed[-1].startswith(target + ":")
            print(f"cross_check: {target}: {'ok' if ok else 'FAILED'}", flush=True)
    for f in failed:
        print(f"cross_check: FAILED {f}")
    print(f"cross_check: {len(targets) - len({f.split(':')[0] for f in failed})}"
          f"/{len(targets)} targets clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
