"""DLRM shapes: dot interaction of per-feature vectors, or a pooled vector concatenated."""

import torch
from torch import nn

from benchsuite.model import DLRM


class Pooled(nn.Module):
    out_features = 5

    def forward(self, ids):
        return torch.ones(ids.shape[0], 5)


def test_dot_interaction_feeds_pairs_without_self_terms_plus_dense():
    model = DLRM(
        nn.Embedding(100, 16), num_dense=13, num_features=26, dim=16, bottom_mlp=[32], top_mlp=[8]
    )
    assert model.top[0].in_features == 16 + 27 * 26 // 2  # 367, as in the DLRM reference
    out = model(torch.rand(4, 13), torch.randint(0, 100, (4, 26)))
    assert out.shape == (4,)


def test_model_without_dense_features_has_no_bottom_mlp():
    model = DLRM(
        nn.Embedding(10, 4), num_dense=0, num_features=3, dim=4, bottom_mlp=[], top_mlp=[8]
    )
    assert model.bottom is None and model.top[0].in_features == 3
    assert model(torch.zeros(2, 0), torch.zeros(2, 3, dtype=torch.long)).shape == (2,)


def test_pooled_embedding_is_concatenated_with_dense_vector():
    model = DLRM(
        Pooled(),
        num_dense=13,
        num_features=26,
        dim=8,
        bottom_mlp=[16],
        top_mlp=[4],
        output="pooled",
    )
    assert model.top[0].in_features == 8 + 5
    assert model(torch.rand(3, 13), torch.zeros(3, 26, dtype=torch.long)).shape == (3,)
