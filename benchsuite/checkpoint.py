"""Checkpoints of a cell in training, so that a run interrupted (a crash, ``kill -9``) resumes
each unfinished cell where it left off and ends with the metrics an uninterrupted run gives.

A checkpoint holds what the rest of the cell needs to finish as if never stopped: the model's
and the optimizer's state, the training position (samples consumed, counted where the training
loop takes each batch, never where the prefetch thread produces it: the epoch and the row in it
follow), the random states (torch, CUDA, numpy, Python's ``random``), the training totals so far
(the learning curve, the clock, the steady-state counters, the next evaluation) and the record
fields filled in during training (the target reached, warnings, the start time).

Files live beside the records, ``OUT/.checkpoints/<record file stem>.pt`` (hidden, so readers
of records skip them), are written atomically (temporary file, fsync, rename), and are removed
once the cell's record is written. They are read with ``torch.load(weights_only=True)`` and hold
only tensors, dicts, lists, numbers and strings, so a file can never run code. A file that is
unreadable, truncated, of another format version, of another cell or of another configuration
is reported (on stderr and in the record's ``warnings``), deleted, and the cell starts over.

How often: ``train.checkpoint_every`` samples and/or every ``train.checkpoint_minutes`` of
wall-clock time (docs/suites.md). Neither changes what a cell measures, so neither is part of
the cell's configuration hash.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchsuite import results
from benchsuite.api import BenchsuiteError
from benchsuite.atomic import remove_temporaries, write_atomically
from benchsuite.training import TrainOutcome

__all__ = [
    "FOLDER",
    "FORMAT",
    "SETTINGS",
    "TIMINGS",
    "CellCheckpoint",
    "checkpoint_path",
    "discard",
]

#: Bump when the file's content changes meaning; other versions are refused and the cell restarts.
FORMAT = "benchsuite.checkpoint/1"
#: The hidden folder of checkpoints inside a results folder.
FOLDER = ".checkpoints"
#: The ``train`` keys that set the cadence; they never change results, so cells' configuration
#: hashes leave them out.
SETTINGS = ("checkpoint_every", "checkpoint_minutes")
#: Metrics the training phase sets (through the evaluation callback) before the record is done.
_TRAINING_METRICS = ("target_reached", "samples_to_target", "seconds_to_target")
#: The TrainOutcome fields a checkpoint stores, with their types.
_STATE_FIELDS: dict[str, tuple[type, ...]] = {
    "samples": (int,),
    "steps": (int,),
    "seconds": (int, float),
    "steady_samples": (int,),
    "steady_seconds": (int, float),
    "steady_wait": (int, float),
    "next_eval": (int,),
}
#: How a resumed record's timings are counted, stated in the record itself.
TIMINGS = (
    "train_seconds, seconds_to_target and the curve's seconds add up the training time of every "
    "segment, evaluation and checkpointing excluded; training redone after the last checkpoint "
    "before an interruption is counted once, the lost time not at all; train_samples_per_s and "
    "data_wait_share cover each segment's steady state (each segment warms up again); "
    "energy.train covers the last segment only"
)


def checkpoint_path(out: Path, cell_key: str) -> Path:
    """Where the checkpoint of cell ``cell_key`` lives in results folder ``out``."""
    return Path(out) / FOLDER / (results.record_path(Path(out), cell_key).stem + ".pt")


def discard(out: Path, cell_key: str) -> None:
    """Remove a cell's checkpoint and any temporary file an interrupted write left behind."""
    path = checkpoint_path(out, cell_key)
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
    remove_temporaries(path)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # only when empty: other cells' checkpoints stay


class CellCheckpoint:
    """One cell's checkpoint: restores it before training, writes it when due during training.

    ``warn`` receives each problem (a checkpoint refused, a write that failed); the runner
    prints it and keeps it in the record. A write that fails turns checkpointing off for the
    rest of the cell rather than failing a long run.
    """

    def __init__(
        self,
        out: Path,
        cell_key: str,
        config_hash: str,
        *,
        every_samples: int | None,
        minutes: float | None,
        warn: Callable[[str], None],
    ) -> None:
        self.path = checkpoint_path(out, cell_key)
        self.cell_key, self.config_hash = cell_key, config_hash
        self.every_samples, self.minutes = every_samples, minutes
        self.warn = warn
        self.enabled = bool(every_samples or minutes)
        self.written = 0
        self.seconds = 0.0  # spent writing, outside the training clock
        self.resumed_from: list[int] = []  # the sample each later segment started at
        self._model: torch.nn.Module | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._record: dict[str, Any] | None = None
        self._next_samples = 0
        self._deadline = 0.0
        remove_temporaries(self.path)  # what a killed write left: never a valid checkpoint

    # -- before training -------------------------------------------------------------------

    def restore(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, record: dict[str, Any]
    ) -> TrainOutcome | None:
        """Load the checkpoint into ``model``, ``optimizer``, the random states and ``record``,
        and return the training totals to resume from; None (after a warning for a bad file)
        to start from scratch. Also binds what later checkpoints save."""
        self._model, self._optimizer, self._record = model, optimizer, record
        state = None
        if self.path.exists():
            try:
                payload = self._read()
                _check_states(payload, model, optimizer)
            except BenchsuiteError as exc:
                self.warn(f"{exc}; starting the cell from scratch")
                with contextlib.suppress(OSError):
                    self.path.unlink()
            except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
                self.warn(
                    f"checkpoint {self.path} is damaged ({type(exc).__name__}: {exc}); "
                    "starting the cell from scratch"
                )
                with contextlib.suppress(OSError):
                    self.path.unlink()
            else:
                state = self._apply(payload, model, optimizer, record)
        self._arm(state.samples if state else 0)
        return state

    def _read(self) -> dict[str, Any]:
        """The file's payload, checked to be a checkpoint of this cell and configuration."""
        where = f"checkpoint {self.path}"
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated, garbage, or a pickle weights_only refuses
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            raise BenchsuiteError(f"{where} is unreadable ({reason})") from None
        if not isinstance(payload, dict):
            raise BenchsuiteError(f"{where} is not a checkpoint (no mapping at the top)")
        if payload.get("format") != FORMAT:
            raise BenchsuiteError(
                f"{where} has format {_short(payload.get('format'))}, not {FORMAT!r}"
            )
        if payload.get("cell") != self.cell_key:
            raise BenchsuiteError(
                f"{where} belongs to cell {_short(payload.get('cell'))}, not {self.cell_key!r}"
            )
        if payload.get("config_hash") != self.config_hash:
            raise BenchsuiteError(
                f"{where} was written for another configuration of this cell "
                f"(hash {_short(payload.get('config_hash'))[:20]}…)"
            )
        _check_payload(payload, where)
        return payload

    def _apply(
        self,
        payload: dict[str, Any],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        record: dict[str, Any],
    ) -> TrainOutcome:
        try:
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
        except Exception as exc:  # shapes were checked; anything left means a forged file
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise BenchsuiteError(
                f"checkpoint {self.path} could not be loaded into the model ({exc}); it was "
                "removed, so running the suite again starts this cell from scratch"
            ) from None
        _set_rng(payload["rng"])
        train = payload["train"]
        state = TrainOutcome(**{k: train[k] for k in _STATE_FIELDS}, curve=list(train["curve"]))
        saved = payload["record"]
        record["started_at"] = saved["started_at"]
        record["metrics"].update(saved["metrics"])
        warnings = list(saved["warnings"])
        warnings += [w for w in record.get("warnings", []) if w not in warnings]
        if warnings:
            record["warnings"] = warnings
        self.written, self.seconds = payload["written"], payload["seconds"]
        self.resumed_from = [*payload["resumed_from"], state.samples]
        return state

    # -- during training (the training loop's Checkpointer) ---------------------------------

    def due(self, samples: int) -> bool:
        if not self.enabled:
            return False
        if self.every_samples and samples >= self._next_samples:
            return True
        return bool(self.minutes) and time.monotonic() >= self._deadline

    def save(self, state: TrainOutcome) -> None:
        """Write the checkpoint for ``state`` (the totals after ``state.samples`` samples)."""
        assert self._model is not None and self._optimizer is not None and self._record
        started = time.perf_counter()
        metrics = self._record["metrics"]
        payload = {
            "format": FORMAT,
            "cell": self.cell_key,
            "config_hash": self.config_hash,
            "model": self._model.state_dict(),
            "optimizer": self._optimizer.state_dict(),
            "rng": _get_rng(),
            "train": {
                **{k: getattr(state, k) for k in _STATE_FIELDS},
                "curve": [dict(p) for p in state.curve],
            },
            "record": {
                "started_at": self._record["started_at"],
                "metrics": {k: metrics[k] for k in _TRAINING_METRICS if k in metrics},
                "warnings": list(self._record.get("warnings", [])),
            },
            "resumed_from": list(self.resumed_from),
            "written": self.written + 1,
            "seconds": self.seconds,
        }
        try:
            _write(self.path, payload)
        except (OSError, RuntimeError) as exc:
            self.enabled = False
            self.warn(
                f"could not write checkpoint {self.path} ({exc}); no more checkpoints for this cell"
            )
            return
        finally:
            self._arm(state.samples)
        self.written += 1
        self.seconds += time.perf_counter() - started

    def _arm(self, samples: int) -> None:
        """Next due point: the next multiple of ``every_samples``, ``minutes`` from now."""
        if self.every_samples:
            self._next_samples = (samples // self.every_samples + 1) * self.every_samples
        if self.minutes:
            self._deadline = time.monotonic() + self.minutes * 60

    # -- after training ---------------------------------------------------------------------

    def annotate(self, record: dict[str, Any]) -> None:
        """Say in the record that the cell resumed, from where, and what checkpointing cost."""
        if self.resumed_from:
            record["resumed"] = {
                "from_samples": list(self.resumed_from),
                "segments": len(self.resumed_from) + 1,
                "timings": TIMINGS,
            }
        if self.written:
            record["checkpoints"] = {
                "written": self.written,
                "seconds": self.seconds,
                "every_samples": self.every_samples,
                "minutes": self.minutes,
            }


# -- validation -----------------------------------------------------------------------------


def _check_payload(payload: dict[str, Any], where: str) -> None:
    """Every field a resume reads is there with its type, so applying it cannot fail halfway."""
    for key, kind in (
        ("model", dict),
        ("optimizer", dict),
        ("rng", dict),
        ("train", dict),
        ("record", dict),
        ("resumed_from", list),
        ("written", int),
        ("seconds", float),
    ):
        if not isinstance(payload.get(key), kind):
            raise BenchsuiteError(f"{where} is damaged: {key!r} is missing or of the wrong type")
    train, saved, rng = payload["train"], payload["record"], payload["rng"]
    for key, kinds in _STATE_FIELDS.items():
        if not isinstance(train.get(key), kinds) or isinstance(train.get(key), bool):
            raise BenchsuiteError(f"{where} is damaged: 'train.{key}' is missing or not a number")
    curve = train.get("curve")
    if not isinstance(curve, list) or not all(isinstance(p, dict) for p in curve):
        raise BenchsuiteError(f"{where} is damaged: 'train.curve' is not a list of points")
    if not (
        isinstance(saved.get("started_at"), str)
        and isinstance(saved.get("metrics"), dict)
        and isinstance(saved.get("warnings"), list)
    ):
        raise BenchsuiteError(f"{where} is damaged: 'record' lacks its start time or metrics")
    if not isinstance(rng.get("torch"), torch.Tensor) or not isinstance(rng.get("numpy"), dict):
        raise BenchsuiteError(f"{where} is damaged: 'rng' lacks the torch or numpy state")
    if not isinstance(rng.get("python"), dict) or not isinstance(rng.get("cuda"), list):
        raise BenchsuiteError(f"{where} is damaged: 'rng' lacks the python or cuda state")


def _check_states(
    payload: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> None:
    """The saved model and optimizer fit these exactly (names, shapes, dtypes)."""
    where = f"checkpoint of cell {payload['cell']!r}"
    want = model.state_dict()
    got = payload["model"]
    if set(got) != set(want):
        raise BenchsuiteError(f"{where} holds other model parameters than this model's")
    for name, tensor in want.items():
        saved = got[name]
        if not isinstance(saved, torch.Tensor) or (saved.shape, saved.dtype) != (
            tensor.shape,
            tensor.dtype,
        ):
            raise BenchsuiteError(f"{where}: parameter {name!r} does not fit this model")
    fresh = optimizer.state_dict()
    saved_opt = payload["optimizer"]
    groups = saved_opt.get("param_groups")
    if not isinstance(groups, list) or [len(g.get("params", ())) for g in groups] != [
        len(g["params"]) for g in fresh["param_groups"]
    ]:
        raise BenchsuiteError(f"{where} holds another optimizer's parameter groups")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    ids = [i for g in groups for i in g["params"]]
    state = saved_opt.get("state")
    if not isinstance(state, dict):
        raise BenchsuiteError(f"{where} holds no optimizer state")
    for key, entry in state.items():
        if key not in ids or not isinstance(entry, dict):
            raise BenchsuiteError(f"{where} holds optimizer state for an unknown parameter")
        shape = params[ids.index(key)].shape
        for value in entry.values():
            if isinstance(value, torch.Tensor) and value.numel() != 1 and value.shape != shape:
                raise BenchsuiteError(f"{where} holds optimizer state of the wrong shape")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- random states --------------------------------------------------------------------------


def _get_rng() -> dict[str, Any]:
    """Every random state training may draw from, as tensors and numbers only."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {
            "version": version,
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss": python_gauss,
        },
    }


def _set_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    cuda = state["cuda"]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["gauss"],
        )
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss"]))


# -- writing --------------------------------------------------------------------------------


def _write(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` atomically: a reader (or a run killed meanwhile) sees the previous
    checkpoint or this one, whole."""
    write_atomically(path, lambda handle: torch.save(payload, handle), binary=True)
