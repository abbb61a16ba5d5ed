"""Made-up click logs in the real files' formats, for tests and benchmarks of preparation.

The values are random (power-law categories, count-like integers, missing fields at the rates
of the synthetic profiles); only the layout is real. Real rows are never shipped with the project.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from benchsuite_plugins.datasets.profiles import CATEGORICAL_MISSING, DENSE_MISSING

# Distinct values per Criteo feature are drawn from pools of these sizes (scaled down).
_POOLS = (
    1460, 583, 100_000, 50_000, 305, 24, 12517, 633, 3, 93145, 5683, 80_000, 3194,
    27, 14992, 60_000, 10, 5652, 2173, 4, 70_000, 18, 15, 28618, 105, 14257,
)  # fmt: skip


def _column(values: np.ndarray, missing: np.ndarray, fmt: str) -> np.ndarray:
    text = np.char.mod(fmt, values).astype(object)
    text[missing] = ""
    return text


def criteo_lines(rows: int, seed: int = 0, *, ctr: float = 0.25) -> list[str]:
    """``rows`` lines of Criteo's TSV layout (label, I1..I13, C1..C26), without newlines."""
    rng = np.random.default_rng(seed)
    columns = [(rng.random(rows) < ctr).astype(np.int64).astype(str).astype(object)]
    for j in range(13):
        values = np.floor(np.expm1(rng.gamma(1.5, 1.5, rows))).astype(np.int64)
        if j == 1:
            values -= 3  # I2 holds small negative numbers in the real logs
        columns.append(_column(values, rng.random(rows) < DENSE_MISSING[j], "%d"))
    for j in range(26):
        rank = np.minimum(rng.zipf(1.3, rows), _POOLS[j]) - 1
        raw = (rank * 2654435761 + j * 40503) % (1 << 32)
        columns.append(_column(raw, rng.random(rows) < CATEGORICAL_MISSING[j], "%08x"))
    return ["\t".join(fields) for fields in zip(*columns, strict=True)]


def avazu_lines(rows: int, seed: int = 0) -> list[str]:
    """``rows`` lines of Avazu's CSV layout (id, click, hour, 21 more categories)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 2**63, rows, dtype=np.int64).astype(str).astype(object)
    click = (rng.random(rows) < 0.17).astype(np.int64).astype(str).astype(object)
    hour = (14102100 + rng.integers(0, 10, rows) * 100 + rng.integers(0, 24, rows)).astype(str)
    columns = [ids, click, hour.astype(object)]
    pools = (7, 7, 4737, 7745, 26, 8552, 559, 36, 20000, 40000, 8251, 5, 4,
             2626, 8, 9, 435, 4, 68, 172, 60)  # fmt: skip
    for j, pool in enumerate(pools):
        rank = np.minimum(rng.zipf(1.4, rows), pool) - 1
        if j in (2, 3, 5, 6, 8, 9, 10):  # site/app/device ids are hex strings
            columns.append(np.char.mod("%08x", (rank * 2654435761 + j) % (1 << 32)).astype(object))
        else:
            columns.append((rank + 1000 * j).astype(str).astype(object))
    return [",".join(fields) for fields in zip(*columns, strict=True)]


AVAZU_HEADER = (
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
    "app_category,device_id,device_ip,device_model,device_type,device_conn_type,"
    "C14,C15,C16,C17,C18,C19,C20,C21"
)


def write_lines(path: Path, lines: list[str], *, header: str | None = None,
                final_newline: bool = True) -> Path:  # fmt: skip
    """Write lines (gzip when ``path`` ends in .gz), as the real files are written."""
    text = "\n".join(([header] if header else []) + lines) + ("\n" if final_newline else "")
    data = text.encode()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data, compresslevel=1))
    else:
        path.write_bytes(data)
    return path
