"""The conformance kit: checks any method plugin can run on itself.

``benchsuite check METHOD`` runs them from the command line; a plugin's own pytest suite calls
:func:`assert_conforms`. Each check builds the method on small tables of varied sizes at several
budgets and says, per budget, whether the module keeps the contract the host relies on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from benchsuite.api import (
    NO_SIGNATURE,
    Budget,
    DataStats,
    Infeasible,
    Method,
    TableSpec,
    full_table_bytes,
)
from benchsuite.measure.memory import module_bytes

__all__ = ["CHECK_TABLES", "CheckResult", "assert_conforms", "check_method", "summary_lines"]

#: Tables from a handful of ids (below any compression threshold) to a quarter million.
CHECK_TABLES: tuple[TableSpec, ...] = (
    TableSpec("tiny", 3),
    TableSpec("small", 150),
    TableSpec("medium", 5_000),
    TableSpec("large", 60_000),
    TableSpec("huge", 250_000),
)
CHECK_DIM = 16
CHECK_BUDGETS = ("4x", "16x", "64x")
_BATCH = 64
_SEED = 7


@dataclass(frozen=True)
class CheckResult:
    check: str
    budget: str
    passed: bool
    reason: str = ""

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        where = f" @ {self.budget}" if self.budget else ""
        return f"{mark}  {self.check}{where}" + (f": {self.reason}" if self.reason else "")


class _Failed(Exception):
    """A check's verdict, raised inside the check to stop it with a reason."""


def check_method(
    method: Method,
    *,
    tables: Sequence[TableSpec] = CHECK_TABLES,
    dim: int = CHECK_DIM,
    budgets: Sequence[str] = CHECK_BUDGETS,
    stats: DataStats | None = None,
    devices: Sequence[str] | None = None,
) -> list[CheckResult]:
    """Run every check at every budget; return one result per (check, budget)."""
    stats = stats if stats is not None else synthetic_stats(tables)
    devices = list(devices) if devices is not None else _devices()
    full = full_table_bytes(tables, dim)
    results: list[CheckResult] = []
    built_any = False
    for label in budgets if method.compresses else ("1x",):
        budget = Budget.parse(label).bytes_for(full)
        try:
            module = method.build(tables, dim, budget, stats, _SEED)
        except Infeasible as exc:
            results.append(CheckResult("builds", label, True, f"infeasible (allowed): {exc}"))
            continue
        except Exception as exc:
            results.append(CheckResult("builds", label, False, _describe(exc)))
            continue
        built_any = True
        results.append(CheckResult("builds", label, True))
        context = _Context(method, tables, dim, budget, stats, module)
        for name, check in _CHECKS:
            results.append(_run(name, label, check, context))
        for device in devices:
            results.append(_run(f"runs on {device}", label, _on_device(device), context))
    if not built_any:
        results.append(CheckResult("builds at some budget", "", False, "infeasible at every one"))
    return results


def summary_lines(results: Sequence[CheckResult]) -> list[str]:
    """One line per check: PASS with the budgets it passed at, or FAIL per budget with why."""
    lines: list[str] = []
    for name in dict.fromkeys(r.check for r in results):
        group = [r for r in results if r.check == name]
        failed = [r for r in group if not r.passed]
        notes = [r for r in group if r.passed and r.reason]
        if failed:
            lines += [r.line() for r in failed]
        else:
            budgets = " ".join(r.budget for r in group if r.budget)
            lines.append(f"PASS  {name}" + (f" [{budgets}]" if budgets else ""))
        lines += [f"      {r.budget}: {r.reason}" for r in notes]
    return lines


def assert_conforms(method: Method, **kwargs) -> None:
    """For a plugin's pytest suite: fail with every failed check listed."""
    failed = [r.line() for r in check_method(method, **kwargs) if not r.passed]
    assert not failed, "conformance checks failed:\n" + "\n".join(failed)


def synthetic_stats(
    tables: Sequence[TableSpec], seed: int = 0, *, hashes: int = 16, dim: int = 8
) -> DataStats:
    """Statistics of every kind for the checks, which use no real data.

    Power-law id frequencies; ids in latent groups of about 20, so that signatures (a group's
    shared columns plus per-id noise) and pre-trained embeddings (a group centre plus noise)
    carry structure; ids with a zero count have no signature, as unsampled ids would not.
    """
    rng = np.random.default_rng(seed)
    freqs, sigs, embs = [], [], []
    for t in tables:
        ranks = np.arange(1, t.rows + 1, dtype=np.float64)
        counts = rng.permutation(np.floor(1e6 / ranks**1.6).astype(np.int64))
        groups = rng.integers(0, max(1, t.rows // 20), t.rows)
        group_sig = rng.integers(0, NO_SIGNATURE, (groups.max() + 1, hashes))
        own = rng.integers(0, NO_SIGNATURE, (t.rows, hashes))
        sig = np.where(rng.random((t.rows, hashes)) < 0.7, group_sig[groups], own)
        sig[counts == 0] = NO_SIGNATURE
        centre = rng.normal(0, 1, (groups.max() + 1, dim))
        emb = centre[groups] + 0.1 * rng.normal(0, 1, (t.rows, dim))
        freqs.append(torch.from_numpy(counts))
        sigs.append(torch.from_numpy(sig.astype(np.int32)))
        embs.append(torch.from_numpy(emb.astype(np.float32)))
    return DataStats(frequencies=freqs, signatures=sigs, embeddings=embs)


# -- the checks ----------------------------------------------------------------------------------


@dataclass
class _Context:
    method: Method
    tables: Sequence[TableSpec]
    dim: int
    budget: int
    stats: DataStats
    module: nn.Module

    def ids(self, seed: int = 0) -> torch.Tensor:
        """A batch covering the first and last id of every table."""
        g = torch.Generator().manual_seed(seed)
        cols = [torch.randint(0, t.rows, (_BATCH,), generator=g) for t in self.tables]
        ids = torch.stack(cols, dim=1)
        ids[0] = 0
        ids[1] = torch.tensor([t.rows - 1 for t in self.tables])
        return ids

    def rebuild(self, seed: int) -> nn.Module:
        return self.method.build(self.tables, self.dim, self.budget, self.stats, seed)

    def expected_shape(self) -> tuple[int, ...]:
        if self.method.output == "pooled":
            return (_BATCH, int(getattr(self.module, "out_features", -1)))
        return (_BATCH, len(self.tables), self.dim)


def _check_shape(c: _Context) -> None:
    out = c.module(c.ids())
    if tuple(out.shape) != c.expected_shape():
        raise _Failed(f"output shape {tuple(out.shape)}, expected {c.expected_shape()}")
    if out.dtype != torch.float32:
        raise _Failed(f"output dtype {out.dtype}, expected torch.float32")
    if not torch.isfinite(out).all():
        raise _Failed("output holds NaN or infinite values")


def _check_budget(c: _Context) -> None:
    used = module_bytes(c.module)
    if c.method.compresses and used > c.budget:
        raise _Failed(f"module keeps {used:,} bytes for a budget of {c.budget:,}")


def _check_plan(c: _Context) -> None:
    plan = c.method.plan(c.tables, c.dim, c.budget, c.stats)
    if plan is None:
        return
    used = module_bytes(c.module)
    if plan.total_bytes != used:
        raise _Failed(f"plan() says {plan.total_bytes:,} bytes but the module keeps {used:,}")
    if [t.table for t in plan.tables] != [t.name for t in c.tables]:
        raise _Failed("plan() must list every table once, in order")


def _check_gradients(c: _Context) -> None:
    module = c.rebuild(_SEED)
    out = module(c.ids())
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    if missing:
        raise _Failed(f"no gradient reaches {', '.join(missing)}")
    zero = [n for n, p in module.named_parameters() if p.grad is not None and _all_zero(p.grad)]
    if zero:
        raise _Failed(f"gradient is zero everywhere for {', '.join(zero)}")


def _check_deterministic(c: _Context) -> None:
    a, b = c.rebuild(_SEED), c.rebuild(_SEED)
    sa, sb = a.state_dict(), b.state_dict()
    differing = [k for k in sa if k not in sb or not torch.equal(sa[k], sb[k])]
    if differing:
        raise _Failed(f"two builds with seed {_SEED} differ in {', '.join(differing)}")
    ids = c.ids()
    if not torch.equal(a(ids), b(ids)):
        raise _Failed(f"two builds with seed {_SEED} give different outputs")


def _check_state_dict_round_trip(c: _Context) -> None:
    source, target = c.rebuild(_SEED), c.rebuild(_SEED + 1)
    try:
        target.load_state_dict(copy.deepcopy(source.state_dict()))
    except Exception as exc:
        raise _Failed(f"load_state_dict failed: {_describe(exc)}") from None
    ids = c.ids()
    if not torch.equal(source(ids), target(ids)):
        raise _Failed(
            "a module built with another seed and loaded with this state_dict gives other "
            "outputs: some state lives outside persistent parameters and buffers"
        )


def _check_nothing_hidden(c: _Context) -> None:
    for name, sub in c.module.named_modules():
        for attr, value in vars(sub).items():
            if attr.startswith("_") and attr in ("_parameters", "_buffers", "_modules"):
                continue
            hidden = _hidden_state(value)
            if hidden:
                where = f"{name}.{attr}" if name else attr
                raise _Failed(f"attribute {where!r} holds {hidden} outside parameters/buffers")


def _check_ids_in_range(c: _Context) -> None:
    last = len(c.tables) - 1
    for bad, what in ((c.tables[last].rows, "one past the last id"), (-1, "a negative id")):
        ids = c.ids()
        ids[2, last] = bad
        try:
            c.module(ids)
        except (IndexError, ValueError):
            continue
        except Exception as exc:
            reason = f"{what} raised {_describe(exc)}; expected IndexError or ValueError"
            raise _Failed(reason) from None
        raise _Failed(f"{what} ({bad}) of feature {last} was accepted instead of rejected")


_CHECKS: tuple[tuple[str, Callable[[_Context], None]], ...] = (
    ("output shape and dtype", _check_shape),
    ("bytes within budget", _check_budget),
    ("plan matches module", _check_plan),
    ("gradients reach every parameter", _check_gradients),
    ("deterministic for a seed", _check_deterministic),
    ("state_dict round trip", _check_state_dict_round_trip),
    ("nothing hidden outside parameters and buffers", _check_nothing_hidden),
    ("out-of-range ids rejected", _check_ids_in_range),
)


def _on_device(device: str) -> Callable[[_Context], None]:
    def check(c: _Context) -> None:
        ids = c.ids()
        expected = c.module(ids)
        moved = copy.deepcopy(c.module).to(device)
        got = moved(ids.to(device)).cpu()
        if not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
            raise _Failed(f"outputs on {device} differ from CPU")

    return check


def _devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _run(name: str, budget: str, check: Callable[[_Context], None], c: _Context) -> CheckResult:
    try:
        check(c)
    except _Failed as verdict:
        return CheckResult(name, budget, False, str(verdict))
    except Exception as exc:
        return CheckResult(name, budget, False, f"raised {_describe(exc)}")
    return CheckResult(name, budget, True)


def _hidden_state(value: object) -> str | None:
    """A description of tensor-like state in ``value``, or None for small plain values."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape}"
    if isinstance(value, (list, tuple, dict, set)) and len(value) > 64:
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, (list, tuple)):
        inner = [_hidden_state(v) for v in value]
        return next((h for h in inner if h), None)
    return None


def _all_zero(grad: torch.Tensor) -> bool:
    values = grad.coalesce().values() if grad.is_sparse else grad
    return bool((values == 0).all())


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
