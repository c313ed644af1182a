"""runtime.memory: the budget is a no-op without CUDA; work that runs out of memory under the budget
runs again without it, said once."""

from __future__ import annotations

import logging

from _media import needs_extra

torch = needs_extra("neural", "torch")  # a light install skips this module

from livehead.runtime.memory import memory_budget, within_budget


def test_no_cuda_no_budget():
    with memory_budget(3.0):
        assert torch.ones(2).sum() == 2
    assert within_budget(lambda: 7, 3.0, "nothing") == 7


def test_out_of_memory_under_the_budget_runs_again_without_it(caplog):
    calls = []

    def step():
        calls.append(len(calls))
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return "done"

    with caplog.at_level(logging.WARNING, logger="livehead.runtime"):
        assert within_budget(step, 3.0, "the first test step") == "done"
        calls.clear()
        assert within_budget(step, 3.0, "the first test step") == "done"
    assert len(calls) == 2
    warnings = [r for r in caplog.records if "budget" in r.getMessage()]
    assert len(warnings) == 1 and "Tried to allocate" in warnings[0].getMessage()
