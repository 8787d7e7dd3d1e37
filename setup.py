"""Declares perfsys's one C extension; all metadata lives in pyproject.toml.

tools/build_wheels.py imports EXTENSION from here (run_name other than
"__main__") to cross-compile the same sources with the same flags.
"""

import sysconfig

from setuptools import Extension, setup

# The free-threaded build has no stable ABI: build it against the full API.
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
LIMITED_API = not FREE_THREADED

EXTENSION = Extension(
    "perfsys._perfsys",
    sources=["src/_perfsys.c"],
    depends=["src/_perfsys_abi.h", "src/_perfsys_records.h"],
    define_macros=[("Py_LIMITED_API", "0x030B0000")] if LIMITED_API else [],
    py_limited_api=LIMITED_API,
    extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Werror"],
)

if __name__ == "__main__":
    setup(
        ext_modules=[EXTENSION],
        options={"bdist_wheel": {"py_limited_api": "cp311"}} if LIMITED_API else {},
    )
