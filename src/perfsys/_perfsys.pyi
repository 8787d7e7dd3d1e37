"""Stubs for perfsys._perfsys, the C extension."""

from typing import Final, NamedTuple

# -- decode (shared) --

class RawRecord(NamedTuple):
    """A record as the kernel wrote it."""

    type: int
    misc: int
    data: bytes

_abi: Final[dict[str, int]]

# -- core --

# -- decode --

# -- ring --
