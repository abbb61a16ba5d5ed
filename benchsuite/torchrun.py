"""The executor of a run started by torchrun: every cell trained by all of torchrun's processes.

``torchrun --nproc-per-node N -m benchsuite run --suite S [--only CELL]`` starts N copies of the
run; :func:`benchsuite.runner.run_suite` sees torchrun's environment and hands the cells to
:class:`TorchrunExecutor`. The cells run one after another, each data-parallel over all ranks
(:mod:`benchsuite.distributed`). Rank 0 claims each cell (its lock, its record checked under the
lock), tells the others whether it runs, prints progress and writes the record; the record is
the same in form as any other executor's, plus a ``distributed`` section.

A cell that fails out of step (an error on one rank in the middle of training, while the others
wait in a collective) ends the run once rank 0 has written its record: the process exits with an
error and torchrun stops the other ranks, rather than leaving them waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchsuite import distributed, isolation, runner
from benchsuite.api import BenchsuiteError, HardwareProfile
from benchsuite.executors import Claim, Executor, SuiteRun
from benchsuite.progress import Progress
from benchsuite.runner import CellOutcome
from benchsuite.suite import Cell


class TorchrunExecutor(Executor):
    """Each cell on every rank of the process group torchrun's environment describes."""

    name = "torchrun"
    isolates = False

    def __init__(self, place: tuple[int, int, int]) -> None:
        self.rank, self.size, self.local_rank = place

    def limits(
        self,
        config: dict[str, Any],
        *,
        isolate: bool | None,
        timeout: str | float | None,
        memory_limit: str | int | None,
    ) -> isolation.CellLimits:
        limits = super().limits(config, isolate=isolate, timeout=timeout, memory_limit=memory_limit)
        if limits.isolate:
            raise BenchsuiteError(
                "isolation (--isolate or the suite key isolate) cannot run under torchrun: "
                "torchrun already gives each rank a process of its own; run without it"
            )
        return limits

    def hardware(self, host: Any, spec: str) -> HardwareProfile:
        """The suite's profile, on this rank's own GPU when it is CUDA (``LOCAL_RANK``)."""
        profile = runner.select_hardware(host, spec)
        if profile.device.type == "cuda" and self.local_rank and profile.params.get("device") == 0:
            profile = type(profile)(**{**profile.params, "device": self.local_rank})
        profile.setup()
        return profile

    def run(self, run: SuiteRun, cells: Sequence[Cell]) -> list[CellOutcome]:
        world = distributed.World.join((self.rank, self.size, self.local_rank), run.profile.device)
        progress = run.progress if world.main else Progress(enabled=False)
        if world.main:
            progress.note(
                f"distributed: {world.size} processes ({world.backend}); rank 0 writes the records"
            )
        try:
            return [self._cell(run, world, progress, i, cell) for i, cell in enumerate(cells, 1)]
        finally:
            world.leave()

    def _cell(
        self, run: SuiteRun, world: distributed.World, progress: Progress, index: int, cell: Cell
    ) -> CellOutcome:
        claim: Claim | CellOutcome | None = run.claim(index, cell) if world.main else None
        skipped = world.broadcast(
            None if claim is None or isinstance(claim, Claim) else (claim.skipped, claim.elsewhere)
        )
        if skipped is not None:
            return claim if isinstance(claim, CellOutcome) else CellOutcome(cell, None, *skipped)
        config = (
            claim.config
            if isinstance(claim, Claim)
            else runner.cell_config(run.suite, cell, run.profile)
        )
        progress.start(index, run.total, cell)
        try:
            record = runner.run_cell(
                run.suite, cell, run.dataset, run.profile, config, run.stats_cache, progress,
                run_dir=run.out, deadline=run.limits.deadline(), world=world,
            )  # fmt: skip
            if isinstance(claim, Claim):
                runner.finish_cell(run.suite, cell, record, run.out, claim.path)
        finally:
            if isinstance(claim, Claim):
                claim.lock.release()
        progress.end(record)
        if record.get("distributed", {}).get("stopped_run"):
            where = f"; its record is {claim.path}" if isinstance(claim, Claim) else ""
            raise BenchsuiteError(
                f"rank {world.rank}: cell {cell} failed in the middle of distributed training "
                f"({record['error']}); the other ranks cannot go on in step, so the run stops "
                f"here{where}"
            )
        return CellOutcome(cell, record)
