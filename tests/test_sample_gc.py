"""SampleRecord and the garbage collector: it behaves as a tuple does."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from support import ENV

import perfsys

N = len(perfsys.SampleRecord._fields)


def test_a_cycle_through_a_record_is_collected() -> None:
    freed = []

    class Marker:
        def __del__(self) -> None:
            freed.append(True)

    box: list[object] = [Marker()]
    r = perfsys.SampleRecord([box] + [None] * (N - 1))
    box.append(r)
    assert gc.is_tracked(r)
    del box, r
    gc.collect()
    assert freed == [True]


def test_records_of_the_decoder_are_not_tracked() -> None:
    d = perfsys.Decoder(perfsys.perf_event_attr(sample_type=1))
    r = d.decode(bytes([9, 0, 0, 0, 0, 0, 16, 0]) + bytes(8))
    assert isinstance(r, perfsys.SampleRecord) and not gc.is_tracked(r)
    assert not gc.is_tracked(perfsys.SampleRecord(tuple(r)))   # ints and Nones only...
    assert gc.is_tracked(perfsys.SampleRecord([[]] + [None] * (N - 1)))   # ...a list: tracked


def test_freeing_a_chain_of_a_million_nested_records() -> None:
    # In a child: a C stack overflow would kill it with SIGSEGV.
    code = textwrap.dedent(f"""
        import perfsys
        r = None
        for _ in range(10**6):
            r = perfsys.SampleRecord([r] + [None] * {N - 1})
        del r
        print("freed")
    """)
    p = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0 and p.stdout == "freed\n", (p.returncode, p.stderr[-2000:])
