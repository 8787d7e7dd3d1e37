"""import perfsys stays cheap: the extension and nothing else until a generated name is used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import perfsys

# The directory holding the perfsys under test (a checkout's src/ or site-packages).
SITE = str(Path(perfsys.__file__).resolve().parent.parent)


def _fresh(code: str) -> object:
    """What ``code`` prints (as JSON) in a fresh interpreter without site, seeing only SITE."""
    out = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {SITE!r})\n{code}"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    return json.loads(out)


def test_import_loads_only_perfsys_modules() -> None:
    new = _fresh(
        "import json; before = set(sys.modules)\n"
        "import perfsys\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    assert isinstance(new, list)
    assert "perfsys._perfsys" in new
    assert "ctypes" not in new and "_ctypes" not in new
    assert "perfsys.constants" not in new
    assert [m for m in new if m != "perfsys" and not m.startswith("perfsys.")] == []


def test_every_public_name_resolves_lazily() -> None:
    result = _fresh(
        "import json, perfsys\n"
        "names = {n: type(getattr(perfsys, n)).__name__ for n in perfsys.__all__}\n"
        "from perfsys import constants\n"
        "same = all(getattr(perfsys, n) is getattr(constants, n)\n"
        "           for n in perfsys._FROM_CONSTANTS)\n"
        "print(json.dumps([names, same, 'ctypes' in sys.modules, sorted(dir(perfsys))]))"
    )
    assert isinstance(result, list)
    names, same, ctypes_loaded, listed = result
    assert sorted(names) == sorted(perfsys.__all__)
    assert same is True and ctypes_loaded is True
    assert set(perfsys.__all__) <= set(listed)
    assert names["constants"] == "module"
    assert names["HEADERS_VERSION"] == "tuple"
    assert names["perf_event_attr"] == "PyCStructType"


def test_star_import_and_missing_names() -> None:
    result = _fresh(
        "import json\n"
        "ns = {}\n"
        "exec('from perfsys import *', ns)\n"
        "import perfsys\n"
        "try:\n"
        "    perfsys.no_such_name\n"
        "    missing = None\n"
        "except AttributeError as e:\n"
        "    missing = str(e)\n"
        "print(json.dumps([sorted(k for k in ns if k != '__builtins__'), missing]))"
    )
    assert isinstance(result, list)
    star, missing = result
    assert sorted(star) == sorted(perfsys.__all__)
    assert missing == "module 'perfsys' has no attribute 'no_such_name'"


def test_attr_is_the_generated_struct() -> None:
    from perfsys import constants

    assert perfsys.perf_event_attr is constants.perf_event_attr
    assert perfsys.constants is constants
    assert perfsys.HEADERS_VERSION == constants.HEADERS_VERSION
