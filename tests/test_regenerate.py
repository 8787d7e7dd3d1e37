"""constants.py and _perfsys_abi.h are what tools/regenerate.sh makes of the pinned
headers, byte for byte, and the record classes of _perfsys.pyi what it makes of
_perfsys_records.h.

Like CPython's check_generated_files job: regenerate into a temporary file with
the installed regeneration packages and compare. Skips only where those
packages (the `regen` extra of pyproject.toml, at its pinned versions) are not
installed; `.ci/run` installs them.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from support import source_tree

ROOT = source_tree("the regeneration checks")

CONSTANTS = ROOT / "src" / "perfsys" / "constants.py"
ABI_HEADER = ROOT / "src" / "_perfsys_abi.h"
GENERATED = {"constants.py": CONSTANTS, "_perfsys_abi.h": ABI_HEADER}


def pins() -> list[tuple[str, str]]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    return [tuple(req.split("==", 1)) for req in extras["regen"]]  # type: ignore[misc]


def test_regen_inputs_are_pinned() -> None:
    got = dict(pins())
    assert set(got) == {"ziglang", "libclang"}
    assert all(v and v[0].isdigit() for v in got.values())


def regenerate(into: Path, cwd: Path) -> dict[str, str]:
    """Every generated file, regenerated into `into`: its name -> its text."""
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_constants.py"),
         "--output", str(into / "constants.py"), "--doc-from", str(CONSTANTS),
         "--abi-output", str(into / "_perfsys_abi.h")],
        check=True, cwd=cwd,
    )
    return {name: (into / name).read_text() for name in GENERATED}


def test_generated_files_are_up_to_date(tmp_path: Path) -> None:
    for name, want in pins():
        try:
            have = version(name)
        except PackageNotFoundError:
            pytest.skip(f"the regeneration package {name}=={want} is not installed "
                        f"(pip install '.[regen]')")
        if have != want:
            pytest.skip(f"{name} {have} is installed, but constants.py is generated "
                        f"with {name}=={want} (pip install '.[regen]')")
    regenerated = regenerate(tmp_path, ROOT)
    for name, path in GENERATED.items():
        committed = path.read_text()
        if committed != regenerated[name]:
            rel = path.relative_to(ROOT)
            diff = "".join(list(difflib.unified_diff(
                committed.splitlines(keepends=True),
                regenerated[name].splitlines(keepends=True), str(rel), "regenerated"))[:60])
            pytest.fail(f"{rel} is out of date with its generator; "
                        "run `tools/regenerate.sh` and commit the result.\n" + diff)


def test_record_stubs_are_up_to_date(tmp_path: Path) -> None:
    stubs = ROOT / "src" / "perfsys" / "_perfsys.pyi"
    out = tmp_path / "_perfsys.pyi"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_stubs.py"), "--stubs", str(stubs),
         "--output", str(out)],
        check=True, cwd=tmp_path,
    )
    if out.read_text() != stubs.read_text():
        diff = "".join(list(difflib.unified_diff(
            stubs.read_text().splitlines(keepends=True),
            out.read_text().splitlines(keepends=True),
            "src/perfsys/_perfsys.pyi", "regenerated"))[:60])
        pytest.fail("the record classes of src/perfsys/_perfsys.pyi are out of date with "
                    "src/_perfsys_records.h; run `tools/regenerate.sh` and commit the "
                    "result.\n" + diff)


def test_regeneration_is_deterministic(tmp_path: Path) -> None:
    """Two runs, in different directories, give the same bytes."""
    try:
        import clang.cindex  # noqa: F401
        import ziglang  # noqa: F401
    except ImportError:
        pytest.skip("the regeneration packages are not installed (pip install '.[regen]')")
    runs = []
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        runs.append(regenerate(tmp_path / sub, tmp_path / sub))
    assert runs[0] == runs[1]
    for text in runs[0].values():
        assert str(tmp_path) not in text and str(ROOT) not in text
        assert "/site-packages/" not in text


def test_abi_header_needs_no_perf_event_h() -> None:
    """The C file builds against any kernel's headers: the generated header includes
    only <linux/ioctl.h> and <linux/types.h>, which every UAPI has, and refuses to
    stand beside <linux/perf_event.h>."""
    text = ABI_HEADER.read_text()
    includes = [line.split()[1] for line in text.splitlines() if line.startswith("#include")]
    assert includes == ["<linux/ioctl.h>", "<linux/types.h>"]
    assert "#  error" in text and "_UAPI_LINUX_PERF_EVENT_H" in text
    c_file = (ROOT / "src" / "_perfsys.c").read_text()
    assert "linux/perf_event.h>" not in "".join(
        line for line in c_file.splitlines() if line.startswith("#include"))
