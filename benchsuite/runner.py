"""Runs a suite: each cell built, trained, evaluated and measured into one result record.

A cell that raises is recorded as ``failed`` and the suite goes on; a method that cannot meet
its budget is ``infeasible``; a module larger than its budget is ``over_budget`` and never
trains. Cells whose ``ok`` record exists for the same configuration are skipped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import json
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from benchsuite import bandwidth, checkpoint, distributed, results, sharding
from benchsuite.api import (
    BYTES_PER_FLOAT,
    Batch,
    BenchsuiteError,
    Dataset,
    DataStats,
    HardwareProfile,
    Infeasible,
    full_table_bytes,
)
from benchsuite.environment import environment
from benchsuite.feasibility import check_memory, check_statistics_memory
from benchsuite.guards import CellTimeout, CellWatch, Deadline
from benchsuite.host import Host
from benchsuite.measure.memory import module_bytes, optimizer_state_bytes
from benchsuite.model import DLRM
from benchsuite.params import parse_method
from benchsuite.progress import Progress
from benchsuite.stats import StatsCache, compute_stats, normalise
from benchsuite.suite import Cell, Suite
from benchsuite.training import (
    Diverged,
    evaluate,
    inference_throughput,
    make_optimizer,
    prefetch,
    train,
)

if TYPE_CHECKING:
    from benchsuite.executors import Executor

T = TypeVar("T")


@dataclass
class CellOutcome:
    cell: Cell
    record: dict[str, Any] | None
    skipped: bool = False
    #: Set when another process held the cell's lock: its pid (0 when it could not be read).
    elsewhere: int | None = None


def default_out_dir(suite: Suite) -> Path:
    return Path("reports") / "results" / suite.name


def select_hardware(host: Host, spec: str) -> HardwareProfile:
    """The profile ``spec`` names (``cpu``, ``cpu[threads=4]``), or for ``auto`` the first
    available of cuda then cpu."""
    name, params = parse_method(spec)
    if name == "auto":
        if params:
            raise BenchsuiteError(
                f"hardware {spec!r}: 'auto' takes no parameters; name the profile instead, "
                "e.g. 'cpu[threads=4]'"
            )
        for candidate in ("cuda", "cpu"):
            reg = host.registry["hardware"].get(candidate)
            if reg is not None and reg.cls.available()[0]:
                return reg.cls()
        raise BenchsuiteError("no hardware profile is available (is the cpu plugin installed?)")
    cls = host.get("hardware", name).cls
    ok, why = cls.available()
    if not ok:
        raise BenchsuiteError(f"hardware profile {name!r} is not available here: {why}")
    try:
        return cls(**params)
    except BenchsuiteError as exc:
        raise BenchsuiteError(f"hardware {spec!r}: {exc}") from None


def hardware_label(profile: HardwareProfile) -> str:
    """``name`` or ``name[key=value,…]`` with the parameters that differ from the defaults."""
    changed = {k: v for k, v in profile.params.items() if profile.defaults.get(k) != v}
    inner = ",".join(f"{k}={changed[k]}" for k in sorted(changed))
    return f"{profile.name}[{inner}]" if inner else profile.name


def run_suite(
    suite: Suite,
    *,
    out_dir: Path | None = None,
    force: bool = False,
    hardware: str | None = None,
    progress: Progress | None = None,
    isolate: bool | None = None,
    timeout: str | float | None = None,
    memory_limit: str | int | None = None,
    executor: Executor | None = None,
) -> list[CellOutcome]:
    """Run every cell of the suite not already done; return what happened to each.

    ``isolate``, ``timeout`` and ``memory_limit`` replace the suite's keys of those names when
    given (see :func:`benchsuite.isolation.resolve_limits`). Each cell is locked while it runs
    (:mod:`benchsuite.locks`): a cell another process is running is skipped and reported.
    ``executor`` says where the cells run (:mod:`benchsuite.executors`; default: here, one
    after the other; in one of torchrun's processes, every cell data-parallel over all of them,
    :mod:`benchsuite.torchrun`).
    """
    from benchsuite import executors, torchrun  # they build on this module

    place = distributed.from_environment()
    if place is not None and executor is not None and executor.name != "local":
        raise BenchsuiteError(
            f"--executor {executor.name} cannot run under torchrun: torchrun's processes train "
            "each cell together (drop --executor, or run without torchrun)"
        )
    chosen = (
        torchrun.TorchrunExecutor(place)
        if place is not None
        else executor or executors.LocalExecutor()
    )
    out = out_dir or default_out_dir(suite)
    limits = chosen.limits(
        suite.config, isolate=isolate, timeout=timeout, memory_limit=memory_limit
    )
    profile = chosen.hardware(suite.host, hardware or suite.config["hardware"])
    progress = progress or Progress(enabled=False)
    cells = suite.cells()
    dataset = _dataset(suite)
    dataset.prepare()
    run = executors.SuiteRun(
        suite, out, dataset, profile, limits, progress, force=force, total=len(cells)
    )
    return chosen.run(run, cells)


def finish_cell(
    suite: Suite, cell: Cell, record: dict[str, Any], run_dir: Path, path: Path
) -> None:
    """Tell the event hooks the cell ended, write its record, drop its checkpoint."""
    _add_warnings(
        record,
        suite.host.notify("benchsuite_cell_end", cell=cell, record=record, run_dir=run_dir),
    )
    results.write_record(path, record)
    checkpoint.discard(run_dir, cell.key)


def _dataset(suite: Suite) -> Dataset:
    spec = suite.config["dataset"]
    return suite.host.get("datasets", spec["name"]).cls(**spec["params"])


def _done(path: Path, wanted_hash: str, progress: Progress) -> bool:
    if not path.exists():
        return False
    try:
        record = results.load_record(path)
    except BenchsuiteError as exc:
        aside = path.with_name(path.name + ".corrupt")
        path.replace(aside)
        progress.warn(f"{exc}; moved to {aside.name} and running the cell again")
        return False
    return record["status"] == "ok" and record.get("config_hash") == wanted_hash


def cell_config(suite: Suite, cell: Cell, profile: HardwareProfile) -> dict[str, Any]:
    """The resolved configuration one cell ran with, as stored in its record."""
    shared = {k: suite.config[k] for k in ("dataset", "model", "train", "inference")}
    config = json.loads(json.dumps(shared, default=str))
    for key in checkpoint.SETTINGS:  # how often a cell checkpoints never changes its results
        config["train"].pop(key, None)
    config["hardware"] = hardware_label(profile)
    config["cell"] = {
        "method": cell.method,
        "params": cell.params,
        "budget": cell.budget.label,
        "seed": cell.seed,
    }
    if suite.config.get("mlperf_logging"):
        config["mlperf_logging"] = True  # only when on, so other records keep their hash
    return config


def config_hash(config: dict[str, Any], cell: Cell) -> str:
    canonical = json.dumps({"config": config, "key": cell.key}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_cell(
    suite: Suite,
    cell: Cell,
    dataset: Dataset,
    profile: HardwareProfile,
    config: dict[str, Any],
    stats_cache: dict[str, DataStats],
    progress: Progress,
    *,
    run_dir: Path,
    deadline: Deadline | None = None,
    world: distributed.World | None = None,
) -> dict[str, Any]:
    """Run one cell and return its complete record, whatever happens inside.

    ``deadline`` is checked between training steps and at evaluations: past it, the cell
    ends as ``timeout`` (a hang inside one step needs isolation to be interrupted). In a
    distributed ``world`` it is checked at evaluations only, where rank 0 decides for all, and
    only rank 0 calls the event hooks.
    """
    method = suite.method(cell)
    record = new_record(suite, cell, dataset, profile, config)
    main = world is None or world.main
    if main:
        _add_warnings(
            record,
            suite.host.notify("benchsuite_cell_start", cell=cell, config=config, run_dir=run_dir),
        )
    watch = CellWatch(deadline, suite.config["train"]["batch_size"])
    try:
        _measure(
            suite, cell, method, dataset, profile, stats_cache, record, progress, run_dir=run_dir,
            watch=watch, world=world,
        )  # fmt: skip
    except distributed.PeerStopped as exc:  # only ranks other than 0, whose records are unwritten
        record.update(status="failed", error=str(exc))
    except distributed.OutOfStep as exc:
        record.update(
            status="failed",
            error=str(exc),
            traceback="".join(traceback.format_exception(exc.cause, limit=20)),
        )
        record.setdefault("distributed", {})["stopped_run"] = True
    except Infeasible as exc:
        record.update(status="infeasible", error=str(exc))
    except Diverged as exc:
        record.update(status="diverged", error=str(exc))
        record["metrics"].update(diverged_at_samples=exc.samples, diverged_at_step=exc.step)
    except CellTimeout as exc:
        record.update(status="timeout", error=str(exc))
        record["metrics"].update(elapsed_seconds=exc.elapsed, timeout_seconds=exc.limit)
    except _OverBudget as exc:
        record.update(status="over_budget", error=str(exc))
    except Exception as exc:  # any failure of the method's code becomes this cell's record
        record.update(
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(limit=20),
        )
    record["finished_at"] = _now()
    return record


def new_record(
    suite: Suite,
    cell: Cell,
    dataset: Dataset,
    profile: HardwareProfile,
    config: dict[str, Any],
) -> dict[str, Any]:
    """The record of a cell starting now: everything known before it runs, status ``ok``."""
    plugin = suite.host.get("methods", cell.method).plugin
    tables, dim = dataset.tables, suite.config["model"]["dim"]
    full = full_table_bytes(tables, dim)
    return {
        "schema": results.SCHEMA,
        "suite": {
            "name": suite.name,
            "path": str(suite.path) if suite.path else None,
            "hash": suite.file_hash,
        },
        "cell": {
            "key": cell.key,
            "method": cell.method,
            "label": cell.label,
            "params": cell.params,
            "budget": cell.budget.label,
            "seed": cell.seed,
        },
        "config": config,
        "config_hash": config_hash(config, cell),
        "plugin": {
            "name": cell.method,
            "plugin": plugin.name,
            "source": plugin.source,
            "version": plugin.version,
        },
        "dataset": {
            "name": dataset.name,
            "params": dataset.params,
            "fingerprint": dataset.fingerprint(),
        },
        "environment": environment(profile.fingerprint()),
        "started_at": _now(),
        "finished_at": None,
        "status": "ok",
        "error": None,
        "metrics": {
            "full_bytes": full,
            "budget_bytes": cell.budget.bytes_for(full),
            "target_auc": suite.config["train"]["target_auc"],
            "target_reached": False,
            "train_samples": 0,
            "train_seconds": 0.0,
        },
        "curve": [],
    }


def _add_warnings(record: dict[str, Any], problems: list[str]) -> None:
    """Keep what event hooks reported in the record: a plugin that failed is never silent."""
    if problems:
        record.setdefault("warnings", []).extend(problems)


class _OverBudget(Exception):
    pass


def _measure(
    suite: Suite,
    cell: Cell,
    method: Any,
    dataset: Dataset,
    profile: HardwareProfile,
    stats_cache: dict[str, DataStats],
    record: dict[str, Any],
    progress: Progress,
    *,
    run_dir: Path,
    watch: CellWatch | None = None,
    world: distributed.World | None = None,
) -> None:
    cfg_model, cfg_train, cfg_inf = (suite.config[k] for k in ("model", "train", "inference"))
    watch = watch or CellWatch(None, cfg_train["batch_size"])
    metrics = record["metrics"]
    device = profile.device
    tables, dim = dataset.tables, cfg_model["dim"]
    main = world is None or world.main

    def statistics() -> DataStats:
        if method.needs and _stats_key(method, dataset) not in stats_cache:
            check_statistics_memory(
                cell.label, [normalise(r) for r in method.needs], tables, dataset.num_dense,
                _host_capacity(suite.host), metrics,
            )  # fmt: skip
        return _stats_for(method, dataset, stats_cache, progress)

    # Rank 0 computes (and caches) the statistics first; the others then read its cache.
    stats = statistics() if world is None else world.first(statistics)
    if stats.cost:
        metrics["stats_cost"] = stats.cost

    def build_model() -> DLRM:
        _record_bandwidth(profile, len(tables) * dim, metrics)  # before the peak-memory window
        profile.reset_peak_memory()
        torch.manual_seed(cell.seed)
        check_memory(cell.label, method, tables, stats, suite.config, profile, metrics)
        embedding = method.build(tables, dim, metrics["budget_bytes"], stats, cell.seed)
        emb_bytes = module_bytes(embedding)
        metrics["embedding_bytes"] = emb_bytes
        metrics["compression_ratio"] = metrics["full_bytes"] / emb_bytes if emb_bytes else None
        if method.compresses and emb_bytes > metrics["budget_bytes"]:
            raise _OverBudget(
                f"{cell.label} built {emb_bytes:,} bytes of embedding for a budget of "
                f"{metrics['budget_bytes']:,} bytes ({cell.budget.label})"
            )
        return DLRM(
            embedding,
            num_dense=dataset.num_dense,
            num_features=len(tables),
            dim=dim,
            bottom_mlp=cfg_model["bottom_mlp"],
            top_mlp=cfg_model["top_mlp"],
            output=method.output,
        ).to(device)

    # Every rank builds; a failure on any rank stops all of them before the first collective.
    model = build_model() if world is None else world.together(build_model)
    optimizer = make_optimizer(cfg_train["optimizer"], model.parameters(), cfg_train["lr"])

    eval_bs = max(cfg_inf["batch_sizes"])
    bayes = dataset.bayes_auc("test")
    target = cfg_train["target_auc"]
    samples = cfg_train["samples"] or cfg_train["epochs"] * dataset.num_samples("train")

    clock: dict[str, float] = {}  # wall-clock times (Unix seconds) the event hooks receive
    split_rows = {s: dataset.num_samples(s) for s in ("train", "validation")}

    def validate() -> tuple[float, float]:
        clock["eval_start_time"] = time.time()
        auc, logloss = score(model, dataset, "validation", eval_bs, device, world)
        clock["eval_end_time"] = time.time()
        return auc, logloss

    def on_eval(point: dict[str, Any]) -> bool:
        seen = {
            **point,
            "epoch": point["samples"] / split_rows["train"],
            "train_split_samples": split_rows["train"],
            "validation_split_samples": split_rows["validation"],
            **clock,
        }
        _add_warnings(
            record,
            suite.host.notify("benchsuite_evaluation", cell=cell, point=seen, run_dir=run_dir),
        )
        progress.evaluation(point, samples)
        watch.evaluation(point)  # a collapsed AUC or the deadline ends the cell here
        reached = target is not None and point["auc"] >= target
        if reached and not metrics["target_reached"]:
            metrics.update(
                target_reached=True,
                samples_to_target=point["samples"],
                seconds_to_target=point["seconds"],
            )
        return reached and cfg_train["stop_at_target"]

    def warn(message: str) -> None:
        progress.warn(f"{cell.label}: {message}")
        _add_warnings(record, [message])

    saver = checkpoint.CellCheckpoint(
        run_dir,
        cell.key,
        record["config_hash"],
        every_samples=cfg_train.get("checkpoint_every"),
        minutes=cfg_train.get("checkpoint_minutes"),
        warn=warn,
    )
    sharded = world is not None and sharding.is_shardable(model)
    resumed = None
    if world is None:
        resumed = saver.restore(model, optimizer, record)  # last: it sets the random states
    elif sharded:  # each rank holds other tables, and their fused optimizer state: not saved
        saver.enabled = False
    else:  # rank 0 judges (and may delete) the checkpoint before the others read it
        resumed = world.first(lambda: saver.restore(model, optimizer, record))
        saver.enabled = saver.enabled and world.main  # the states are alike: rank 0 writes
    start = resumed.samples if resumed else 0
    if resumed:  # the collapse rule judges the whole curve, not only this segment's
        watch.curve.extend(resumed.curve)
        watch.samples, watch.steps = resumed.samples, resumed.steps
    trained: torch.nn.Module = model
    if world is not None and sharded:
        name, lr = cfg_train["optimizer"], cfg_train["lr"]
        trained = world.together(
            lambda: sharding.shard(model, device, world.size, optimizer=name, lr=lr)
        )
        optimizer = make_optimizer(name, sharding.dense_parameters(trained), lr)
        record["distributed"] = distributed.describe(
            world, sharding.dense_parameters(trained), sharded_lookup=len(tables) * dim * 4
        )
    elif world is not None:
        trained = distributed.wrap_model(model, world)
        record["distributed"] = distributed.describe(world, model.parameters())
    meter = profile.energy_meter()
    meter.start()
    clock["train_start_time"] = time.time()
    batch_size = cfg_train["batch_size"]
    source = (
        _epochs(dataset, batch_size, start)
        if world is None
        else distributed.epochs(dataset, batch_size, world, start)
    )
    batches = prefetch(source, pin_memory=device.type == "cuda")
    try:
        outcome = _in_step(world, lambda: train(
            trained,
            optimizer,
            watch.batches(batches) if world is None else batches,
            samples=samples,
            device=device,
            eval_every=cfg_train["eval_every"],
            evaluate=validate,
            on_eval=on_eval if world is None else world.agreed(on_eval),
            on_progress=lambda s, t: progress.training(s, samples, t),
            warmup_steps=cfg_train["warmup_steps"],
            synchronize=profile.synchronize,
            resume=resumed,
            checkpoint=saver,
            agree=(lambda ok: ok) if world is None else world.all_true,
        ))  # fmt: skip
    except BaseException:
        _close(meter)
        raise
    finally:
        batches.close()  # stop and join the producer thread now, not at garbage collection
    # A resumed cell's window covers the last segment: the samples trained since the resume.
    energy = {"train": energy_per_sample(meter.stop(), outcome.samples - start, "train", profile)}
    saver.annotate(record)
    record["curve"] = outcome.curve
    metrics.update(
        train_samples=outcome.samples,
        train_seconds=outcome.seconds,
        train_samples_per_s=outcome.samples_per_s,
        data_wait_share=outcome.wait_share,
        best_val_auc=max((p["auc"] for p in outcome.curve), default=None),
        optimizer_state_bytes=optimizer_state_bytes(optimizer)
        + sharding.fused_state_bytes(trained),
    )
    if not metrics["target_reached"]:
        metrics.update(samples_to_target=None, seconds_to_target=None)
    if world is not None:
        _in_step(world, lambda: distributed.add_rank_figures(record, world, outcome, start))

    test_auc, test_logloss = _in_step(
        world, lambda: score(model, dataset, "test", eval_bs, device, world)
    )
    metrics.update(test_auc=test_auc, test_logloss=test_logloss, bayes_auc=bayes)
    if not main and not sharded:  # inference, energy and memory: measured on rank 0's device
        return

    # Batches are drawn before the window opens, so it holds inference and not data generation.
    inference_batches = {
        bs: _take(dataset, "test", bs, cfg_inf["batches"]) for bs in cfg_inf["batch_sizes"]
    }

    def infer() -> dict[str, float]:
        return {
            str(bs): inference_throughput(
                model, batches, device, synchronize=profile.synchronize, warmup=INFERENCE_WARMUP
            )
            for bs, batches in inference_batches.items()
        }

    if not main:  # sharded tables answer only with every rank: this one takes part, unmeasured
        _in_step(world, infer)
        return
    meter = profile.energy_meter()
    meter.start()
    try:
        metrics["inference_samples_per_s"] = _in_step(world if sharded else None, infer)
    except BaseException:
        _close(meter)
        raise
    forwarded = sum(_forward_samples(b, INFERENCE_WARMUP) for b in inference_batches.values())
    energy["inference"] = energy_per_sample(meter.stop(), forwarded, "inference", profile)
    metrics["energy"] = energy
    metrics["peak_memory"] = profile.peak_memory()


#: Forward passes run, untimed, before each batch size's timed inference batches.
INFERENCE_WARMUP = 2


def _in_step(world: distributed.World | None, work: Callable[[], T]) -> T:
    """``work()``, which every rank of ``world`` runs together: an error no other rank shares
    (every shared ending is agreed on: divergence, time limit, rank 0's stop) becomes
    :class:`~benchsuite.distributed.OutOfStep`."""
    if world is None:
        return work()
    try:
        return work()
    except (Diverged, CellTimeout, distributed.PeerStopped, BenchsuiteError):
        raise
    except Exception as exc:
        raise distributed.OutOfStep(exc) from exc


def score(
    model: torch.nn.Module,
    dataset: Dataset,
    split: str,
    batch_size: int,
    device: torch.device,
    world: distributed.World | None,
) -> tuple[float, float]:
    """AUC and log loss of the model over a whole split, gathered over ranks when distributed."""
    if world is None:
        auc, logloss, _, _ = evaluate(model, dataset.batches(split, batch_size), device)
        return auc, logloss
    return distributed.evaluate(model, dataset, split, batch_size, world)


def energy_per_sample(
    reading: Any, samples: int, window: str, profile: HardwareProfile
) -> dict[str, Any]:
    """The meter's reading of one window, checked, with ``samples`` (what the window processed)
    and ``joules_per_million_samples`` added when it was measured.

    A malformed reading is the hardware plugin's error and fails the cell, naming the plugin.
    """
    results.check_energy_reading(
        reading, f"metrics.energy.{window}", f"hardware profile {profile.name!r} energy meter"
    )
    if "unmeasured" in reading:
        return dict(reading)
    out = dict(reading)
    if out.get("average_watts") is None and out.get("seconds"):
        out["average_watts"] = out["joules"] / out["seconds"]
    out["samples"] = samples
    out["joules_per_million_samples"] = out["joules"] / samples * 1e6 if samples else None
    return out


def _forward_samples(batches: list[Batch], warmup: int) -> int:
    """Samples through the model in ``inference_throughput``: warm-up batches, then every batch."""
    return sum(len(b) for b in batches[:warmup]) + sum(len(b) for b in batches)


def _close(meter: Any) -> None:
    """Close a window whose measurement failed (a meter may hold a sampling thread open); the
    reading is discarded, and the failure that closed it is the one reported."""
    with contextlib.suppress(Exception):  # the cell's own failure matters more than the meter's
        meter.stop()


def _record_bandwidth(
    profile: HardwareProfile, values_per_sample: int, metrics: dict[str, Any]
) -> None:
    """The profile's memory bandwidth and the traffic of a full-table lookup per sample, the two
    terms of the leaderboard's lookup roofline (docs/measurements.md)."""
    measured = profile.memory_bandwidth()
    metrics["memory_bandwidth"] = (
        {"bytes_per_s": measured, "method": bandwidth.METHOD}
        if measured
        else {"unmeasured": f"the bandwidth probe could not run on {profile.device}"}
    )
    # Each looked-up value is read from a table and written to the output: 2 × 4 bytes.
    metrics["lookup_bytes_per_sample"] = 2 * values_per_sample * BYTES_PER_FLOAT


def _stats_for(
    method: Any, dataset: Dataset, cache: dict[str, DataStats], progress: Progress
) -> DataStats:
    """Statistics from this run's memory, else the disk cache, else computed now."""
    if not method.needs:
        return DataStats()
    key = _stats_key(method, dataset)
    if key not in cache:
        disk = StatsCache(warn=progress.warn)
        cache[key] = compute_stats(dataset, method.needs, cache=disk, notify=progress.note)
    return cache[key]


def _stats_key(method: Any, dataset: Dataset) -> str:
    return dataset.fingerprint() + "|" + ";".join(sorted(n.key() for n in method.needs))


def _host_capacity(host: Any) -> int | None:
    """Host memory available now, from the cpu hardware profile (statistics live on the host
    whatever device trains); None when no such profile is registered."""
    registered = host.registry["hardware"].get("cpu")
    return registered.cls().memory_capacity() if registered else None


def _epochs(dataset: Dataset, batch_size: int, start: int = 0) -> Iterator[Batch]:
    """Training batches, epoch after epoch, from sample ``start`` on (a resumed cell): every
    epoch yields the split's rows, so the epoch and the row in it follow from ``start``."""
    first, offset = divmod(start, dataset.num_samples("train")) if start else (0, 0)
    for epoch in itertools.count(first):
        empty = True
        batches = (
            dataset.batches_from("train", batch_size, epoch=epoch, offset=offset)
            if offset
            else dataset.batches("train", batch_size, epoch=epoch)
        )
        offset = 0
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise BenchsuiteError(f"dataset {dataset.name!r} has an empty training split")


def _take(dataset: Dataset, split: str, batch_size: int, count: int) -> list[Batch]:
    """``count`` full batches of the split, cycling through it when it is short."""
    batches = [
        b
        for b in itertools.islice(dataset.batches(split, batch_size), count)
        if len(b) == batch_size
    ]
    if not batches:
        rows = next(dataset.batches(split, batch_size))
        reps = -(-batch_size // len(rows))
        full = Batch(*(t.repeat(reps, *([1] * (t.dim() - 1)))[:batch_size] for t in rows))
        batches = [full]
    return list(itertools.islice(itertools.cycle(batches), count))
