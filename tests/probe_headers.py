"""Which kernel headers the layout probe of test_constants.py compiles against."""

from __future__ import annotations

import functools
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

# platform.machine() -> the ziglang wheel's per-architecture include folder prefix
ZIG_ARCH = {
    "x86_64": "x86", "i386": "x86", "i686": "x86", "aarch64": "aarch64", "arm64": "aarch64",
    "armv7l": "arm", "armv6l": "arm", "ppc64le": "powerpc", "ppc64": "powerpc",
    "s390x": "s390x", "riscv64": "riscv", "loongarch64": "loongarch", "mips64": "mips",
    "mips": "mips", "sparc64": "sparc",
}

@dataclass
class Headers:
    label: str
    include_args: list[str]
    pinned: bool  # the very headers constants.py was generated from


def zig_headers() -> Headers | None:
    """The ziglang wheel's kernel headers, or a copy of its lib/libc/include folder named
    by $PERFSYS_PROBE_HEADERS (where ziglang cannot be installed); "system" for none."""
    where = os.environ.get("PERFSYS_PROBE_HEADERS", "")
    if where == "system":
        return None
    made_from = generated_from()
    if where:
        inc = Path(where)
        linux = linux_version(inc / "any-linux-any")
        origin = f"a copy of ziglang's headers, Linux {linux}"
        pinned = made_from is not None and linux == made_from[0]
    else:
        try:
            import ziglang
        except ImportError:
            return None
        from importlib.metadata import version

        inc = Path(ziglang.__file__).resolve().parent / "lib" / "libc" / "include"
        have = version("ziglang")
        origin = f"ziglang {have} headers, Linux {linux_version(inc / 'any-linux-any')}"
        pinned = made_from is not None and have == made_from[1]
    arch = ZIG_ARCH.get(platform.machine())
    if arch is None or not (inc / f"{arch}-linux-any").is_dir():
        return None
    return Headers(
        f"{origin} ({inc / 'any-linux-any'})",
        ["-I", str(inc / f"{arch}-linux-any"), "-I", str(inc / "any-linux-any")],
        pinned=pinned,
    )


def generated_from() -> tuple[str, str] | None:
    """(Linux version, ziglang version) of the headers that made constants.py, as its
    first line says."""
    import perfsys.constants

    with open(perfsys.constants.__file__) as f:
        m = re.search(r"of Linux ([\d.]+) \(ziglang ([\w.]+)\)", f.readline())
    return (m.group(1), m.group(2)) if m else None


def linux_version(include: Path) -> str:
    """"major.minor" from an include folder's linux/version.h, or "unknown"."""
    try:
        text = (include / "linux" / "version.h").read_text()
    except OSError:
        return "unknown"
    parts = [re.search(rf"#define LINUX_VERSION_{w}\s+(\d+)", text)
             for w in ("MAJOR", "PATCHLEVEL")]
    if all(parts):
        return ".".join(m.group(1) for m in parts if m)
    code = re.search(r"#define LINUX_VERSION_CODE\s+(\d+)", text)
    return f"{int(code.group(1)) >> 16}.{int(code.group(1)) >> 8 & 255}" if code else "unknown"


@functools.cache
def headers() -> Headers:
    found = zig_headers()
    if found is not None:
        return found
    return Headers(f"the machine's /usr/include, Linux {linux_version(Path('/usr/include'))}",
                   [], pinned=False)
