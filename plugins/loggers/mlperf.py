"""``mlperf``: an MLPerf Training style ``:::MLLOG`` log of each cell, and its compliance check.

A suite with ``mlperf_logging: true`` gets, beside each cell's JSON record, ``<record stem>.mllog``
written with the ``mlperf-logging`` package (``pip install 'benchsuite[mlperf]'``), each cell
through its own logger, never the package's shared default one. The keys follow the MLPerf DLRM
references: ``cache_clear``, ``init_start``, ``submission_*`` (benchmark ``dlrm``, open division,
status ``research``), ``global_batch_size``, ``gradient_accumulation_steps``, ``seed``,
``opt_*`` (DLRM v1's names for SGD, DLRM-DCNv2's for Adagrad), ``init_stop`` and ``run_start``
when training starts, ``train_samples`` and ``eval_samples`` (the splits' sizes), per evaluation
a ``block_start``/``block_stop`` around the training since the previous one and
``eval_start``/``eval_accuracy``/``eval_stop`` (the validation AUC, with the fractional
``epoch_num`` = samples trained / training split size, counted from 0), and ``run_stop`` with
status ``success`` when the suite's target AUC was reached, else ``aborted``, at the moment
training stopped. Two keys of benchsuite's own: ``benchsuite_target_auc`` (the suite's target)
and ``benchsuite_status`` (the record's status, last).

:func:`check_log` runs the package's compliance checker on such a log with ``mlperf_rules.yaml``
(the checker's YAML format; also usable as ``python -m mlperf_logging.compliance_checker
--ruleset 2.1.0 --config mlperf_rules.yaml LOG``). Its basis is training 2.1.0, the last
ruleset with the DLRM benchmark whose recipe the criteo-tb suites follow (``dlrm`` ran from
0.7.0 to 2.1.0; 3.0.0 to 6.0.0 had ``dlrm_dcnv2``, 6.1.0 has ``dlrmv4``), plus DLRM-DCNv2's
Adagrad rules from training 6.0.0. It keeps the rules that apply to a compressed-embedding
research run and changes those that cannot:

- ``submission_division`` must be ``open``: the closed division requires the reference model
  with full tables, which compressing the embeddings departs from.
- ``weights_initialization`` of the reference's nine tensors (closed DLRM) is dropped: the
  embedding is whatever module the method builds, and the MLPs' depth is the suite's.
- ``sgd_opt_learning_rate_decay_poly_power == 2`` (closed DLRM) is dropped: benchsuite trains
  with a constant learning rate, so there is no polynomial decay to describe; its warm-up and
  decay steps are logged as 0.
- ``opt_name`` may be ``sgd`` (DLRM v1) or ``adagrad`` (DLRM-DCNv2, whose closed rules require
  it): a suite picks its optimizer. Each optimizer's own keys must be there, and the other's
  must not; with Adagrad, DLRM-DCNv2's values apply (no learning-rate decay, initial
  accumulator 0, epsilon 1e-8).
- ``eval_samples == 89137319`` (DLRM-DCNv2: the full Criteo 1TB validation split) is relaxed
  to a positive count: synthetic data and subsets have other sizes.
- At least one ``eval_accuracy >= 0.8025`` (DLRM; 0.80275 for DLRM-DCNv2) is dropped: that is
  the full model's target, and whether a compressed one reaches it is the measurement, not a
  condition of a valid log. Instead ``run_stop``'s status must agree with the suite's own
  target (``benchsuite_target_auc``): ``success`` exactly when an evaluation reached it.
- Added, since the log allows checking them: evaluations in ``eval_start``/``eval_stop`` pairs,
  ``epoch_num`` increasing, AUC values within [0, 1], ``seed`` logged once.

The same logs also pass the package's stock training 2.1.0 rules (``stock=True``), whose open
division asks for less.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchsuite.api import BenchsuiteError
from benchsuite.hookspecs import hookimpl
from benchsuite.results import record_path

INSTALL = "pip install 'benchsuite[mlperf]'"
RULES = Path(__file__).with_name("mlperf_rules.yaml")
RULESET = "2.1.0"  # the checker's line parser and stock rules: the last with DLRM
STOCK_RULES = f"training_{RULESET}/common.yaml"
BENCHMARK = "dlrm"
ORG = "benchsuite"
TOKEN = ":::MLLOG "


def log_path(run_dir: Path, cell_key: str) -> Path:
    """The cell's log: its record's file name with ``.mllog`` for ``.json``."""
    return record_path(Path(run_dir), cell_key).with_suffix(".mllog")


def _package() -> tuple[Any, Any]:
    """``mlperf_logging.mllog`` and its constants, or one clear message on how to get them."""
    try:
        from mlperf_logging.mllog import constants, mllog
    except ImportError as exc:
        raise BenchsuiteError(
            f"mlperf_logging: true needs the mlperf-logging package ({exc}); "
            f"install it with: {INSTALL}"
        ) from None
    return mllog, constants


def _optimizer_keys(c: Any, name: str, lr: float) -> dict[str, float | int]:
    """The ``opt_*`` values of ``benchsuite.training.make_optimizer``'s optimizers, which run
    without weight decay or a learning-rate schedule (Adagrad as torch's, with eps 1e-8).

    Adagrad's keys have DLRM-DCNv2's names, SGD's DLRM v1's (the package has no constants for
    those)."""
    keys: dict[str, float | int] = {c.OPT_WEIGHT_DECAY: 0.0, c.OPT_LR_WARMUP_STEPS: 0}
    if name == "adagrad":
        keys.update(
            {
                c.OPT_ADAGRAD_LR_DECAY: 0.0,
                c.OPT_ADAGRAD_INITIAL_ACCUMULATOR_VALUE: 0.0,
                c.OPT_ADAGRAD_EPSILON: 1e-8,
                c.OPT_LR_DECAY_START_STEP: 0,
                c.OPT_LR_DECAY_STEPS: 0,
            }
        )
    else:
        keys.update(
            {
                "sgd_opt_base_learning_rate": lr,
                "lr_decay_start_steps": 0,
                "sgd_opt_learning_rate_decay_steps": 0,
            }
        )
    return keys


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


@dataclass
class _CellLog:
    """One cell's open log: its own logger and file, and what the next events depend on."""

    path: Path
    mllogger: Any
    constants: Any
    handler: logging.Handler
    evaluations: int = 0
    last: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.handler.close()


_OPEN: dict[tuple[str, str], _CellLog] = {}


def _slot(run_dir: Path, cell: Any) -> tuple[str, str]:
    return str(Path(run_dir).resolve()), cell.key


def _open(path: Path, mllog: Any, constants: Any) -> _CellLog:
    """A logger of the cell's own writing only to ``path``: not in logging's registry, not
    propagating, so neither the package's default logger nor the root logger sees its lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.Logger(f"benchsuite.mlperf.{path.stem}", logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    # Call sites are reported relative to the folder above the plugins package.
    root = re.escape(str(Path(__file__).resolve().parent.parent.parent))
    try:
        mllogger = mllog.MLLogger(logger=logger, root_dir=root)
    except Exception:
        handler.close()
        raise
    return _CellLog(path, mllogger, constants, handler)


@hookimpl
def benchsuite_cell_start(cell: Any, config: dict[str, Any], run_dir: Path) -> None:
    """Open the cell's log and write everything known before training: init, submission,
    hyperparameters, the suite's target."""
    if not config.get("mlperf_logging"):
        return
    mllog, c = _package()
    slot = _slot(run_dir, cell)
    if slot in _OPEN:  # a run interrupted before its cell_end left it open
        _OPEN.pop(slot).close()
    log = _open(log_path(run_dir, cell.key), mllog, c)
    _OPEN[slot] = log
    ml, train = log.mllogger, config["train"]
    ml.event(key=c.CACHE_CLEAR, value=True)
    ml.start(key=c.INIT_START)
    ml.event(key=c.SUBMISSION_BENCHMARK, value=BENCHMARK)
    ml.event(key=c.SUBMISSION_ORG, value=ORG)
    ml.event(key=c.SUBMISSION_DIVISION, value=c.OPEN)
    ml.event(key=c.SUBMISSION_STATUS, value=c.RESEARCH)
    ml.event(key=c.SUBMISSION_PLATFORM, value=str(config.get("hardware") or "unknown"))
    ml.event(
        key="benchsuite_cell",
        value=cell.key,
        metadata={"method": cell.method, "budget": cell.budget.label},
    )
    ml.event(key=c.GLOBAL_BATCH_SIZE, value=train["batch_size"])
    ml.event(key=c.GRADIENT_ACCUMULATION_STEPS, value=1)
    ml.event(key=c.SEED, value=cell.seed)
    ml.event(key=c.OPT_NAME, value=train["optimizer"])
    ml.event(key=c.OPT_BASE_LR, value=train["lr"])
    for key, value in _optimizer_keys(c, train["optimizer"], train["lr"]).items():
        ml.event(key=key, value=value)
    ml.event(key="benchsuite_target_auc", value=train["target_auc"])


@hookimpl
def benchsuite_evaluation(cell: Any, point: dict[str, Any], run_dir: Path) -> None:
    """Log the training block since the previous evaluation and this evaluation, at the times
    they happened; the first one also ends init and starts the run."""
    log = _OPEN.get(_slot(run_dir, cell))
    if log is None:
        return
    ml, c = log.mllogger, log.constants
    epoch, samples = point["epoch"], point["samples"]
    progress = {c.EPOCH_NUM: epoch, c.SAMPLES_COUNT: samples}
    if log.evaluations == 0:
        started = _ms(point["train_start_time"])
        ml.end(key=c.INIT_STOP, time_ms=started)
        ml.start(key=c.RUN_START, time_ms=started)
        ml.event(key=c.TRAIN_SAMPLES, value=point["train_split_samples"], time_ms=started)
        ml.event(key=c.EVAL_SAMPLES, value=point["validation_split_samples"], time_ms=started)
        block_from, first_epoch, first_samples = started, 0.0, 0
    else:
        last = log.last
        block_from, first_epoch, first_samples = (
            _ms(last["eval_end_time"]),
            last["epoch"],
            last["samples"],
        )
    # A block is the training between two evaluations: it starts at the epoch (fractional)
    # the previous one ended and spans the epochs trained since.
    block = {c.FIRST_EPOCH_NUM: first_epoch, c.EPOCH_COUNT: epoch - first_epoch}
    eval_start, eval_end = _ms(point["eval_start_time"]), _ms(point["eval_end_time"])
    ml.start(
        key=c.BLOCK_START,
        metadata={**block, c.SAMPLES_COUNT: first_samples},
        time_ms=block_from,
    )
    ml.end(key=c.BLOCK_STOP, metadata={**block, c.SAMPLES_COUNT: samples}, time_ms=eval_start)
    ml.start(key=c.EVAL_START, metadata=progress, time_ms=eval_start)
    ml.event(key=c.EVAL_ACCURACY, value=point["auc"], metadata=progress, time_ms=eval_end)
    ml.end(key=c.EVAL_STOP, metadata=progress, time_ms=eval_end)
    log.evaluations += 1
    log.last = dict(point)


@hookimpl
def benchsuite_cell_end(cell: Any, record: dict[str, Any], run_dir: Path) -> None:
    """Stop the run (``success`` when the target was reached), close the log, and name it in
    the record's ``artifacts``."""
    log = _OPEN.pop(_slot(run_dir, cell), None)
    if log is None:
        return
    ml, c = log.mllogger, log.constants
    try:
        if log.evaluations:
            reached = bool(record["metrics"].get("target_reached"))
            # An ok run's training ends with its last evaluation; any other stopped just now.
            stopped = log.last["eval_end_time"] if record["status"] == "ok" else time.time()
            ml.end(
                key=c.RUN_STOP,
                metadata={
                    c.STATUS: c.SUCCESS if reached else c.ABORTED,
                    c.EPOCH_NUM: log.last["epoch"],
                    c.SAMPLES_COUNT: log.last["samples"],
                },
                time_ms=_ms(stopped),
            )
        ml.event(
            key="benchsuite_status", value=record["status"], metadata={"error": record["error"]}
        )
    finally:
        log.close()
    record["artifacts"] = {**record.get("artifacts", {}), "mllog": log.path.name}


# -- compliance ------------------------------------------------------------------------------


@dataclass
class ComplianceReport:
    """The outcome of checking one log: no problems means it complies with ``rules``."""

    path: Path
    rules: str
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


def _checker() -> tuple[Any, Any]:
    try:
        from mlperf_logging.compliance_checker import mlp_compliance, mlp_parser
    except ImportError as exc:
        raise BenchsuiteError(
            f"checking MLPerf logs needs the mlperf-logging package ({exc}); "
            f"install it with: {INSTALL}"
        ) from None
    return mlp_compliance, mlp_parser


def check_log(path: Path, rules: Path | None = None, *, stock: bool = False) -> ComplianceReport:
    """Run mlperf-logging's compliance checker on one log.

    With benchsuite's rules (``RULES``) unless ``rules`` names another file in the checker's
    format or ``stock`` asks for the package's own training 2.1.0 rules. Warnings count as
    problems: a log benchsuite wrote never repeats a key. Raises :class:`BenchsuiteError` for
    a log or rules file that cannot be read, or when the package is missing.
    """
    mlp_compliance, mlp_parser = _checker()
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")  # the checker's own reading of a log
    except OSError as exc:
        raise BenchsuiteError(f"{path}: cannot read ({exc.strerror or exc})") from None
    config = STOCK_RULES if stock else str(Path(rules or RULES).resolve())
    label = f"mlperf-logging training {RULESET} rules" if stock else str(rules or RULES.name)
    if not stock and not Path(config).is_file():
        raise BenchsuiteError(f"{rules}: no such rules file")
    record_lines = [n for n, line in enumerate(text.splitlines(), 1) if TOKEN in line]
    problems = _malformed(path, text)
    if problems:
        return ComplianceReport(path, label, problems)
    loglines, errors = mlp_parser.parse_file(str(path), ruleset=RULESET)
    problems = [f"{path}: cannot parse {line!r}: {why}" for line, why in errors]
    checker = mlp_compliance.make_checker("training", RULESET, False, True)
    mlp_compliance.enqueued_configs.clear()
    # The checker reports through the root logger; a handler there keeps logging.info from
    # installing a stderr handler on it for the rest of the process.
    root, quiet = logging.getLogger(), logging.NullHandler()
    root.addHandler(quiet)
    try:
        # os.path.join inside the checker keeps an absolute rules path as it is.
        checker.check_loglines(loglines, config)
    except (OSError, yaml.YAMLError) as exc:
        raise BenchsuiteError(f"{config}: the checker cannot use these rules: {exc}") from None
    except Exception as exc:  # a rule that raised on this log's values
        problems.append(f"the checker stopped on this log: {type(exc).__name__}: {exc}")
    finally:
        root.removeHandler(quiet)
        mlp_compliance.enqueued_configs.clear()
    messages = [
        *checker.warnings.values(),
        *checker.overwritable.values(),
        *checker.not_overwritable,
    ]
    problems += [_condense(m, path, record_lines) for m in messages]
    return ComplianceReport(path, label, problems)


def _malformed(path: Path, text: str) -> list[str]:
    """Lines carrying the ``:::MLLOG`` mark that are not whole records (the checker's parser
    would stop with a bare KeyError on some of them). Other lines are not records, and the
    checker skips them as it does in a training job's mixed output."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        at = line.rfind(TOKEN)
        if at < 0:
            continue
        body = line[at + len(TOKEN) :].strip()
        try:
            entry = json.loads(body)
        except ValueError as exc:
            problems.append(f"{path}:{number}: not valid JSON after ':::MLLOG' ({exc})")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{path}:{number}: an :::MLLOG record must be a JSON object")
            continue
        missing = [k for k in ("time_ms", "key", "value", "metadata") if k not in entry]
        if missing:
            problems.append(f"{path}:{number}: :::MLLOG record without {', '.join(missing)}")
        elif not isinstance(entry["time_ms"], (int, float)) or isinstance(entry["time_ms"], bool):
            problems.append(f"{path}:{number}: time_ms must be a number")
        elif not isinstance(entry["metadata"], dict):
            problems.append(f"{path}:{number}: metadata must be a JSON object")
    return problems


def _condense(message: str, path: Path, record_lines: list[int]) -> str:
    """The checker's message without its state dump, with the file's line number (the
    checker counts only the ``:::MLLOG`` lines, from 0)."""
    lines = []
    for line in message.strip().splitlines():
        if line.startswith("current context"):
            break
        lines.append(line)

    def file_line(match: re.Match[str]) -> str:
        index = int(match.group(1))
        number = record_lines[index] if index < len(record_lines) else index + 1
        return f"at {path.name}:{number}:"

    text = re.sub(r"in line (\d+):", file_line, "\n".join(lines))
    return f"at the end of {path.name}, {text}" if text.startswith("failed test:") else text
