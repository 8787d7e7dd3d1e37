"""Run every benchmark, one after the other: python3 benchmarks/run.py [--quick]

Each benchmark compares perfsys with the alternatives side by side in one run and prints
its own table; see the README's "Performance" section for what each measures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = {
    "bench_read.py": ["--iterations", "50000", "--repeat", "3"],
    "bench_decode.py": ["--seconds", "0.5"],
    "bench_tracefs.py": ["--seconds", "0.3"],
    "bench_columns.py": ["--seconds", "0.5"],
    "bench_import.py": ["--runs", "10"],
    "bench_symbols.py": ["--lookups", "50000"],
}


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    status = 0
    for name in QUICK:
        print(f"== {name}", flush=True)
        args = QUICK[name] if quick else []
        status |= subprocess.run([sys.executable, str(HERE / name), *args], check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
