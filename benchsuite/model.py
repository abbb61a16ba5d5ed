"""DLRM: bottom MLP over dense features, dot interaction with the embeddings, top MLP.

The embedding is whatever module the method built. A ``per_feature`` embedding gives one vector
per categorical feature and the model takes their pairwise dot products (no self-terms) plus the
dense vector, as facebookresearch/dlrm does; a ``pooled`` embedding gives one vector per sample
that is concatenated with the dense vector (MEM-REC style).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn


def mlp(sizes: Sequence[int], *, last_activation: bool) -> nn.Sequential:
    """Linear layers with ReLU between, initialised as in the DLRM reference."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        linear = nn.Linear(n_in, n_out)
        with torch.no_grad():
            linear.weight.normal_(0.0, math.sqrt(2.0 / (n_in + n_out)))
            linear.bias.normal_(0.0, math.sqrt(1.0 / n_out))
        layers.append(linear)
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    """The model every method is measured in; returns click logits ``[B]``."""

    def __init__(
        self,
        embedding: nn.Module,
        *,
        num_dense: int,
        num_features: int,
        dim: int,
        bottom_mlp: Sequence[int],
        top_mlp: Sequence[int],
        output: str = "per_feature",
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.output = output
        self.has_dense = num_dense > 0
        self.bottom = (
            mlp([num_dense, *bottom_mlp, dim], last_activation=True) if num_dense else None
        )
        if output == "per_feature":
            vectors = num_features + (1 if self.has_dense else 0)
            rows, cols = torch.tril_indices(vectors, vectors, offset=-1)
            self.register_buffer("_pairs_row", rows, persistent=False)
            self.register_buffer("_pairs_col", cols, persistent=False)
            top_in = rows.numel() + (dim if self.has_dense else 0)
        elif output == "pooled":
            pooled = getattr(embedding, "out_features", None)
            if not isinstance(pooled, int):
                raise TypeError("a pooled embedding module must set an int `out_features`")
            top_in = pooled + (dim if self.has_dense else 0)
        else:
            raise ValueError(f"unknown embedding output {output!r}")
        self.top = mlp([top_in, *top_mlp, 1], last_activation=False)

    def forward(self, dense: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        x = self.bottom(dense) if self.bottom is not None else None
        emb = self.embedding(ids)
        if self.output == "pooled":
            z = emb if x is None else torch.cat([x, emb], dim=1)
        else:
            vectors = emb if x is None else torch.cat([x.unsqueeze(1), emb], dim=1)
            gram = torch.bmm(vectors, vectors.transpose(1, 2))
            pairs = gram[:, self._pairs_row, self._pairs_col]
            z = pairs if x is None else torch.cat([x, pairs], dim=1)
        return self.top(z).squeeze(1)
