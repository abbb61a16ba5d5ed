"""The leaderboard's metric schema: one entry per column, read by every output format.

Each column says what it measures, in what unit, which direction is better and how people read
it, so the markdown, html and LaTeX tables, the csv and json exports, the published site (its
sort order and header tooltips) and ``benchsuite compare`` (which direction is a regression)
cannot disagree about a metric. Adding a column means adding it here and filling it in
:func:`benchsuite.report.leaderboard.leaderboard_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SCHEMA", "Column", "column"]

Better = Literal["higher", "lower"] | None

#: How a value is written for people (the csv and json exports keep the raw number):
#: ``text`` as is; ``count`` whole with thousands separators; ``fixed`` with ``digits``
#: decimals; ``signed`` the same with a sign; ``ratio`` as ``16.0x``; ``significant`` three
#: significant figures for small values, whole numbers for large; ``percent`` as a percentage;
#: ``auc`` as mean ± std; ``target`` a dash where no target applies, "not reached" where seeds
#: ran but none reached it.
Style = Literal[
    "text", "count", "fixed", "signed", "ratio", "significant", "percent", "auc", "target"
]


@dataclass(frozen=True)
class Column:
    """One leaderboard column."""

    name: str
    description: str
    unit: str | None = None
    better: Better = None
    style: Style = "text"
    digits: int = 0
    #: Shown in the tables for people; False where another column already shows it (the AUC's
    #: std beside its mean, the inference batch in the throughput header, energy notes below).
    shown: bool = True
    #: Left out of the tables for people when no row has a value (csv and json keep it).
    optional: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "unit": self.unit,
            "better": self.better,
            "digits": self.digits if self.style in ("fixed", "signed", "ratio") else None,
        }


SCHEMA: tuple[Column, ...] = (
    Column("method", "method label with its parameters"),
    Column("budget", "memory budget: a compression ratio (16x) or a size (64MB)"),
    Column("rank", "position within the budget by mean AUC", better="lower", style="count"),
    Column("seeds", "seeds that finished with status ok", style="count"),
    Column("status", "ok, or each other status with its share of the seeds"),
    Column("AUC", "mean test AUC over the ok seeds, ± sample std", better="higher", style="auc"),
    Column(
        "AUC std",
        "sample standard deviation of the test AUC over the ok seeds",
        style="fixed",
        digits=4,
        shown=False,
    ),
    Column(
        "ΔAUC vs full",
        "mean AUC minus the mean AUC of the uncompressed baseline",
        better="higher",
        style="signed",
        digits=4,
    ),
    Column(
        "gap to Bayes",
        "Bayes-optimal AUC of the synthetic generator minus the test AUC",
        better="lower",
        style="fixed",
        digits=4,
        optional=True,
    ),
    Column("target reached", "seeds that reached the suite's target AUC, of all seeds"),
    Column(
        "samples to target",
        "training samples until validation AUC first reached the target (seeds that did)",
        unit="samples",
        better="lower",
        style="target",
    ),
    Column(
        "seconds to target",
        "training seconds until validation AUC first reached the target (seeds that did)",
        unit="s",
        better="lower",
        style="target",
        digits=1,
    ),
    Column(
        "compression ratio",
        "bytes of the full tables over bytes of the method's embeddings",
        better="higher",
        style="ratio",
        digits=1,
    ),
    Column(
        "embedding MB",
        "bytes of the method's embedding parameters and buffers, in 10^6 bytes",
        unit="MB",
        better="lower",
        style="significant",
    ),
    Column(
        "train samples/s",
        "training throughput, evaluation excluded",
        unit="samples/s",
        better="higher",
        style="fixed",
    ),
    Column(
        "inference samples/s",
        "inference throughput at the largest batch size measured",
        unit="samples/s",
        better="higher",
        style="fixed",
    ),
    Column("inference batch", "batch size of the inference throughput", style="count", shown=False),
    Column(
        "lookup roofline",
        "full-table lookup traffic at the inference throughput over memory bandwidth",
        better="higher",
        style="percent",
        optional=True,
    ),
    Column(
        "statistics s",
        "seconds spent on the data statistics a method asked for",
        unit="s",
        better="lower",
        style="fixed",
        digits=1,
        optional=True,
    ),
    Column(
        "train J/M samples",
        "energy of the training window per million training samples",
        unit="J per 10^6 samples",
        better="lower",
        style="significant",
    ),
    Column(
        "inference J/M samples",
        "energy of the inference window per million samples",
        unit="J per 10^6 samples",
        better="lower",
        style="significant",
    ),
    Column(
        "train average W",
        "average power over the training window",
        unit="W",
        better="lower",
        style="fixed",
        digits=1,
    ),
    Column("energy unmeasured", "why the energy columns are blank", shown=False),
    Column(
        "dominated",
        "the best row with both a higher AUC and embeddings over 1% smaller, if any",
        optional=True,
    ),
    Column("hardware", "where the seeds ran: hardware profile and device"),
)

_BY_NAME = {c.name: c for c in SCHEMA}


def column(name: str) -> Column:
    """The schema entry of a column; a KeyError names the unknown column."""
    return _BY_NAME[name]
