"""The ``benchsuite`` command: parses arguments and calls the library; nothing else lives here.

Exit codes: 0 success, 1 when a cell failed or timed out (its record says why) or ``compare``
found a regression, 2 for bad input (suite, arguments, plugins, result files), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchsuite import __version__, results
from benchsuite.api import BenchsuiteError, Budget, Method
from benchsuite.host import Host
from benchsuite.progress import Progress

LIST_KINDS = ("methods", "datasets", "hardware", "suites")
#: Executors of ``run --executor``, as benchsuite.executors.EXECUTORS (not imported here, so that
#: starting the command line does not load torch).
EXECUTORS = ("local", "process", "submitit", "submitit-local")
#: Leaderboard formats, as benchsuite.report.leaderboard.FORMATS (not imported here, so that
#: starting the command line does not load pandas).
FORMATS = ("md", "csv", "json", "html", "latex")


class _DisablePlugin(argparse.Action):
    """``-p no:NAME``, repeatable before or after the command. Every parser level appends to
    the one list that is the option's default: argparse parses a command's options into a
    fresh namespace and copies it over, which would drop the names given before the command."""

    def __call__(self, parser: Any, namespace: Any, value: Any, option: Any = None) -> None:
        if not (isinstance(value, str) and value.startswith("no:") and value[3:]):
            parser.error(f"-p takes no:NAME to disable plugin NAME, not {value!r}")
        getattr(namespace, self.dest).append(value[3:])


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugins-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="also load plugins from the .py files in DIR (default: $BENCHSUITE_PLUGINS_DIR)",
    )
    common.add_argument(
        "-p",
        dest="disable_plugins",
        action=_DisablePlugin,
        default=[],
        metavar="no:NAME",
        help="do not load plugin NAME (repeatable; also $BENCHSUITE_DISABLE_PLUGINS=a,b)",
    )
    common.add_argument(
        "--trace-hooks",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print every hook call and its result on stderr (also $BENCHSUITE_TRACE_HOOKS=1)",
    )
    parser = argparse.ArgumentParser(
        prog="benchsuite",
        description="Benchmark embedding compression methods for recommendation models: "
        "quality, speed, memory and energy on equal terms.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"benchsuite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        parents=[common],
        help="run a suite and print its leaderboard",
        description="Run every cell of a suite that has no ok record yet, "
        "write one JSON record per cell, then print the leaderboard.",
    )
    run.add_argument("--suite", required=True, help="a registered suite name or a YAML path")
    run.add_argument(
        "--out", metavar="DIR", type=Path, help="results folder (default: reports/results/SUITE)"
    )
    run.add_argument(
        "--methods", metavar="LIST", help="replace the suite's methods, e.g. 'full,hashing[seed=3]'"
    )
    run.add_argument("--budgets", metavar="LIST", help="replace the budgets, e.g. 4x,16x,100MB")
    run.add_argument("--seeds", metavar="LIST", help="replace the seeds, e.g. 0,1,2")
    run.add_argument(
        "--only",
        metavar="CELL",
        action="append",
        help="run only this cell, by its key LABEL@BUDGET#SEED, e.g. 'hashing@8x#0' "
        "(repeatable); under torchrun every process trains it together",
    )
    run.add_argument(
        "--hardware",
        metavar="NAME",
        help="hardware profile, e.g. cpu or 'cpu[threads=4]' (default: the suite's; "
        "see `benchsuite hardware`)",
    )
    run.add_argument("--force", action="store_true", help="rerun cells that already have records")
    run.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each cell in a process of its own, so a crash, an out-of-memory kill or a "
        "hang becomes that cell's failed or timeout record (default: the suite's isolate)",
    )
    run.add_argument(
        "--timeout",
        metavar="DURATION",
        help="time limit per cell, e.g. 90s, 30m, 2h, or none (default: the suite's timeout); "
        "a cell over it is recorded as timeout. Without isolation it is checked between "
        "training steps, so a hang inside one step is only interrupted with --isolate",
    )
    run.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="with isolation: kill a cell whose process holds more than SIZE resident, e.g. "
        "8GB, and record it as failed, or none (default: the suite's memory_limit)",
    )
    run.add_argument(
        "--executor",
        choices=EXECUTORS,
        help="where cells run: local (here, one after the other; the default), process (each "
        "in a process of its own, --jobs at once), submitit (each a SLURM job with the "
        "resources the suite's hardware and limits ask for; needs pip install "
        "'benchsuite[cluster]'), submitit-local (submitit's jobs on this machine). "
        "docs/distributed.md has the details",
    )
    run.add_argument(
        "--jobs",
        metavar="K",
        help="cells running at once (default 1, and every submitted cell for submitit); "
        "--jobs alone means --executor process. Cells running together share the machine, "
        "so their speed figures are lower than alone",
    )
    run.add_argument(
        "--slurm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a SLURM parameter of the jobs, e.g. partition=gpu, account=proj, time=120 "
        "(minutes), setup='module load cuda' (repeatable; submitit executors only)",
    )
    run.add_argument("--quiet", action="store_true", help="no live progress on stderr")
    run.add_argument("--format", choices=FORMATS, default="md", help="leaderboard format printed")

    board = sub.add_parser(
        "leaderboard",
        parents=[common],
        help="print a suite's leaderboard",
        description="Build the leaderboard of a suite from its result records.",
    )
    board.add_argument("--suite", required=True, help="a registered suite name or a YAML path")
    board.add_argument(
        "--out", metavar="DIR", type=Path, help="results folder (default: reports/results/SUITE)"
    )
    board.add_argument("--format", choices=FORMATS, default="md")

    compare = sub.add_parser(
        "compare",
        parents=[common],
        help="compare two result sets; exit 1 on a regression",
        description="Put result set B beside the baseline A per leaderboard row (method, "
        "budget) of each suite both hold: A, B and B/A of every metric, and a verdict that "
        "counts an AUC change only beyond the seeds' spread and the tolerance. A and B are "
        "folders of records or REV:PATH, that folder in a git revision of the repository here "
        "(main:reports/baseline/quickstart). Exit 1 when a row regressed, 2 for bad input. "
        "docs/compare.md has the rules.",
    )
    compare.add_argument("a", metavar="A", help="the baseline: a folder or REV:PATH")
    compare.add_argument("b", metavar="B", help="the candidate: a folder or REV:PATH")
    compare.add_argument(
        "--threshold", type=float, default=1.10, metavar="FACTOR",
        help="a metric regresses when more than FACTOR times worse (default 1.10: 10%%)",
    )  # fmt: skip
    compare.add_argument(
        "--auc-tolerance", type=float, default=0.001, metavar="DELTA",
        help="AUC changes up to DELTA never count, whatever the spread (default 0.001)",
    )  # fmt: skip
    compare.add_argument("--format", choices=("md", "csv", "json"), default="md")

    check = sub.add_parser(
        "check",
        parents=[common],
        help="run the conformance kit on methods",
        description="Build each method on small tables at several budgets and check the "
        "contract: shapes, gradients, determinism, bytes within budget, nothing hidden, "
        "out-of-range ids rejected, state_dict round trip, devices. Exit 1 on any failure.",
    )
    check.add_argument(
        "methods",
        nargs="+",
        metavar="METHOD",
        help="a method, optionally with parameters: 'qr[operation=add]'",
    )
    check.add_argument(
        "--budgets",
        metavar="LIST",
        default="4x,16x,64x",
        help="budgets to check at (default: 4x,16x,64x)",
    )

    methods = sub.add_parser("methods", parents=[common], help="inspect methods")
    methods_sub = methods.add_subparsers(dest="methods_command", metavar="ACTION", required=True)
    show = methods_sub.add_parser(
        "show",
        parents=[common],
        help="how a method spends a budget on a suite's tables",
        description="Print, without training, how METHOD spends BUDGET on the tables of a "
        "suite's dataset: per table rows x dim, shared memory, total bytes, compression ratio.",
    )
    show.add_argument("method", metavar="METHOD", help="a method, e.g. 'hashing[seed=3]'")
    show.add_argument("--suite", required=True, help="a registered suite name or a YAML path")
    show.add_argument("--budget", required=True, help="a ratio (16x) or a size (100MB)")
    show.add_argument("--format", choices=("text", "json"), default="text")

    mlperf = sub.add_parser("mlperf", parents=[common], help="MLPerf-style :::MLLOG cell logs")
    mlperf_sub = mlperf.add_subparsers(dest="mlperf_command", metavar="ACTION", required=True)
    comply = mlperf_sub.add_parser(
        "check",
        parents=[common],
        help="run mlperf-logging's compliance checker on cell logs",
        description="Check the :::MLLOG log of a cell (a suite with mlperf_logging: true writes "
        "one beside each record) with mlperf-logging's compliance checker, by default against "
        "benchsuite's rules for compressed-embedding research runs (docs/plugins.md lists "
        "what they change and why). Exit 1 when a log does not comply.",
    )
    comply.add_argument("logs", nargs="+", metavar="LOG", type=Path, help="a .mllog file")
    rules = comply.add_mutually_exclusive_group()
    rules.add_argument(
        "--rules", metavar="FILE", type=Path, help="a rules file in the checker's YAML format"
    )
    rules.add_argument(
        "--stock",
        action="store_true",
        help="the package's own training 2.1.0 rules (open division) instead",
    )

    data = sub.add_parser("data", parents=[common], help="prepare and inspect real datasets")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prep = data_sub.add_parser(
        "prepare",
        parents=[common],
        help="turn raw click logs into a prepared dataset",
        description="Convert raw files (plain or gzip) into the memory-mapped prepared format "
        "training reads, with the dataset's standard splits. Runs on every core in bounded "
        "memory; an interrupted run resumes at the first unfinished part. A setting a dataset "
        "does not take is an error.",
    )
    prep.add_argument("dataset", metavar="DATASET", help="criteo-kaggle, criteo-tb, avazu, …")
    prep.add_argument(
        "--raw", nargs="+", required=True, type=Path, metavar="PATH",
        help="raw files (criteo-tb: day_N[.gz] files, day_N_*.npy files, or their folder)",
    )  # fmt: skip
    prep.add_argument(
        "--out", type=Path, metavar="DIR",
        help="prepared folder (default: $BENCHSUITE_DATA_DIR/DATASET, data/DATASET)",
    )  # fmt: skip
    prep.add_argument(
        "--bad-rows", choices=("error", "skip"), default=argparse.SUPPRESS,
        help="stop at the first bad row (error, the default) or count and drop bad rows (skip)",
    )  # fmt: skip
    prep.add_argument(
        "--min-count", type=int, metavar="N", default=argparse.SUPPRESS,
        help="ids seen fewer than N times in training share id 0 (default 1: none)",
    )  # fmt: skip
    prep.add_argument(
        "--cap", type=int, metavar="N", default=argparse.SUPPRESS,
        help="take categories modulo N before numbering them (criteo-tb default 40000000)",
    )  # fmt: skip
    prep.add_argument(
        "--days", metavar="LIST", default=argparse.SUPPRESS,
        help="criteo-tb: the days to prepare, e.g. 0-3,23 (the last one is evaluated on)",
    )  # fmt: skip
    prep.add_argument(
        "--seed", type=int, metavar="N", default=argparse.SUPPRESS,
        help="avazu: seed of the random 8:1:1 split (default 0)",
    )  # fmt: skip
    prep.add_argument(
        "--threads", type=int, metavar="N", default=argparse.SUPPRESS,
        help="parsing threads (default: up to 2 cores)",
    )  # fmt: skip
    prep.add_argument(
        "--block-mb", type=float, metavar="MB", default=argparse.SUPPRESS,
        help="bytes read per block, which bounds memory (default 8)",
    )  # fmt: skip
    prep.add_argument("--force", action="store_true", help="replace what is in --out")
    prep.add_argument("--quiet", action="store_true", help="no progress on stderr")
    info = data_sub.add_parser(
        "info",
        parents=[common],
        help="summarise a prepared dataset",
        description="Print a prepared dataset's manifest: sources, rows, splits, tables, bad "
        "and duplicate rows, and its fingerprint.",
    )
    info.add_argument("dataset", metavar="DATASET")
    info.add_argument("--path", type=Path, metavar="DIR", help="prepared folder")

    records = sub.add_parser("results", parents=[common], help="combine result folders")
    records_sub = records.add_subparsers(dest="results_command", metavar="ACTION", required=True)
    merge = records_sub.add_parser(
        "merge",
        parents=[common],
        help="merge result folders from several machines into one",
        description="Validate every record under each DIR and copy the new ones into "
        "INTO/<suite>/. A file that is not a valid record is listed and left out; the same "
        "record twice is kept once; two different records of one cell are a conflict, listed "
        "with what differs, and the one already in INTO (else the first DIR's) is kept. Exit 0 "
        "when everything was merged or a duplicate, 1 when a file was rejected or conflicted "
        "(the rest is still merged), 2 for bad arguments.",
    )
    merge.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="a folder of records")
    merge.add_argument(
        "--into", required=True, type=Path, metavar="INTO", help="the folder to merge into"
    )
    merge.add_argument(
        "--prefer",
        choices=("first", "newer"),
        default="first",
        help="on a conflict keep the first record seen (default) or the one that finished later",
    )

    hardware = sub.add_parser(
        "hardware",
        parents=[common],
        help="what each hardware profile can measure here",
        description="List each hardware profile: whether it is available on this machine (and "
        "why not), what `auto` picks, and how it measures timing, memory and energy here (or "
        "why it cannot), each probed by a short reading.",
    )
    hardware.add_argument("--format", choices=("text", "json"), default="text")

    publish = sub.add_parser(
        "publish",
        parents=[common],
        help="write the leaderboards as a static site",
        description="Write a static site (opens from file://, no server): an index of suites "
        "and per suite the sortable leaderboard, its plots (PNG and SVG), the configuration "
        "the cells ran with, the hardware, and the leaderboard as md, csv, json and LaTeX. "
        "Every record is validated first; a bad one stops the publish, naming the file.",
    )
    publish.add_argument(
        "--suite",
        action="append",
        metavar="NAME",
        help="publish only this suite (repeatable; default: every suite with records)",
    )
    publish.add_argument(
        "--results",
        metavar="DIR",
        type=Path,
        default=Path("reports/results"),
        help="folder of result records, searched recursively (default: reports/results)",
    )
    publish.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("reports/site"),
        help="where the site goes (default: reports/site)",
    )

    plugins = sub.add_parser(
        "plugins",
        parents=[common],
        help="list plugins, their source and hooks",
        description="List the loaded plugins (version, source, hooks), the disabled ones and "
        "what disabled them, and those that failed to load and why.",
    )
    plugins.add_argument(
        "--trace",
        action="store_true",
        help="print each registration hook call and its result on stderr (as --trace-hooks)",
    )

    scaffold = sub.add_parser(
        "new-plugin",
        parents=[common],
        help="write a method plugin package to start a new method from",
        description="Write PATH/benchsuite-NAME: a pip-installable package whose method NAME "
        "already passes `benchsuite check NAME` (a hashed shared table to replace with your "
        "idea), its pyproject.toml with the entry point, a pytest file running the "
        "conformance kit, and a README. Refuses an existing folder, and a NAME that is not "
        "a valid plugin name or is taken by a registered method or a loaded plugin.",
    )
    scaffold.add_argument("name", metavar="NAME", help="the method's name, e.g. bloom")
    scaffold.add_argument(
        "--dir", type=Path, default=Path("."), metavar="PATH", help="parent folder (default: .)"
    )

    lister = sub.add_parser("list", parents=[common], help="list registered plugins of a kind")
    lister.add_argument("kind", choices=LIST_KINDS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        trace = getattr(args, "trace_hooks", False) or getattr(args, "trace", False)
        host = Host(
            getattr(args, "plugins_dir", None),
            disable={name: f"-p no:{name}" for name in args.disable_plugins},
            trace=sys.stderr if trace else None,
        )
        for warning in host.warnings:
            print(f"benchsuite: warning: {warning}", file=sys.stderr)
        handler = {
            "run": _run,
            "leaderboard": _leaderboard,
            "compare": _compare,
            "plugins": _plugins,
            "list": _list,
            "check": _check,
            "methods": _methods,
            "mlperf": _mlperf,
            "data": _data,
            "results": _results,
            "hardware": _hardware,
            "publish": _publish,
            "new-plugin": _new_plugin,
        }[args.command]
        return handler(args, host)
    except BenchsuiteError as exc:
        print(f"benchsuite: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchsuite: interrupted; finished cells are saved", file=sys.stderr)
        return 130


def _report_failures(host: Host) -> None:
    for f in host.failures:
        print(
            f"benchsuite: warning: plugin {f.plugin!r} ({f.source}) not loaded: {f.reason}",
            file=sys.stderr,
        )


def _run(args: argparse.Namespace, host: Host) -> int:
    from benchsuite import distributed
    from benchsuite.executors import make_executor
    from benchsuite.runner import default_out_dir, run_suite
    from benchsuite.suite import load_suite

    executor = make_executor(args.executor, jobs=args.jobs, slurm=args.slurm)
    _report_failures(host)
    suite = load_suite(
        args.suite, host, methods=args.methods, budgets=args.budgets, seeds=args.seeds
    )
    if args.only:
        suite.narrow(args.only)
    out = args.out or default_out_dir(suite)
    outcomes = run_suite(
        suite,
        out_dir=out,
        force=args.force,
        hardware=args.hardware,
        progress=Progress(enabled=not args.quiet),
        isolate=args.isolate,
        timeout=args.timeout,
        memory_limit=args.memory_limit,
        executor=executor,
    )
    place = distributed.from_environment()
    if place is not None and place[0] != 0:
        return 0  # a distributed run's report is rank 0's
    text = _board_text(out, suite.name, args.format)
    board_path = (
        (args.out / "leaderboard.md")
        if args.out
        else Path("reports") / suite.name / "leaderboard.md"
    )
    board_path.parent.mkdir(parents=True, exist_ok=True)
    board_path.write_text(_board_text(out, suite.name, "md") + "\n")
    print(text)
    elsewhere = [o for o in outcomes if o.elsewhere is not None]
    if elsewhere:
        print(
            f"benchsuite: {len(elsewhere)} cell(s) were running in another process and were "
            "skipped; their records appear when that process finishes them:",
            file=sys.stderr,
        )
        for o in elsewhere:
            print(f"  {o.cell} (pid {o.elsewhere or 'unknown'})", file=sys.stderr)
    failed = [o for o in outcomes if o.record and o.record["status"] in ("failed", "timeout")]
    if failed:
        print(
            f"benchsuite: {len(failed)} cell(s) failed or timed out; their records in {out} "
            "say why:",
            file=sys.stderr,
        )
        for o in failed:
            print(f"  {o.cell}: {o.record['error']}", file=sys.stderr)
        return 1
    return 0


def _board_text(folder: Path, suite: str, fmt: str) -> str:
    from benchsuite.report.leaderboard import leaderboard_frame, render

    if not folder.is_dir():
        raise BenchsuiteError(f"no results for suite {suite!r}: {folder} does not exist")
    records = results.load_records(folder)
    if not records:
        raise BenchsuiteError(f"no results for suite {suite!r} in {folder}")
    return render(leaderboard_frame(records), fmt)


def _leaderboard(args: argparse.Namespace, host: Host) -> int:
    from benchsuite.runner import default_out_dir
    from benchsuite.suite import load_suite

    suite = load_suite(args.suite, host)
    print(_board_text(args.out or default_out_dir(suite), suite.name, args.format))
    return 0


def _publish(args: argparse.Namespace, host: Host) -> int:
    from benchsuite.report.site import SuiteResults, publish
    from benchsuite.suite import describe_suite

    if not args.results.is_dir():
        raise BenchsuiteError(f"{args.results}: no such folder of result records")
    by_suite: dict[str, list[dict[str, Any]]] = {}
    for record in results.load_records(args.results):
        by_suite.setdefault(record["suite"]["name"], []).append(record)
    wanted = list(dict.fromkeys(args.suite or sorted(by_suite)))
    unknown = [name for name in wanted if name not in by_suite]
    if unknown:
        have = ", ".join(sorted(by_suite)) or "none"
        raise BenchsuiteError(
            f"no records of suite {', '.join(map(repr, unknown))} in {args.results} "
            f"(suites with records: {have})"
        )
    suites = [
        SuiteResults(
            name,
            by_suite[name],
            describe_suite(host.suites[name]) if name in host.suites else None,
        )
        for name in wanted
    ]
    pages = publish(suites, args.out)
    print(f"published {len(suites)} suite(s): {pages[0].resolve().as_uri()}")
    return 0


def _compare(args: argparse.Namespace, host: Host) -> int:
    from benchsuite.report.compare import compare_results, load_result_set, render_comparison

    a, b = load_result_set(args.a), load_result_set(args.b)
    comparison = compare_results(a, b, threshold=args.threshold, auc_tolerance=args.auc_tolerance)
    for warning in comparison.warnings:
        print(f"benchsuite: warning: {warning}", file=sys.stderr)
    print(render_comparison(comparison, args.format, names=(args.a, args.b)), end="")
    if args.format == "csv":  # the table alone on stdout, so it parses
        print(comparison.summary(), file=sys.stderr)
    return 1 if comparison.regressed else 0


def _method(spec: str, host: Host) -> Method:
    from benchsuite.params import parse_method

    name, params = parse_method(spec)
    return host.get("methods", name).cls(**params)


def _check(args: argparse.Namespace, host: Host) -> int:
    from benchsuite.testing import check_method, summary_lines

    _report_failures(host)
    budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    for b in budgets:
        Budget.parse(b)
    methods = [_method(spec, host) for spec in args.methods]
    failures = 0
    for method in methods:
        print(method.label())
        results = check_method(method, budgets=budgets)
        for line in summary_lines(results):
            print("  " + line)
        failures += sum(not r.passed for r in results)
    print(f"{failures} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


def _methods(args: argparse.Namespace, host: Host) -> int:
    from benchsuite.report.budget import budget_report, render_budget
    from benchsuite.stats import compute_stats
    from benchsuite.suite import load_suite

    suite = load_suite(args.suite, host)
    method = _method(args.method, host)
    spec = suite.config["dataset"]
    dataset = host.get("datasets", spec["name"]).cls(**spec["params"])
    stats = compute_stats(dataset, method.needs)
    report = budget_report(
        method, dataset.tables, suite.config["model"]["dim"], Budget.parse(args.budget), stats
    )
    report["suite"] = suite.name
    report["dataset"] = {"name": dataset.name, "fingerprint": dataset.fingerprint()}
    print(render_budget(report, args.format))
    return 0


def _mlperf(args: argparse.Namespace, host: Host) -> int:
    for d in host.disabled:
        if d.name == "mlperf":  # a disabled plugin stays unimported, this command included
            raise BenchsuiteError(f"`mlperf check` needs plugin 'mlperf', disabled by {d.by}")
    from benchsuite_plugins.loggers.mlperf import check_log

    failed = 0
    for log in args.logs:
        report = check_log(log, args.rules, stock=args.stock)
        if report.passed:
            print(f"{log}: complies with {report.rules}")
            continue
        failed += 1
        print(f"{log}: {len(report.problems)} problem(s) with {report.rules}:")
        for problem in report.problems:
            print("  " + problem.replace("\n", "\n    "))
    return 1 if failed else 0


_PREPARE_SETTINGS = ("bad_rows", "min_count", "cap", "days", "seed", "threads", "block_mb")


def _data(args: argparse.Namespace, host: Host) -> int:
    from benchsuite.data import PreparedData, Report, data_dir

    _report_failures(host)
    cls = host.get("datasets", args.dataset).cls
    if args.data_command == "info":
        folder = args.path or data_dir(args.dataset)
        manifest = PreparedData(folder, args.dataset).manifest
        print(_describe_prepared(folder, manifest))
        return 0
    if cls.preparation is None:
        raise BenchsuiteError(f"dataset {args.dataset!r} is not prepared from raw files")
    given = {k: getattr(args, k) for k in _PREPARE_SETTINGS if hasattr(args, k)}
    unknown = sorted(set(given) - set(cls.preparation))
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        takes = ", ".join("--" + k.replace("_", "-") for k in cls.preparation)
        raise BenchsuiteError(f"dataset {args.dataset!r} does not take {flags} (it takes {takes})")
    for key in ("min_count", "cap", "threads", "block_mb"):
        if key in given and given[key] < (0 if key in ("cap", "threads") else 1):
            raise BenchsuiteError(f"--{key.replace('_', '-')} must be positive, not {given[key]}")
    out = args.out or data_dir(args.dataset)
    total = sum(p.stat().st_size for p in args.raw if p.is_file())
    report = Report(total, enabled=not args.quiet)
    cls.prepare_raw(list(args.raw), out, given, force=args.force, report=report)
    return 0


def _results(args: argparse.Namespace, host: Host) -> int:
    from benchsuite.merge import merge_results

    report = merge_results(args.dirs, args.into, prefer=args.prefer)
    for line in report.problem_lines():
        print(line, file=sys.stderr)
    print(report.summary())
    return 0 if report.clean else 1


def _describe_prepared(folder: Path, manifest: dict) -> str:
    lines = [
        f"{manifest['dataset']} in {folder}  (fingerprint {manifest['fingerprint']})",
        f"rows: {manifest['rows']:,}  "
        + "  ".join(f"{k} {v:,}" for k, v in manifest["split_rows"].items()),
        f"settings: {', '.join(f'{k}={v}' for k, v in manifest['settings'].items())}",
        "sources: " + ", ".join(f"{s['source']} ({s['rows']:,} rows)" for s in manifest["sources"]),
        "tables: " + " ".join(f"{f['name']}={f['rows']:,}" for f in manifest["features"]),
        f"bad rows: {manifest['bad_rows'] or 'none'}",
        f"duplicate rows: {manifest['duplicate_rows']:,}",
    ]
    return "\n".join(lines)


def _hardware(args: argparse.Namespace, host: Host) -> int:
    from benchsuite.hardware import auto_choice, describe_hardware, render_hardware

    _report_failures(host)
    print(render_hardware(auto_choice(host), describe_hardware(host), args.format))
    return 0


def _plugins(args: argparse.Namespace, host: Host) -> int:
    from tabulate import tabulate

    rows = [
        [p.name, p.version, p.source, ", ".join(h.removeprefix("benchsuite_") for h in p.hooks)]
        for p in host.plugins
    ]
    print(tabulate(rows, headers=["plugin", "version", "source", "hooks"], tablefmt="simple"))
    if host.disabled:
        print("\ndisabled:")
        for d in host.disabled:
            print(f"  {d.name} ({d.source}): disabled by {d.by}")
    if host.failures:
        print("\nnot loaded:")
        for f in host.failures:
            print(f"  {f.plugin} ({f.source}): {f.reason}")
    return 0


def _list(args: argparse.Namespace, host: Host) -> int:
    _report_failures(host)
    if args.kind == "suites":
        from benchsuite.suite import describe_suite

        width = max((len(name) for name in host.suites), default=0)
        for name, path in host.suites.items():
            print(f"{name:<{width}}  {describe_suite(path)}")
        return 0
    width = max((len(name) for name in host.registry[args.kind]), default=0)
    for name, reg in host.registry[args.kind].items():
        note = ""
        if args.kind == "hardware":
            ok, why = reg.cls.available()
            note = "" if ok else f"  (not available here: {why})"
        print(f"{name:<{width}}  {reg.summary}  [{reg.plugin.name}]{note}")
    return 0


def _new_plugin(args: argparse.Namespace, host: Host) -> int:
    import shlex

    from benchsuite.scaffold import new_plugin

    folder, files = new_plugin(args.name, args.dir, host)
    print(f"wrote {folder}, the plugin package of method {args.name!r}:")
    for path in files:
        print(f"  {path}")
    print(
        f"next: cd {shlex.quote(str(folder))} && pip install -e . && benchsuite check "
        f"{args.name}\n(README.md says how to test it, add it to a suite and read the leaderboard)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
