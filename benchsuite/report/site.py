"""The published site: static HTML that needs no server and opens from ``file://``.

An index of suites, and per suite the leaderboard as a sortable table, the plots, the
configuration the cells ran with and the hardware they ran on, plus the leaderboard in every
export format. Records come from other people's machines, so every value taken from a record is
HTML-escaped, plots are referenced as images (an SVG in ``<img>`` runs no script), and each page
carries a Content-Security-Policy that allows only the site's own script, style and images.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchsuite import __version__
from benchsuite.api import BenchsuiteError
from benchsuite.report.leaderboard import Display, display, leaderboard_frame, render
from benchsuite.report.plots import PLOTS, write_plots

__all__ = ["SuiteResults", "publish"]

_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'"
_EXPORTS = (("md", "md"), ("csv", "csv"), ("json", "json"), ("latex", "tex"))
_ASSETS = ("site.css", "sort.js")


@dataclass(frozen=True)
class SuiteResults:
    """One suite's records and what the page says about it."""

    name: str
    records: Sequence[Mapping[str, Any]]
    description: str | None = None


def publish(suites: Sequence[SuiteResults], out: Path) -> list[Path]:
    """Write the site into ``out`` (created; files of an earlier publish are replaced) and
    return the pages written, the index first."""
    if not suites:
        raise BenchsuiteError("nothing to publish: no suite has result records")
    out.mkdir(parents=True, exist_ok=True)
    assets = out / "assets"
    assets.mkdir(exist_ok=True)
    for name in _ASSETS:
        source = resources.files("benchsuite.report").joinpath("site_assets", name)
        (assets / name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    pages = []
    summaries = []
    for suite in sorted(suites, key=lambda s: s.name):
        folder = out / _slug(suite.name)
        if folder.exists():
            shutil.rmtree(folder)
        frame = leaderboard_frame(suite.records)
        pages.append(_suite_page(suite, frame, folder))
        summaries.append(_summary(suite, frame))
    index = out / "index.html"
    index.write_text(_index_page(summaries), encoding="utf-8")
    return [index, *pages]


def _slug(name: str) -> str:
    """A folder name for a suite: record validation keeps names safe; this keeps paths safe."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "suite"


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str, *, root: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n"
        f'<link rel="stylesheet" href="{root}assets/site.css">\n'
        f'<script src="{root}assets/sort.js" defer></script>\n'
        f"</head>\n<body>\n{body}\n"
        f"<footer>Published by benchsuite {_e(__version__)} from result records.</footer>\n"
        "</body>\n</html>\n"
    )


@dataclass(frozen=True)
class _Summary:
    name: str
    description: str | None
    records: int
    methods: list[str]
    budgets: list[str]
    hardware: list[str]
    finished: str | None


def _summary(suite: SuiteResults, frame: pd.DataFrame) -> _Summary:
    finished = [r.get("finished_at") for r in suite.records if r.get("finished_at")]
    hardware = [h for h in dict.fromkeys(frame["hardware"]) if isinstance(h, str)]
    return _Summary(
        name=suite.name,
        description=suite.description,
        records=len(suite.records),
        methods=list(dict.fromkeys(frame["method"])),
        budgets=list(dict.fromkeys(frame["budget"])),
        hardware=hardware,
        finished=max(finished) if finished else None,
    )


def _index_page(summaries: Sequence[_Summary]) -> str:
    rows = "\n".join(
        "<tr>"
        f'<td><a href="{_e(_slug(s.name))}/index.html">{_e(s.name)}</a></td>'
        f"<td>{_e(s.description or '')}</td>"
        f"<td>{_e(', '.join(s.methods))}</td>"
        f"<td>{_e(', '.join(s.budgets))}</td>"
        f'<td class="num" data-value="{s.records}">{s.records}</td>'
        f"<td>{_e('; '.join(s.hardware))}</td>"
        f"<td>{_e(s.finished or '')}</td>"
        "</tr>"
        for s in summaries
    )
    headers = ("suite", "description", "methods", "budgets", "records", "hardware", "last run")
    head = "".join(f'<th scope="col"><button type="button">{h}</button></th>' for h in headers)
    body = (
        "<header><h1>benchsuite leaderboards</h1>\n"
        "<p>Embedding compression methods for recommendation models, measured on equal terms: "
        "quality to the target AUC, throughput, memory and energy.</p></header>\n<main>\n"
        '<div class="scroll"><table class="sortable" id="suites">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table></div>\n</main>"
    )
    return _page("benchsuite leaderboards", body, root="")


def _suite_page(suite: SuiteResults, frame: pd.DataFrame, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for fmt, extension in _EXPORTS:
        (folder / f"leaderboard.{extension}").write_text(render(frame, fmt), encoding="utf-8")
    write_plots(frame, suite.records, folder, suite=suite.name)
    table = display(frame)
    downloads = " · ".join(
        f'<a href="leaderboard.{extension}">{"LaTeX" if fmt == "latex" else fmt}</a>'
        for fmt, extension in _EXPORTS
    )
    description = f"<p>{_e(suite.description)}</p>\n" if suite.description else ""
    body = (
        '<nav><a href="../index.html">All suites</a></nav>\n'
        f"<header><h1>{_e(suite.name)}</h1>\n{description}"
        f'<p class="meta">{_e(_provenance(suite.records))}</p></header>\n<main>\n'
        '<section id="leaderboard"><h2>Leaderboard</h2>\n'
        '<p class="hint">Rows are grouped by budget and ranked by AUC within a budget. Click a '
        "header to sort (best first, then worst first, then back to this order).</p>\n"
        f"{_table(table, frame['budget'].tolist())}\n"
        f"{_notes(table.notes)}"
        f"<p>Download: {downloads}</p></section>\n"
        f'<section id="plots"><h2>Plots</h2>\n{_figures()}</section>\n'
        '<section id="configuration"><h2>Configuration</h2>\n'
        f"{_configuration(suite.records)}</section>\n"
        f'<section id="hardware"><h2>Hardware</h2>\n{_hardware(suite.records)}</section>\n'
        "</main>"
    )
    page = folder / "index.html"
    page.write_text(_page(f"{suite.name}: benchsuite leaderboard", body, root="../"), "utf-8")
    return page


def _table(table: Display, budgets: Sequence[str]) -> str:
    """The leaderboard with each header's description and direction, each cell's raw value for
    sorting, and the first row of each budget marked so the groups show."""
    head = []
    for spec, header in zip(table.columns, table.headers, strict=True):
        tip = spec.description + (f" ({spec.unit})" if spec.unit else "")
        if spec.better:
            tip += f"; {spec.better} is better"
        better = f' data-better="{spec.better}"' if spec.better else ""
        head.append(
            f'<th scope="col" title="{_e(tip)}"{better} aria-sort="none">'
            f'<button type="button">{_e(header)}</button></th>'
        )
    rows = []
    previous = None
    for budget, cells, values in zip(budgets, table.cells, table.values, strict=True):
        tds = []
        for text, value in zip(cells, values, strict=True):
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            attrs = f' class="num" data-value="{value!r}"' if numeric else ""
            tds.append(f"<td{attrs}>{_e(text)}</td>")
        group = ' class="group-start"' if budget != previous else ""
        previous = budget
        rows.append(f"<tr{group}>{''.join(tds)}</tr>")
    return (
        '<div class="scroll"><table class="sortable leaderboard" id="leaderboard-table">\n'
        f"<thead><tr>{''.join(head)}</tr></thead>\n"
        "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table></div>"
    )


def _notes(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{_e(note)}</li>" for note in notes)
    return f'<ul class="notes">{items}</ul>\n'


def _figures() -> str:
    return "".join(
        f'<figure><img src="{stem}.svg" alt="{_e(title)}">'
        f'<figcaption>{_e(title)} (<a href="{stem}.png">PNG</a>, '
        f'<a href="{stem}.svg">SVG</a>)</figcaption></figure>\n'
        for stem, title in PLOTS.items()
    )


def _provenance(records: Sequence[Mapping[str, Any]]) -> str:
    """How many records, from which code, finished when: what a reader needs to cite."""
    environment = [r.get("environment") or {} for r in records]
    versions = sorted({str(e.get("benchsuite_version")) for e in environment})
    commits = sorted({str(e.get("git_commit"))[:12] for e in environment if e.get("git_commit")})
    finished = sorted(str(r["finished_at"]) for r in records if r.get("finished_at"))
    parts = [f"{len(records)} records", f"benchsuite {', '.join(versions)}"]
    if commits:
        parts.append(f"commit {', '.join(commits)}")
    if finished:
        parts.append(f"finished {finished[0]} to {finished[-1]}")
    return "; ".join(parts)


def _configuration(records: Sequence[Mapping[str, Any]]) -> str:
    """The configuration the cells shared (each record's config without its cell), once per
    distinct configuration, so cells run on other terms show rather than hide."""
    configs: dict[str, dict[str, Any]] = {}
    for record in records:
        shared = {k: v for k, v in (record.get("config") or {}).items() if k != "cell"}
        configs.setdefault(json.dumps(shared, sort_keys=True, default=str), shared)
    blocks = []
    if len(configs) > 1:
        blocks.append(f"<p>The records ran with {len(configs)} different configurations.</p>")
    for shared in configs.values():
        text = yaml.safe_dump(shared, sort_keys=False, default_flow_style=None, width=90)
        blocks.append(f"<pre>{_e(text)}</pre>")
    return "\n".join(blocks) + "\n"


def _hardware(records: Sequence[Mapping[str, Any]]) -> str:
    """Each distinct hardware fingerprint with the software it ran, as a key/value table."""
    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        environment = record.get("environment") or {}
        facts = dict(environment.get("hardware") or {})
        for key in ("python", "torch", "platform"):
            if key in environment and key not in facts:
                facts[key] = environment[key]
        seen.setdefault(json.dumps(facts, sort_keys=True, default=str), facts)
    tables = []
    for facts in seen.values():
        rows = "".join(
            f'<tr><th scope="row">{_e(key)}</th><td>{_e(_fact(value))}</td></tr>'
            for key, value in facts.items()
        )
        tables.append(f'<table class="facts">{rows}</table>')
    return "\n".join(tables) + "\n"


def _fact(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1 << 20:
        return f"{value:,} ({value / (1 << 30):.1f} GiB)"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)
