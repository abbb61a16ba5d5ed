"""Training, evaluation and inference timing of one model: the measured part of a cell.

The training clock excludes evaluation (MLPerf style) and includes waiting for data; throughput
is taken after ``warmup_steps``. The loop does no per-step host synchronisation, so the harness
costs no more than a bare PyTorch loop.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import torch
from torch import nn

from benchsuite.api import Batch
from benchsuite.measure.metrics import log_loss, roc_auc


class Part(NamedTuple):
    """One process's rows of a global batch in data-parallel training.

    ``batch`` holds rows ``[start, start + len(batch))`` of a global batch of ``rows`` rows split
    over ``shards`` processes. The loop counts ``rows`` samples per step and scales the summed
    loss by ``shards / rows``, so the gradients' average over processes is the gradient of the
    global batch's mean loss.
    """

    batch: Batch
    rows: int
    start: int
    shards: int


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
    #: Samples at which the next evaluation falls due (what a resumed run needs to continue).
    next_eval: int = 0

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


class Checkpointer(Protocol):
    """Saves the training state now and then (:class:`benchsuite.checkpoint.CellCheckpoint`)."""

    def due(self, samples: int) -> bool:
        """Whether a checkpoint should be written after ``samples`` samples."""
        ...

    def save(self, state: TrainOutcome) -> None:
        """Write the model, the optimizer and ``state`` (the totals so far)."""
        ...


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterator[Batch] | Iterator[Part],
    *,
    samples: int,
    device: torch.device,
    eval_every: int | None = None,
    evaluate: Callable[[], tuple[float, float]] | None = None,
    on_eval: Callable[[dict[str, Any]], bool] | None = None,
    on_progress: Callable[[int, float], None] | None = None,
    warmup_steps: int = 20,
    synchronize: Callable[[], None] = lambda: None,
    resume: TrainOutcome | None = None,
    checkpoint: Checkpointer | None = None,
    agree: Callable[[bool], bool] = lambda ok: ok,
) -> TrainOutcome:
    """Train for ``samples`` samples; evaluate every ``eval_every`` samples and at the end.

    ``on_eval`` gets each curve point and returns True to stop (target reached).

    ``resume`` continues a run from a checkpoint's totals (``batches`` must start where they
    stopped): the clock adds this segment's time to theirs, and the steady-state figures add
    this segment's steady part (each segment warms up again). ``checkpoint`` is asked after each
    step whether to save; the time spent saving is excluded from the clock, as evaluation is.

    Data-parallel training passes :class:`Part` items: samples count the global batch, and
    ``agree`` turns this process's "the loss is finite" into every process's verdict.
    """
    mean_loss, summed_loss = nn.BCEWithLogitsLoss(), nn.BCEWithLogitsLoss(reduction="sum")
    base = resume or TrainOutcome()
    out = dataclasses.replace(base, curve=list(base.curve), stopped_at_target=False)
    next_eval = base.next_eval or eval_every or samples
    paused = 0.0  # seconds spent evaluating or checkpointing, excluded from the clock
    wait = 0.0
    steady_at: tuple[float, int, float] | None = None
    segment_steps = 0
    last_report = 0.0
    model.train()
    start = time.perf_counter()
    loss = None

    def totals(end: float) -> TrainOutcome:
        """The run's totals with this segment's clock stopped at ``end`` (pauses removed)."""
        t0, s0, w0 = steady_at if steady_at is not None else (start, base.samples, 0.0)
        return dataclasses.replace(
            out,
            seconds=base.seconds + end - start,
            steady_samples=base.steady_samples + out.samples - s0,
            steady_seconds=base.steady_seconds + end - t0,
            steady_wait=base.steady_wait + wait - w0,
            curve=list(out.curve),
            next_eval=next_eval,
        )

    while out.samples < samples:
        t_fetch = time.perf_counter()
        item = next(batches, None)
        if item is None:
            break
        wait += time.perf_counter() - t_fetch
        batch, rows = (item.batch, item.rows) if isinstance(item, Part) else (item, len(item))
        if out.samples + rows > samples:  # the last step keeps the global batch's first rows
            rows = samples - out.samples
            start = item.start if isinstance(item, Part) else 0
            batch = Batch(*(t[: max(0, rows - start)] for t in batch))
        batch = batch.to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = model(batch.dense, batch.ids)
        if isinstance(item, Part):
            loss = summed_loss(logits, batch.labels) * (item.shards / rows)
        else:
            loss = mean_loss(logits, batch.labels)
        loss.backward()
        optimizer.step()
        out.samples += rows
        out.steps += 1
        segment_steps += 1
        if segment_steps == warmup_steps:
            synchronize()
            steady_at = (time.perf_counter() - paused, out.samples, wait)
        now = time.perf_counter()
        if on_progress is not None and now - last_report > 0.5:
            last_report = now
            on_progress(out.samples, base.seconds + now - start - paused)
        if out.samples >= next_eval or out.samples >= samples:
            synchronize()
            pause_start = time.perf_counter()
            if not agree(math.isfinite(loss.item())):
                raise Diverged(out.samples, out.steps)
            out.seconds = base.seconds + pause_start - start - paused
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
        if checkpoint is not None and out.samples < samples and checkpoint.due(out.samples):
            synchronize()
            pause_start = time.perf_counter()
            checkpoint.save(totals(pause_start - paused))
            paused += time.perf_counter() - pause_start
    synchronize()
    out = totals(time.perf_counter() - paused)
    if loss is not None and not agree(math.isfinite(loss.item())):
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


#: How long closing a prefetcher waits for its producer to finish the batch in hand.
_PRODUCER_JOIN_S = 60.0


def _pinned(item: Batch | Part) -> Batch | Part:
    """``item`` with its tensors copied into page-locked memory."""
    if isinstance(item, Part):
        return item._replace(batch=Batch(*(t.pin_memory() for t in item.batch)))
    return Batch(*(t.pin_memory() for t in item))


def prefetch(source: Iterable[Any], depth: int = 4, *, pin_memory: bool = False) -> Iterator[Any]:
    """Produce batches on a background thread so data generation overlaps training.

    With ``pin_memory`` (for a CUDA device) the thread also copies each batch into page-locked
    memory, so the training loop's ``Batch.to(device)`` copies are asynchronous and overlap
    the GPU's work.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def offer(item: Any) -> bool:
        """Queue ``item`` unless the consumer has stopped; never blocks past a stop."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if pin_memory:
                    item = _pinned(item)
                if not offer(item):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)

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
        # Wait for the producer to finish the batch it is making: a daemon thread still inside
        # torch when the interpreter exits aborts the process ("terminate called without an
        # active exception"), losing the exit status of a run that had finished.
        stop.set()
        thread.join(timeout=_PRODUCER_JOIN_S)
