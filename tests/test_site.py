"""The published site: its files, escaping of everything from records, the command, and the
pages as headless Chromium renders them (skipped with the reason where Chromium is absent; the
README's test set-up, which CI runs, installs it)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, find_chromium
from records import record
from test_plots import with_curve

from benchsuite import results
from benchsuite.cli import main
from benchsuite.report.site import SuiteResults, publish

HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def suite_records(suite: str = "quickstart") -> list[dict[str, Any]]:
    runs = [
        with_curve(record("full", "1x", seed=0, auc=0.79, suite=suite), [0.74, 0.77, 0.79]),
        with_curve(record("full", "1x", seed=1, auc=0.80, suite=suite), [0.75, 0.78, 0.80]),
        with_curve(record("hashing", "16x", seed=0, auc=0.77, suite=suite), [0.70, 0.74, 0.77]),
        with_curve(record("hashing", "4x", seed=0, auc=0.76, suite=suite), [0.70, 0.73, 0.76]),
        with_curve(record("qr", "16x", seed=0, auc=0.78, suite=suite), [0.72, 0.75, 0.78]),
    ]
    for run in runs:
        run["config"] = {"dataset": {"name": "synthetic"}, "train": {"lr": 0.05}}
        run["environment"] = {
            "hardware": {"profile": "cpu", "cpu": "Test CPU", "torch_threads": 2},
            "benchsuite_version": "0.1.0",
            "git_commit": "abc123",
        }
    return runs


def hostile_records() -> list[dict[str, Any]]:
    """Values that pass record validation yet carry markup: an error message, a hardware name,
    a configuration value and a parameter value."""
    runs = suite_records("hostile")
    runs[0]["environment"]["hardware"]["cpu"] = HOSTILE
    runs[1]["config"]["dataset"]["name"] = HOSTILE
    runs[2]["cell"]["params"] = {"note": HOSTILE}
    failed = record("md", "16x", status="failed", suite="hostile")
    failed["error"] = HOSTILE
    return [*runs, failed]


def write_records(folder: Path, records: list[dict[str, Any]]) -> None:
    for rec in records:
        path = results.record_path(folder / rec["suite"]["name"], rec["cell"]["key"])
        results.write_record(path, rec)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One published site shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("published") / "site"
    publish(
        [
            SuiteResults("quickstart", suite_records(), "Small synthetic data"),
            SuiteResults("hostile", hostile_records(), HOSTILE),
        ],
        out,
    )
    return out


# Files


def test_publish_writes_an_index_and_per_suite_page_plots_and_exports(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "assets" / "site.css").is_file() and (site / "assets" / "sort.js").is_file()
    page = site / "quickstart"
    for name in ("index.html", "leaderboard.md", "leaderboard.csv", "leaderboard.json"):
        assert (page / name).is_file(), name
    assert (page / "leaderboard.tex").read_text().startswith("\\begin{tabular}")
    for stem in ("auc_vs_bytes", "throughput_vs_bytes", "learning_curves"):
        assert (page / f"{stem}.svg").is_file() and (page / f"{stem}.png").is_file()
    assert json.loads((page / "leaderboard.json").read_text())["rows"][0]["method"] == "full"


def test_suite_page_shows_table_plots_configuration_and_hardware(site: Path) -> None:
    text = (site / "quickstart" / "index.html").read_text()
    assert text.count('<tr class="group-start">') == 3  # budgets 1x, 4x, 16x
    assert 'data-better="higher"' in text and 'data-better="lower"' in text
    assert 'data-value="0.795"' in text  # full's mean AUC, for sorting
    assert '<img src="auc_vs_bytes.svg"' in text
    assert "lr: 0.05" in text  # the configuration the cells ran with
    assert "Test CPU" in text and "Small synthetic data" in text
    index = (site / "index.html").read_text()
    assert 'href="quickstart/index.html"' in index and 'href="hostile/index.html"' in index


def test_every_value_from_a_record_is_escaped(site: Path) -> None:
    for page in (site / "index.html", site / "hostile" / "index.html"):
        text = page.read_text()
        assert "<script>window" not in text and "<img src=x" not in text, page
        assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in text, page
        # the only scripts are the site's own
        assert re.findall(r"<script[^>]*>", text) == [
            f'<script src="{"" if page.parent == site else "../"}assets/sort.js" defer>'
        ]


def test_pages_forbid_any_script_style_or_image_not_from_the_site(site: Path) -> None:
    text = (site / "quickstart" / "index.html").read_text()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert policy is not None
    assert "default-src 'none'" in policy.group(1) and "script-src 'self'" in policy.group(1)
    assert "unsafe-inline" not in policy.group(1)


def test_publishing_again_replaces_a_suite_page_and_gives_the_same_files(tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish([SuiteResults("quickstart", suite_records())], out)
    (out / "quickstart" / "stale.png").write_bytes(b"old")
    first = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    publish([SuiteResults("quickstart", suite_records())], out)
    second = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert set(first) - set(second) == {out / "quickstart" / "stale.png"}
    assert all(first[p] == second[p] for p in second)


# The command


def test_publish_command_publishes_every_suite_with_records(tmp_path: Path, capsys) -> None:
    write_records(tmp_path / "results", suite_records("alpha") + suite_records("beta"))
    out = tmp_path / "site"
    argv = ["publish", "--results", str(tmp_path / "results"), "--out", str(out)]
    assert main(argv) == 0
    assert "published 2 suite(s)" in capsys.readouterr().out
    assert (out / "alpha" / "index.html").is_file() and (out / "beta" / "index.html").is_file()


def test_publish_command_takes_only_the_suites_named(tmp_path: Path) -> None:
    write_records(tmp_path / "results", suite_records("alpha") + suite_records("beta"))
    out = tmp_path / "site"
    argv = ["publish", "--results", str(tmp_path / "results"), "--out", str(out)]
    assert main([*argv, "--suite", "beta"]) == 0
    assert not (out / "alpha").exists() and (out / "beta" / "index.html").is_file()


def test_publish_command_rejects_a_suite_without_records(tmp_path: Path, capsys) -> None:
    write_records(tmp_path / "results", suite_records("alpha"))
    argv = ["publish", "--results", str(tmp_path / "results"), "--suite", "gamma"]
    assert main([*argv, "--out", str(tmp_path / "site")]) == 2
    assert "no records of suite 'gamma'" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


def test_publish_command_stops_at_a_corrupt_record_naming_it(tmp_path: Path, capsys) -> None:
    write_records(tmp_path / "results", suite_records("alpha"))
    bad = tmp_path / "results" / "alpha" / "broken.json"
    bad.write_text('{"schema": "benchsuite.result/1", "suite": ')
    argv = ["publish", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "site")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not valid JSON" in err
    assert not (tmp_path / "site").exists()


def test_publish_command_names_a_missing_results_folder(tmp_path: Path, capsys) -> None:
    assert main(["publish", "--results", str(tmp_path / "nothing")]) == 2
    assert "no such folder of result records" in capsys.readouterr().err


# In a browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("needs Chromium (Debian: apt-get install chromium)")
    driver = Browser(executable)
    yield driver
    driver.close()


_ROWS = "[...document.querySelectorAll('#leaderboard-table tbody tr')]"


def _click_header(browser: Browser, name: str) -> list[str]:
    """Click a leaderboard header; the method and budget of each row, in the shown order."""
    return browser.evaluate(
        f"""(() => {{
            const th = [...document.querySelectorAll('#leaderboard-table th')]
                .find(h => h.textContent.startsWith({json.dumps(name)}));
            th.querySelector('button').click();
            return {_ROWS}.map(r => r.cells[0].textContent + ' ' + r.cells[1].textContent);
        }})()"""
    )


def test_browser_renders_the_table_the_plots_and_the_styles(browser: Browser, site: Path) -> None:
    seen = len(browser.events)
    browser.open(site / "quickstart" / "index.html")
    assert browser.evaluate(f"{_ROWS}.length") == 4
    headers = browser.evaluate(
        "[...document.querySelectorAll('#leaderboard-table th')].map(h => h.textContent)"
    )
    assert headers[:3] == ["method", "budget", "rank"] and "AUC" in headers
    images = browser.evaluate(
        "[...document.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
    )
    assert [src for src, _, _ in images] == [
        "auc_vs_bytes.svg",
        "throughput_vs_bytes.svg",
        "learning_curves.svg",
    ]
    assert all(done and width > 100 for _, done, width in images), images
    sticky = "getComputedStyle(document.querySelector('thead th')).position"
    assert browser.evaluate(sticky) == "sticky"  # the stylesheet loaded
    assert not [p for p in browser.problems()[seen:] if "favicon" not in p]


def test_browser_sorts_best_first_then_worst_first_then_as_published(
    browser: Browser, site: Path
) -> None:
    browser.open(site / "quickstart" / "index.html")
    published = ["full 1x", "hashing 4x", "qr 16x", "hashing 16x"]
    assert _click_header(browser, "AUC") == ["full 1x", "qr 16x", "hashing 16x", "hashing 4x"]
    assert _click_header(browser, "AUC") == ["hashing 4x", "hashing 16x", "qr 16x", "full 1x"]
    assert _click_header(browser, "AUC") == published
    # lower is better for memory: the smallest first, ties in published order
    assert _click_header(browser, "embedding MB") == [
        "qr 16x",
        "hashing 16x",
        "hashing 4x",
        "full 1x",
    ]


def test_browser_runs_nothing_from_hostile_records(browser: Browser, site: Path) -> None:
    for page in (site / "hostile" / "index.html", site / "index.html"):
        browser.open(page)
        assert browser.evaluate("typeof window.pwned") == "undefined", page
        assert browser.evaluate("document.scripts.length") == 1
        assert HOSTILE in browser.evaluate("document.body.textContent")


def test_browser_follows_the_index_to_a_suite_page(browser: Browser, site: Path) -> None:
    browser.open(site / "index.html")
    href = browser.evaluate("document.querySelector('#suites a[href^=quickstart]').href")
    assert href == (site / "quickstart" / "index.html").resolve().as_uri()
