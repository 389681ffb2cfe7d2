"""The soak benchmark (benchmarks/bench_soak.py), shortened to a few seconds:
it starts ``serve``, every kind of request gets the answer it expects, and the
memory figures come out. Its ten minutes are run by hand, never here."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_soak
from benchmarks.soak_driver import KINDS

pytestmark = pytest.mark.slow


def test_a_short_soak_of_serve_answers_every_request_as_expected(monkeypatch, capsys):
    for name, value in (
        ("SECONDS", 4.0),
        ("RATE", 100.0),
        ("USERS", 300),
        ("WARMUP_SECONDS", 2.0),
        ("SAMPLE_SECONDS", 0.5),
    ):
        monkeypatch.setattr(bench_soak, name, value)

    bench_soak.run()

    out = capsys.readouterr().out
    answered = dict(re.findall(r"^  (\w[\w ]*?) +([\d,]+) \(0\)$", out, re.MULTILINE))
    assert set(answered) == set(KINDS) - {"login"} or set(answered) == set(KINDS)
    assert sum(int(n.replace(",", "")) for n in answered.values()) == 400
    # The figures; in four seconds the growth proves nothing either way.
    assert re.search(r"MiB at 2 s -> [\d.]+ MiB at 4 s: [+-][\d.]+ MiB", out)
    assert "; 0 unexpected answers)" in out
