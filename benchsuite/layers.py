"""Building blocks for method plugins (public API): tables that live in one weight.

Keeping all features' rows in one weight with per-feature offsets costs the same memory as
separate tables and needs one lookup kernel per batch instead of one per feature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def check_ids(ids: torch.Tensor, cardinalities: torch.Tensor) -> None:
    """Raise IndexError naming the feature and the id when an id is outside ``[0, n_f)``.

    Methods that hash or divide ids would otherwise wrap a bad id silently into some row.
    """
    lo, hi = torch.aminmax(ids, dim=0)  # one pass over the batch; the rest is per feature
    if bool(((lo < 0) | (hi >= cardinalities)).any()):
        bad = (ids < 0) | (ids >= cardinalities)
        row, feature = (int(i) for i in bad.nonzero()[0])
        n = int(cardinalities[feature])
        raise IndexError(
            f"id {int(ids[row, feature])} of feature {feature} is out of range: "
            f"its table has {n} ids (valid: 0..{n - 1})"
        )


#: How a shared array's gradient is represented: see :func:`gather_blocks`.
GRADIENT_MODES = ("auto", "sparse", "dense")
#: ``gradient="auto"`` is dense while the array holds at most this many times the floats a
#: batch reads: below that, zeroing and updating the whole array costs less than the
#: optimizer's coalescing of a sparse gradient (CPU, batch 2048, dim 16, SGD and Adagrad:
#: dense won at 10x the floats read, sparse at 40x).
DENSE_FACTOR = 16


class _BlockGather(torch.autograd.Function):
    """``out[..., c, :] = M[start[..., c] : start[..., c] + Z]``; backward scatter-adds into M."""

    @staticmethod
    def forward(ctx, array: torch.Tensor, starts: torch.Tensor, block: int, gradient: str):
        ctx.save_for_backward(starts)
        ctx.block, ctx.gradient, ctx.size = block, gradient, array.shape[0]
        if block == 1:
            return array.index_select(0, starts.reshape(-1)).view(starts.shape)
        # Rows of the unfolded view are the Z-wide windows starting at each position.
        return F.embedding(starts, array.unfold(0, block, 1)).flatten(-2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (starts,) = ctx.saved_tensors
        positions = starts.unsqueeze(-1) + torch.arange(ctx.block, device=starts.device)
        positions, values = positions.reshape(-1), grad.reshape(-1)
        if sparse_gradient(ctx.gradient, ctx.size, positions.numel()):
            grad_array = torch.sparse_coo_tensor(
                positions.unsqueeze(0),
                values,
                (ctx.size,),
                is_coalesced=False,
                check_invariants=False,
            )
        else:
            grad_array = values.new_zeros(ctx.size).index_add_(0, positions, values)
        return grad_array, None, None, None


def gather_blocks(
    array: torch.Tensor, starts: torch.Tensor, block: int, gradient: str = "auto"
) -> torch.Tensor:
    """Read ``block`` contiguous floats of a 1-D ``array`` at each of ``starts`` ``[..., C]``,
    giving ``[..., C * block]``; the backward scatter-adds into the array.

    ``gradient`` is ``"sparse"`` (a COO vector over the floats read, duplicates summed by the
    optimizer), ``"dense"`` (``index_add_`` into a zero vector of the array's size) or
    ``"auto"``: dense when the array is at most :data:`DENSE_FACTOR` times the floats read.
    """
    return _BlockGather.apply(array, starts, block, gradient)


def sparse_gradient(gradient: str, size: int, reads: int) -> bool:
    """Whether a backward reading ``reads`` floats of an array of ``size`` is sparse."""
    if gradient == "auto":
        return size > DENSE_FACTOR * reads
    return gradient == "sparse"


class ConcatenatedTables(nn.Module):
    """Per-feature tables of ``rows[f]`` rows, back to back in one ``[sum(rows), dim]`` weight.

    ``forward`` takes row indices ``[B, T]`` (feature f's index in ``[0, rows[f])``) and returns
    ``[B, T, dim]``. Each table is initialised ``U(±sqrt(1/rows[f]))`` as in the DLRM reference.
    With ``sparse=True`` the weight gets sparse gradients (SGD and Adagrad update only the rows
    a batch touched).
    """

    def __init__(
        self,
        rows: Sequence[int],
        dim: int,
        *,
        sparse: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        sizes = torch.tensor(list(rows), dtype=torch.int64)
        offsets = torch.cumsum(sizes, 0) - sizes
        self.register_buffer("offsets", offsets)
        self.register_buffer("sizes", sizes)
        self.sparse = sparse
        self.weight = nn.Parameter(torch.empty(int(sizes.sum()), dim))
        with torch.no_grad():
            for start, n in zip(offsets.tolist(), sizes.tolist(), strict=True):
                bound = math.sqrt(1.0 / n)
                self.weight[start : start + n].uniform_(-bound, bound, generator=generator)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        check_ids(rows, self.sizes)
        return self.lookup(rows)

    def lookup(self, rows: torch.Tensor, *, reuse: bool = False) -> torch.Tensor:
        """Look up rows known to be in range; ``reuse=True`` lets it overwrite ``rows``."""
        rows = rows.add_(self.offsets) if reuse else rows + self.offsets
        return F.embedding(rows, self.weight, sparse=self.sparse)
