"""Exact AUC and log loss agree with scikit-learn."""

import pytest
import torch
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from benchsuite.api import BenchsuiteError
from benchsuite.measure.metrics import log_loss, roc_auc


def test_auc_matches_sklearn_on_random_scores():
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(5000, generator=g) < 0.3).float()
    s = torch.rand(5000, generator=g) + 0.3 * y
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y.numpy(), s.numpy()), abs=1e-12)


def test_auc_averages_ties_like_sklearn():
    g = torch.Generator().manual_seed(1)
    y = (torch.rand(4000, generator=g) < 0.4).float()
    s = torch.randint(0, 5, (4000,), generator=g).float() + y * (
        torch.rand(4000, generator=g) < 0.5
    )
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y.numpy(), s.numpy()), abs=1e-12)


def test_all_tied_scores_give_one_half():
    assert roc_auc(torch.tensor([0.0, 1.0, 1.0, 0.0]), torch.ones(4)) == 0.5


def test_auc_with_one_class_is_an_error():
    with pytest.raises(BenchsuiteError, match="only one class"):
        roc_auc(torch.zeros(10), torch.rand(10))


def test_log_loss_matches_sklearn():
    g = torch.Generator().manual_seed(2)
    y = (torch.rand(1000, generator=g) < 0.25).float()
    p = torch.rand(1000, generator=g).clamp(0.01, 0.99)
    assert log_loss(y, p) == pytest.approx(
        sk_log_loss(y.double().numpy(), p.double().numpy()), rel=1e-9
    )
