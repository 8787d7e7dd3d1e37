"""constants.py is what tools/regenerate.sh makes of the pinned headers, byte for byte.

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
from support import ROOT

CONSTANTS = ROOT / "src" / "perfsys" / "constants.py"


def pins() -> list[tuple[str, str]]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    return [tuple(req.split("==", 1)) for req in extras["regen"]]  # type: ignore[misc]


def test_regen_inputs_are_pinned() -> None:
    got = dict(pins())
    assert set(got) == {"ziglang", "libclang"}
    assert all(v and v[0].isdigit() for v in got.values())


def test_constants_py_is_up_to_date(tmp_path: Path) -> None:
    for name, want in pins():
        try:
            have = version(name)
        except PackageNotFoundError:
            pytest.skip(f"the regeneration package {name}=={want} is not installed "
                        f"(pip install '.[regen]')")
        if have != want:
            pytest.skip(f"{name} {have} is installed, but constants.py is generated "
                        f"with {name}=={want} (pip install '.[regen]')")
    out = tmp_path / "constants.py"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_constants.py"),
         "--output", str(out), "--doc-from", str(CONSTANTS)],
        check=True, cwd=ROOT,
    )
    committed = CONSTANTS.read_text()
    regenerated = out.read_text()
    if committed != regenerated:
        diff = "".join(list(difflib.unified_diff(
            committed.splitlines(keepends=True), regenerated.splitlines(keepends=True),
            "src/perfsys/constants.py", "regenerated"))[:60])
        pytest.fail("src/perfsys/constants.py is out of date with its generator; "
                    "run `tools/regenerate.sh` and commit the result.\n" + diff)


def test_regeneration_is_deterministic(tmp_path: Path) -> None:
    """Two runs, in different directories, give the same bytes."""
    try:
        import clang.cindex  # noqa: F401
        import ziglang  # noqa: F401
    except ImportError:
        pytest.skip("the regeneration packages are not installed (pip install '.[regen]')")
    texts = []
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        out = tmp_path / sub / "constants.py"
        subprocess.run(
            [sys.executable, str(ROOT / "tools" / "gen_constants.py"),
             "--output", str(out), "--doc-from", str(CONSTANTS)],
            check=True, cwd=tmp_path / sub,
        )
        texts.append(out.read_text())
    assert texts[0] == texts[1]
    assert str(tmp_path) not in texts[0] and str(ROOT) not in texts[0]
    assert "/site-packages/" not in texts[0]
