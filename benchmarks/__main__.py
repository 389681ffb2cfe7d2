"""``python -m benchmarks [name ...] [--save FILE] [--compare FILE]``: run every
``bench_*.py`` section in turn (or only those named, e.g. ``tokens``), each
printing its own table. The soak (ten minutes) runs only when named.

``--save FILE`` writes the figures the sections recorded (JSON: the machine,
then each figure with its kind). ``--compare FILE`` sets this run's ratios
against a saved run's and prints those that moved by more than 15%
(``--threshold`` to change it), up or down; absolute times (us, requests/s)
are machine-dependent and left out of the comparison.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from benchmarks.harness import RECORDED, machine_line

THRESHOLD = 0.15
# Sections too long for a run of everything: they run when named.
BY_NAME_ONLY = {"soak": "ten minutes of `serve` under load"}


def compare(saved: dict[str, object], threshold: float) -> list[str]:
    """The lines to print: each ratio that moved by more than ``threshold``."""
    figures = saved.get("figures")
    if not isinstance(figures, dict):
        raise ValueError("not a file written by --save (no figures)")
    lines: list[str] = []
    common = 0
    for name, (value, kind) in RECORDED.items():
        old = figures.get(name)
        if kind != "ratio" or not isinstance(old, dict) or not old.get("value"):
            continue
        common += 1
        change = value / float(old["value"]) - 1
        if abs(change) > threshold:
            direction = "up" if change > 0 else "down"
            lines.append(
                f"  {name}: {float(old['value']):.3f} -> {value:.3f} "
                f"({direction} {abs(change):.0%})"
            )
    header = (
        f"\n## compared with {saved.get('saved_at', '?')} ({saved.get('machine', '?')}): "
        f"{len(lines)} of {common} ratios moved by more than {threshold:.0%}"
    )
    return [header, *lines]


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument(
        "sections",
        nargs="*",
        help=f"any of {names}; if none, all but {sorted(BY_NAME_ONLY)}",
    )
    parser.add_argument("--save", type=Path, help="write this run's figures here")
    parser.add_argument("--compare", type=Path, help="a file written by --save")
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    args = parser.parse_args(argv)
    chosen = args.sections or [name for name in names if name not in BY_NAME_ONLY]
    unknown = set(chosen) - set(names)
    if unknown:
        print(f"unknown sections {sorted(unknown)}; known: {names}", file=sys.stderr)
        return 2
    saved = None
    if args.compare is not None:  # read first: a bad file fails before the run
        saved = json.loads(args.compare.read_text(encoding="utf-8"))
    machine = machine_line()
    print(machine)
    for name in chosen:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        if hasattr(module, "run"):
            module.run()
        else:
            print(f"\n({name}: run by hand, see benchmarks/bench_{name}.py)")
    if not args.sections:
        for name, what in BY_NAME_ONLY.items():
            print(f"\n({name}: {what}; run it by name: python -m benchmarks {name})")
    if saved is not None:
        print("\n".join(compare(saved, args.threshold)))
    if args.save is not None:
        args.save.write_text(
            json.dumps(
                {
                    "machine": machine,
                    "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "sections": chosen,
                    "figures": {
                        name: {"value": value, "kind": kind}
                        for name, (value, kind) in RECORDED.items()
                    },
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"\nsaved {len(RECORDED)} figures to {args.save}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
