"""The ``benchsuite`` command: parses arguments and calls the library; nothing else lives here.

Exit codes: 0 success, 1 when a cell failed (its record says why), 2 for bad input (suite,
arguments, plugins, result files), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchsuite import __version__, results
from benchsuite.api import BenchsuiteError, Budget, Method
from benchsuite.host import Host
from benchsuite.progress import Progress

LIST_KINDS = ("methods", "datasets", "hardware", "suites")
FORMATS = ("md", "csv", "json", "html")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugins-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="also load plugins from the .py files in DIR (default: $BENCHSUITE_PLUGINS_DIR)",
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
        "--hardware",
        metavar="NAME",
        help="hardware profile, e.g. cpu or 'cpu[threads=4]' (default: the suite's; "
        "see `benchsuite hardware`)",
    )
    run.add_argument("--force", action="store_true", help="rerun cells that already have records")
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

    hardware = sub.add_parser(
        "hardware",
        parents=[common],
        help="what each hardware profile can measure here",
        description="List each hardware profile: whether it is available on this machine (and "
        "why not), what `auto` picks, and how it measures timing, memory and energy here (or "
        "why it cannot), each probed by a short reading.",
    )
    hardware.add_argument("--format", choices=("text", "json"), default="text")

    sub.add_parser("plugins", parents=[common], help="list plugins, their source and hooks")

    lister = sub.add_parser("list", parents=[common], help="list registered plugins of a kind")
    lister.add_argument("kind", choices=LIST_KINDS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        host = Host(getattr(args, "plugins_dir", None))
        handler = {
            "run": _run,
            "leaderboard": _leaderboard,
            "plugins": _plugins,
            "list": _list,
            "check": _check,
            "methods": _methods,
            "mlperf": _mlperf,
            "data": _data,
            "hardware": _hardware,
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
    from benchsuite.runner import default_out_dir, run_suite
    from benchsuite.suite import load_suite

    _report_failures(host)
    suite = load_suite(
        args.suite, host, methods=args.methods, budgets=args.budgets, seeds=args.seeds
    )
    out = args.out or default_out_dir(suite)
    outcomes = run_suite(
        suite,
        out_dir=out,
        force=args.force,
        hardware=args.hardware,
        progress=Progress(enabled=not args.quiet),
    )
    text = _board_text(out, suite.name, args.format)
    board_path = (
        (args.out / "leaderboard.md")
        if args.out
        else Path("reports") / suite.name / "leaderboard.md"
    )
    board_path.parent.mkdir(parents=True, exist_ok=True)
    board_path.write_text(_board_text(out, suite.name, "md") + "\n")
    print(text)
    failed = [o for o in outcomes if o.record and o.record["status"] == "failed"]
    if failed:
        print(
            f"benchsuite: {len(failed)} cell(s) failed; their records in {out} say why:",
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


if __name__ == "__main__":
    sys.exit(main())
