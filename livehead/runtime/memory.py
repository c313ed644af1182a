"""A GPU memory budget for the moments cuDNN picks its convolution algorithms.

With ``cudnn.benchmark`` PyTorch times the candidate algorithms of each convolution shape once and
keeps the fastest; some candidates want workspaces of many GB (measured: FOMM fp32 peaked at 17 GB
on an H200 against 1.3 GB in fp16). Candidates whose workspace cannot be allocated are skipped, so
running the first frames under a memory budget (``set_per_process_memory_fraction``) makes the
search keep within it, and the choice, cached per shape, keeps within it afterwards.

A budget that is too small for the activations themselves raises an out-of-memory error; the work
is then done again without the budget, and that is logged once.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Callable, TypeVar

log = logging.getLogger("livehead.runtime")

__all__ = ["memory_budget", "within_budget"]

T = TypeVar("T")


@contextlib.contextmanager
def memory_budget(gb: float | None):
    """Inside, PyTorch's CUDA allocator refuses allocations past ``gb`` GiB in all; the previous
    fraction comes back afterwards. Nothing happens without CUDA, without a budget, or on a torch
    that cannot read the current fraction back (``torch.cuda.get_per_process_memory_fraction``)."""
    import torch

    getter = getattr(torch.cuda, "get_per_process_memory_fraction", None)
    if gb is None or getter is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        yield
        return
    previous = getter()
    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    torch.cuda.set_per_process_memory_fraction(min(previous, gb * 2**30 / total))
    try:
        yield
    finally:
        torch.cuda.set_per_process_memory_fraction(previous)


_warned: set[str] = set()


def within_budget(fn: Callable[[], T], gb: float | None, what: str) -> T:
    """``fn()`` under :func:`memory_budget`; if it runs out of memory there, ``fn()`` again without."""
    import torch

    try:
        with memory_budget(gb):
            return fn()
    except torch.cuda.OutOfMemoryError as exc:
        if what not in _warned:
            _warned.add(what)
            log.warning("%s needs more GPU memory than its %.1f GB budget (%s); running it without the budget.",
                        what, gb, str(exc).splitlines()[0])
        torch.cuda.empty_cache()
        return fn()
