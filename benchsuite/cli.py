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
    run.add_argument("--hardware", metavar="NAME", help="hardware profile (default: the suite's)")
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

        for name, path in host.suites.items():
            print(f"{name:<16} {describe_suite(path)}")
        return 0
    for name, reg in host.registry[args.kind].items():
        note = ""
        if args.kind == "hardware":
            ok, why = reg.cls.available()
            note = "" if ok else f"  (not available here: {why})"
        print(f"{name:<16} {reg.summary}  [{reg.plugin.name}]{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
