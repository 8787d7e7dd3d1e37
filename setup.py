"""Declares perfsys's one C extension; all metadata lives in pyproject.toml."""

import sysconfig

from setuptools import Extension, setup

# The free-threaded build has no stable ABI: build it against the full API.
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
LIMITED_API = not FREE_THREADED

setup(
    ext_modules=[
        Extension(
            "perfsys._perfsys",
            sources=["src/_perfsys.c"],
            depends=["src/_perfsys_abi.h", "src/_perfsys_records.h"],
            define_macros=[("Py_LIMITED_API", "0x030B0000")] if LIMITED_API else [],
            py_limited_api=LIMITED_API,
            extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Werror"],
        )
    ],
    options={"bdist_wheel": {"py_limited_api": "cp311"}} if LIMITED_API else {},
)
