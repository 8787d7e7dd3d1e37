"""Which kernel headers the layout probe of test_constants.py compiles against."""

from __future__ import annotations

import functools
import os
import platform
import re
import tomllib
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
    if os.environ.get("PERFSYS_PROBE_HEADERS") == "system":
        return None
    try:
        import ziglang
    except ImportError:
        return None
    from importlib.metadata import version

    inc = Path(ziglang.__file__).resolve().parent / "lib" / "libc" / "include"
    arch = ZIG_ARCH.get(platform.machine())
    if arch is None or not (inc / f"{arch}-linux-any").is_dir():
        return None
    have = version("ziglang")
    return Headers(
        f"ziglang {have} headers, Linux {linux_version(inc / 'any-linux-any')} "
        f"({inc / 'any-linux-any'})",
        ["-I", str(inc / f"{arch}-linux-any"), "-I", str(inc / "any-linux-any")],
        pinned=have == pinned_ziglang(),
    )


def pinned_ziglang() -> str:
    """The ziglang version of the `regen` extra, whose headers made constants.py."""
    with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    for req in extras["regen"]:
        name, _, want = req.partition("==")
        if name.strip() == "ziglang":
            return want.strip()
    raise LookupError("pyproject.toml pins no ziglang in the regen extra")


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
