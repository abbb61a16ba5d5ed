"""docs/writing-a-plugin.md runs as written: every block is a command, a file or an expected output.

A hidden HTML comment on the line before a fenced block says what the block is:

- ``<!-- file: PATH -->``: write the block to PATH (relative to the tutorial's current folder);
- ``<!-- append: PATH -->``: add the block to PATH, after two blank lines;
- ``<!-- excerpt: PATH -->``: PATH (written by a command) contains the block;
- ``<!-- output -->``: every line of the block matches a line of the previous command's output
  (stdout and stderr), runs of spaces matching any spaces and ``…`` anything;
- ``<!-- exit: N -->`` before a ``bash`` block: the command exits with N;
- an unmarked ``bash`` block is run with bash (``set -euo pipefail``) and must exit 0; a ``cd``
  carries over to the next block.

Any other block is an error, so nothing on the page escapes the test. Commands run in a
throwaway virtual environment layered over this one (tests/plugin_env.py), offline.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from plugin_env import PluginEnv

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "writing-a-plugin.md"
_MARKER = re.compile(r"^<!--\s*(.*?)\s*-->$")
_KINDS = ("file", "append", "excerpt", "output", "exit")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, for messages
    info: str
    marker: str  # "" or the kind, e.g. "file"
    argument: str  # the marker's argument, e.g. a path
    body: str


def tutorial_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text`` with the marker on the line before each, if any."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("```"):
            i += 1
            continue
        start, info = i, lines[i][3:].strip()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"{TUTORIAL.name}:{start + 1}: the block is never closed"
        before = _MARKER.match(lines[start - 1].strip()) if start else None
        marker, argument = "", ""
        if before:
            marker, _, argument = before.group(1).partition(":")
            marker, argument = marker.strip(), argument.strip()
        body = "\n".join(lines[start + 1 : end]) + "\n"
        blocks.append(Block(start + 1, info, marker, argument, body))
        i = end + 1
    return blocks


def block_problem(block: Block) -> str | None:
    """Why the test would not know what to do with ``block``, or None."""
    where = f"{TUTORIAL.name}:{block.line}"
    if block.marker and block.marker not in _KINDS:
        return f"{where}: unknown marker {block.marker!r} (known: {', '.join(_KINDS)})"
    if block.marker in ("file", "append", "excerpt") and not block.argument:
        return f"{where}: {block.marker} needs a path"
    if block.marker == "exit" and (block.info != "bash" or not block.argument.isdigit()):
        return f"{where}: exit: N marks a bash block with the status it exits with"
    if not block.marker and block.info != "bash":
        return f"{where}: a {block.info or 'plain'} block with no marker is neither run nor checked"
    return None


def output_pattern(line: str) -> re.Pattern[str]:
    """A shown output line as a pattern: spaces match any spaces, ``…`` anything."""
    words = [".*".join(re.escape(part) for part in word.split("…")) for word in line.split()]
    return re.compile(r"\s+".join(words))


def test_every_block_of_the_tutorial_is_a_command_a_file_or_an_expected_output():
    blocks = tutorial_blocks(TUTORIAL.read_text())
    problems = [p for p in map(block_problem, blocks) if p]
    assert not problems, "\n".join(problems)
    outputs = [b for b in blocks if b.marker == "output"]
    assert all(blocks[blocks.index(b) - 1].info == "bash" for b in outputs), (
        "an output block follows the command it shows the output of"
    )


def test_output_patterns_match_runs_of_spaces_and_ellipses():
    assert output_pattern("| bloom | 16x | … | ok | …").search(
        "| bloom           | 16x      | 1      | 1       | ok       | 0.7110 |"
    )
    assert not output_pattern("| bloom | 16x | … | ok").search("| bloom | 64x | 1 | ok")
    assert output_pattern("method,budget,…").search("method,budget,rank")


def test_tutorial_runs_from_scaffold_to_leaderboard(tmp_path):
    env = PluginEnv(tmp_path / "venv")
    cwd = tmp_path / "work"
    cwd.mkdir()
    state = tmp_path / "cwd"
    last: tuple[str, str] | None = None  # the previous command and its output
    for block in tutorial_blocks(TUTORIAL.read_text()):
        where = f"{TUTORIAL.name}:{block.line}"
        assert block_problem(block) is None, block_problem(block)
        if block.marker in ("file", "append"):
            path = cwd / block.argument
            path.parent.mkdir(parents=True, exist_ok=True)
            if block.marker == "file":
                path.write_text(block.body)
            else:
                assert path.is_file(), f"{where}: appends to {path}, which is not written yet"
                path.write_text(path.read_text() + "\n\n" + block.body)
        elif block.marker == "excerpt":
            assert block.body in (cwd / block.argument).read_text(), (
                f"{where}: {block.argument} does not contain the block shown"
            )
        elif block.marker == "output":
            assert last is not None, f"{where}: an output block with no command before it"
            command, output = last
            lines = output.splitlines()
            for shown in filter(str.strip, block.body.splitlines()):
                pattern = output_pattern(shown)
                assert any(pattern.search(line) for line in lines), (
                    f"{where}: no line of the output of `{command.strip()}` matches "
                    f"{shown!r}; the output was:\n{output}"
                )
        else:
            expected = int(block.argument) if block.marker == "exit" else 0
            script = (
                f"set -euo pipefail\ncd {shlex.quote(str(cwd))}\n{block.body}"
                f"pwd > {shlex.quote(str(state))}\n"
            )
            done = subprocess.run(
                ["bash", "-c", script],
                env=env.env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            output = done.stdout + done.stderr
            assert done.returncode == expected, (
                f"{where}: `{block.body.strip()}` exited {done.returncode}, expected "
                f"{expected}; its output:\n{output}"
            )
            if expected == 0:
                cwd = Path(state.read_text().strip())
            last = (block.body, output)

    # The page ends in the plugin's folder, uninstalled: the records say the installed
    # package ran, and the method is gone from the list the last command printed.
    records = [json.loads(p.read_text()) for p in (cwd / "reports/results/bloom-suite").glob("*")]
    by_label = {r["cell"]["label"]: r for r in records}
    assert sorted(by_label) == ["bloom", "bloom[hashes=3]", "full", "hashing"]
    assert all(r["status"] == "ok" for r in records), {k: r["error"] for k, r in by_label.items()}
    assert "benchsuite-bloom 0.1.0" in by_label["bloom"]["plugin"]["source"]
    assert last is not None and "benchsuite list methods" in last[0]
    assert not [line for line in last[1].splitlines() if line.startswith("bloom")]
    # The code on the page is lint-clean under the package's own ruff settings (ruff comes
    # with the test extra).
    if importlib.util.find_spec("ruff") is not None:
        for args in (("check", "."), ("format", "--check", ".")):
            env.run(env.python, "-m", "ruff", *args, cwd=cwd)
