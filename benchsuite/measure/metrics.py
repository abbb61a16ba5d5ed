"""Exact quality metrics: ROC AUC with ties averaged, and log loss.

Both match scikit-learn (``roc_auc_score``, ``log_loss``) and are vectorised torch, so a split of
millions of predictions costs one sort.
"""

from __future__ import annotations

import torch

from benchsuite.api import BenchsuiteError

_EPS = 1e-7


def roc_auc(labels: torch.Tensor, scores: torch.Tensor) -> float:
    """Rank-based AUC (Mann-Whitney U), tied scores sharing the average of their ranks."""
    labels = labels.reshape(-1).double()
    scores = scores.reshape(-1).double()
    if labels.numel() != scores.numel():
        raise BenchsuiteError(f"AUC: {labels.numel()} labels but {scores.numel()} scores")
    n_pos = float(labels.sum())
    n_neg = labels.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        raise BenchsuiteError("AUC is undefined when the labels hold only one class")
    sorted_scores, order = torch.sort(scores)
    _, counts = torch.unique_consecutive(sorted_scores, return_counts=True)
    ends = torch.cumsum(counts, 0).double()  # 1-based rank of each tie group's last member
    avg_rank = ends - (counts.double() - 1) / 2
    ranks = torch.repeat_interleave(avg_rank, counts)
    pos_rank_sum = float((ranks * labels[order]).sum())
    return (pos_rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def log_loss(labels: torch.Tensor, probs: torch.Tensor) -> float:
    """Mean binary cross-entropy of probabilities, clipped away from 0 and 1."""
    labels = labels.reshape(-1).double()
    p = probs.reshape(-1).double().clamp(_EPS, 1 - _EPS)
    return float(-(labels * p.log() + (1 - labels) * (1 - p).log()).mean())
