"""Shapes of the real Criteo datasets that the synthetic generator imitates.

Cardinalities are the published per-feature table sizes; missing rates and the dense features'
distributions were measured on the first 900 rows of Criteo Kaggle ``train.txt`` (the 1TB logs'
public sample has a different column order, so the 1TB profile reuses the Kaggle rates).
"""

from __future__ import annotations

from dataclasses import dataclass

NUM_DENSE = 13
NUM_CATEGORICAL = 26

# Criteo Kaggle (Display Advertising Challenge): distinct values per feature, C1..C26.
KAGGLE_CARDINALITIES = (
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
)  # fmt: skip

# Criteo 1TB with MLPerf DLRM v1's cap of 40M rows per feature (id % 40,000,000).
TB_CARDINALITIES = (
    39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10,
    2208, 11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36,
)  # fmt: skip

# Share of empty fields per categorical feature C1..C26 (Kaggle sample, rounded).
CATEGORICAL_MISSING = (
    0.0, 0.0, 0.033, 0.033, 0.0, 0.122, 0.0, 0.0, 0.0, 0.0, 0.0, 0.033, 0.0,
    0.0, 0.0, 0.033, 0.0, 0.0, 0.50, 0.50, 0.033, 0.81, 0.0, 0.033, 0.50, 0.50,
)  # fmt: skip

# Share of empty fields per dense feature I1..I13 (Kaggle sample, rounded).
DENSE_MISSING = (0.46, 0.0, 0.23, 0.21, 0.038, 0.25, 0.038, 0.0, 0.038, 0.46, 0.038, 0.77, 0.21)

# Dense values are log(1 + floor(exp(X))) with X logistic of this mean and std: a count-like draw,
# transformed the way DLRM preprocessing transforms Criteo's counts. Mean and std follow the
# sample's log1p values.
DENSE_LOG_MEAN = (0.8, 2.1, 2.2, 1.7, 7.3, 3.6, 1.5, 2.1, 3.7, 0.3, 0.8, 0.3, 1.9)
DENSE_LOG_STD = (1.0, 2.2, 1.3, 1.0, 2.8, 1.8, 1.4, 1.2, 1.7, 0.6, 0.8, 0.8, 1.1)


@dataclass(frozen=True)
class Profile:
    """The published shape of one dataset: table sizes, click rate and missing rates."""

    name: str
    cardinalities: tuple[int, ...]
    ctr: float
    categorical_missing: tuple[float, ...] = CATEGORICAL_MISSING
    dense_missing: tuple[float, ...] = DENSE_MISSING
    dense_log_mean: tuple[float, ...] = DENSE_LOG_MEAN
    dense_log_std: tuple[float, ...] = DENSE_LOG_STD


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("criteo-kaggle", KAGGLE_CARDINALITIES, ctr=0.25),
        Profile("criteo-tb", TB_CARDINALITIES, ctr=0.03),
    )
}
