"""Memory accounting from tensors: what a module or optimizer really keeps.

Bytes are counted per unique storage, so tensors that share memory (tied weights, views) are
counted once, and buffers (hash seeds, id maps) are counted like parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    seen: dict[tuple[str, int], int] = {}
    for t in tensors:
        parts = [t._indices(), t._values()] if t.is_sparse else [t]
        for p in parts:
            storage = p.untyped_storage()
            seen[(str(p.device), storage.data_ptr())] = storage.nbytes()
    return sum(seen.values())


def module_bytes(module: nn.Module) -> int:
    """Bytes of a module's parameters and buffers (persistent or not)."""
    return storage_bytes([*module.parameters(), *module.buffers()])


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the optimizer's per-parameter state (Adagrad's sums, momentum buffers)."""
    return storage_bytes(
        v
        for state in optimizer.state.values()
        for v in state.values()
        if isinstance(v, torch.Tensor)
    )
