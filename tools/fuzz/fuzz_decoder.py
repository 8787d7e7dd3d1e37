"""Fuzz the record decoder: arbitrary attrs, then arbitrary record bytes.

    tools/fuzz/run.sh decoder [libFuzzer options, e.g. -max_total_time=60 -runs=N]

Each input builds a Decoder (one attr, or several keyed by id) and decodes the rest of
the input as one record (``decode``) and as a stream of records (``decode_all``). Bad
input may raise only the errors in ``common.EXPECTED``; a crash, a sanitizer report or
any other exception is a finding.
"""

from __future__ import annotations

import sys

import atheris
from common import EXPECTED, decoder, load, records


def test_one(data: bytes) -> None:
    load()
    fdp = atheris.FuzzedDataProvider(data)
    d = decoder(fdp)
    if d is None:
        return
    body = records(fdp, 1 << 16)
    for call in (d.decode, d.decode_all):
        try:
            out = call(body)
        except EXPECTED:
            continue
        repr(out)   # every field made, as a reader would


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
