"""``python -m benchmarks [name ...]``: run every ``bench_*.py`` section in turn
(or only those named, e.g. ``tokens``), each printing its own table."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks.harness import machine_line


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )
    chosen = argv or names
    unknown = set(chosen) - set(names)
    if unknown:
        print(f"unknown sections {sorted(unknown)}; known: {names}", file=sys.stderr)
        return 2
    print(machine_line())
    for name in chosen:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        if hasattr(module, "run"):
            module.run()
        else:
            print(f"\n({name}: run by hand, see benchmarks/bench_{name}.py)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
