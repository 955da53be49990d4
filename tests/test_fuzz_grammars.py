"""10,000 generated outputs per action grammar: zero exceptions, every result a valid action or a failure."""

import numpy as np
import pytest

from envs import bandit_text as bt
from tests.fuzzing import fuzz_texts

N = 10_000


@pytest.mark.parametrize("code", ["BNSN0", "ANSN0"])
def test_fuzz_bandit_choice(code):
    d = bt.Design(code)
    names = bt.arm_names(d.scenario, 5)
    ok = fail = 0
    for text in fuzz_texts(names + [f"I choose {n}" for n in names], N, seed=1):
        r = bt.parse_answer(text, d, 5)
        if r.ok:
            assert sorted(r.probs) == [0, 0, 0, 0, 1]
            ok += 1
        else:
            assert isinstance(r.error, str) and r.error
            fail += 1
    assert ok + fail == N and ok > 0 and fail > 0


def test_fuzz_bandit_distribution():
    d = bt.Design("BSSND")
    valid = ["blue:0.2,green:0.2,red:0.2,yellow:0.2,purple:0.2", "blue:1.00,green:0,red:0,yellow:0,purple:0",
             "blue:0.05,green:0.9,red:0.05,yellow:0,purple:0"]
    ok = 0
    for text in fuzz_texts(valid, N, seed=2):
        r = bt.parse_answer(text, d, 5)
        assert (r.probs is None) != (r.error is None)
        if r.ok:
            p = np.asarray(r.probs)
            assert p.shape == (5,) and (p >= 0).all() and abs(p.sum() - 1) < 1e-9
            ok += 1
    assert 0 < ok < N
