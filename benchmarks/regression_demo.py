"""Shows ``asv continuous`` catching a slower lookup, and staying quiet on an identical commit.

In a throwaway clone of this repository (the real history is never touched) it makes two
commits on top of HEAD: one that changes nothing (an empty commit) and one that makes the
shared table lookup (``ConcatenatedTables.lookup``, used by ``full``, ``hashing`` and others)
gather its rows twice. It then runs

    asv continuous --factor F --bench REGEX HEAD identical   # expected: exit 0, nothing flagged
    asv continuous --factor F --bench REGEX HEAD slower      # expected: exit 1, flagged

and prints both outputs and exit codes, then ``asv compare`` of each (every ratio, so the
identical pair shows the noise). asv builds one environment per commit from the clone's
own files, as it does for real changes. Needs asv (``pip install -e '.[bench]'``).

    python benchmarks/regression_demo.py --bench 'Lookup.time_forward(?!_)' --factor 1.2
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOKUP = "        return F.embedding(rows, self.weight, sparse=self.sparse)\n"
SLOWER = (
    "        F.embedding(rows, self.weight, sparse=self.sparse)  # a deliberate regression\n"
    + LOOKUP
)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_clone(folder: Path) -> Path:
    """A clone of HEAD with the commits ``identical`` and ``slower`` on branches."""
    repo = folder / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    _git(repo, "config", "user.email", "demo@benchsuite.invalid")
    _git(repo, "config", "user.name", "regression demo")
    _git(repo, "branch", "base")
    _git(repo, "checkout", "-q", "-b", "identical")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "identical: no change")
    _git(repo, "checkout", "-q", "base")
    _git(repo, "checkout", "-q", "-b", "slower")
    layers = repo / "benchsuite" / "layers.py"
    text = layers.read_text()
    if text.count(LOOKUP) != 1:
        raise SystemExit(f"{layers}: the lookup line to slow down was not found exactly once")
    layers.write_text(text.replace(LOOKUP, SLOWER))
    _git(repo, "commit", "-q", "-am", "slower: gather the rows twice")
    _git(repo, "checkout", "-q", "base")
    return repo


def continuous(repo: Path, head: str, bench: str, factor: float) -> tuple[int, str]:
    cmd = [
        sys.executable, "-m", "asv", "continuous", "--factor", str(factor), "--bench", bench,
        "--show-stderr", "base", head,
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=r"Lookup\.time_forward(?!_)", help="asv --bench regex")
    parser.add_argument("--factor", type=float, default=1.2, help="asv --factor")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway clone")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="benchsuite-asv-demo-"))
    try:
        repo = make_clone(folder)
        subprocess.run(
            [sys.executable, "-m", "asv", "machine", "--yes"], cwd=repo, check=True,
            capture_output=True,
        )  # fmt: skip
        codes = {}
        for head in ("identical", "slower"):
            code, text = continuous(repo, head, args.bench, args.factor)
            codes[head] = code
            print(f"===== asv continuous base {head}: exit {code} =====")
            print(text)
        for head in ("identical", "slower"):  # every ratio, flagged or not: the noise
            out = subprocess.run(
                [sys.executable, "-m", "asv", "compare", "--split", "base", head],
                cwd=repo, capture_output=True, text=True,
            )  # fmt: skip
            print(f"===== asv compare base {head} =====")
            print(out.stdout + out.stderr)
        ok = codes["identical"] == 0 and codes["slower"] != 0
        print("regression caught, identical commit quiet" if ok else "UNEXPECTED outcome")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"clone kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
