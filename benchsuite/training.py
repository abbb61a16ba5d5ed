"""Training, evaluation and inference timing of one model: the measured part of a cell.

The training clock excludes evaluation (MLPerf style) and includes waiting for data; throughput
is taken after ``warmup_steps``. The loop does no per-step host synchronisation, so the harness
costs no more than a bare PyTorch loop.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from benchsuite.api import Batch
from benchsuite.measure.metrics import log_loss, roc_auc


class Diverged(Exception):
    """The training loss became NaN or infinite."""

    def __init__(self, samples: int, step: int):
        super().__init__(f"loss became non-finite at step {step} ({samples:,} samples)")
        self.samples, self.step = samples, step


@dataclass
class TrainOutcome:
    samples: int = 0
    steps: int = 0
    seconds: float = 0.0
    steady_samples: int = 0
    steady_seconds: float = 0.0
    steady_wait: float = 0.0
    stopped_at_target: bool = False
    curve: list[dict[str, Any]] = field(default_factory=list)

    @property
    def samples_per_s(self) -> float | None:
        return self.steady_samples / self.steady_seconds if self.steady_seconds > 0 else None

    @property
    def wait_share(self) -> float | None:
        return self.steady_wait / self.steady_seconds if self.steady_seconds > 0 else None


def make_optimizer(name: str, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """SGD or Adagrad; both accept the sparse gradients embedding tables may produce."""
    params = list(params)
    # Explicitly keep torch's default (no invariant checks on the sparse gradients Adagrad
    # builds); saying so silences a warning printed on every run.
    torch.sparse.check_sparse_tensor_invariants.disable()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=1e-8)
    raise ValueError(f"unknown optimizer {name!r}")


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterator[Batch],
    *,
    samples: int,
    device: torch.device,
    eval_every: int | None = None,
    evaluate: Callable[[], tuple[float, float]] | None = None,
    on_eval: Callable[[dict[str, Any]], bool] | None = None,
    on_progress: Callable[[int, float], None] | None = None,
    warmup_steps: int = 20,
    synchronize: Callable[[], None] = lambda: None,
) -> TrainOutcome:
    """Train for ``samples`` samples; evaluate every ``eval_every`` samples and at the end.

    ``on_eval`` gets each curve point and returns True to stop (target reached).
    """
    loss_fn = nn.BCEWithLogitsLoss()
    out = TrainOutcome()
    next_eval = eval_every or samples
    paused = 0.0  # seconds spent evaluating, excluded from the clock
    wait = 0.0
    steady_at: tuple[float, int, float] | None = None
    last_report = 0.0
    model.train()
    start = time.perf_counter()
    loss = None
    while out.samples < samples:
        t_fetch = time.perf_counter()
        batch = next(batches, None)
        if batch is None:
            break
        wait += time.perf_counter() - t_fetch
        if out.samples + len(batch) > samples:
            batch = Batch(*(t[: samples - out.samples] for t in batch))
        batch = batch.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(batch.dense, batch.ids), batch.labels)
        loss.backward()
        optimizer.step()
        out.samples += len(batch)
        out.steps += 1
        if out.steps == warmup_steps:
            synchronize()
            steady_at = (time.perf_counter() - paused, out.samples, wait)
        now = time.perf_counter()
        if on_progress is not None and now - last_report > 0.5:
            last_report = now
            on_progress(out.samples, now - start - paused)
        if out.samples >= next_eval or out.samples >= samples:
            synchronize()
            pause_start = time.perf_counter()
            if not math.isfinite(loss.item()):
                raise Diverged(out.samples, out.steps)
            out.seconds = pause_start - start - paused
            if evaluate is not None:
                auc, logloss = evaluate()
                point = {
                    "samples": out.samples,
                    "seconds": out.seconds,
                    "auc": auc,
                    "logloss": logloss,
                }
                out.curve.append(point)
                if on_eval is not None and on_eval(point):
                    out.stopped_at_target = True
                    paused += time.perf_counter() - pause_start
                    break
            paused += time.perf_counter() - pause_start
            while next_eval <= out.samples:
                next_eval += eval_every or samples
    synchronize()
    end = time.perf_counter() - paused
    out.seconds = end - start
    t0, s0, w0 = steady_at if steady_at is not None else (start, 0, 0.0)
    out.steady_samples = out.samples - s0
    out.steady_seconds = end - t0
    out.steady_wait = wait - w0
    if loss is not None and not math.isfinite(loss.item()):
        raise Diverged(out.samples, out.steps)
    return out


def evaluate(
    model: nn.Module, batches: Iterable[Batch], device: torch.device
) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """AUC and log loss of the model over a whole split; also returns labels and scores."""
    model.eval()
    scores, labels = [], []
    with torch.inference_mode():
        for batch in batches:
            b = batch.to(device)
            scores.append(torch.sigmoid(model(b.dense, b.ids)).float().cpu())
            labels.append(batch.labels)
    model.train()
    y, p = torch.cat(labels), torch.cat(scores)
    return roc_auc(y, p), log_loss(y, p), y, p


def inference_throughput(
    model: nn.Module,
    batches: list[Batch],
    device: torch.device,
    *,
    synchronize: Callable[[], None] = lambda: None,
    warmup: int = 2,
) -> float:
    """Forward-only samples/s in inference mode over batches already on the device."""
    model.eval()
    on_device = [b.to(device) for b in batches]
    with torch.inference_mode():
        for b in on_device[:warmup]:
            model(b.dense, b.ids)
        synchronize()
        start = time.perf_counter()
        for b in on_device:
            model(b.dense, b.ids)
        synchronize()
        elapsed = time.perf_counter() - start
    model.train()
    return sum(len(b) for b in on_device) / elapsed


def prefetch(
    source: Iterable[Batch], depth: int = 4, *, pin_memory: bool = False
) -> Iterator[Batch]:
    """Produce batches on a background thread so data generation overlaps training.

    With ``pin_memory`` (for a CUDA device) the thread also copies each batch into page-locked
    memory, so the training loop's ``Batch.to(device)`` copies are asynchronous and overlap
    the GPU's work.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                if pin_memory:
                    item = Batch(*(t.pin_memory() for t in item))
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=produce, name="benchsuite-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
