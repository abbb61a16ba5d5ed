"""Merge result folders from several machines or contributors into one.

Every incoming file is untrusted: it is loaded and validated on its own, and a file that fails
is reported with its reason and left out, never aborting the merge. A record's identity is its
suite name and cell key, the same identity :func:`benchsuite.results.load_records` refuses to
see twice. Two records with one identity are *duplicates* when their canonical JSON (sorted
keys, no whitespace) is equal, that is the same run copied twice; otherwise they are a
*conflict* (two runs of one cell, or one edited), and only one of them is kept.

Records already in the target folder come first, then each source in the order given. New
records are written to ``INTO/<suite>/<file>.json`` (the layout ``benchsuite run`` uses under
``reports/results``), one atomic write each; nothing is deleted, so an interrupted merge loses
nothing and running it again finishes it (what was written is then a duplicate).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from benchsuite import results
from benchsuite.api import BenchsuiteError

__all__ = [
    "PREFER",
    "Conflict",
    "Duplicate",
    "MergeReport",
    "Merged",
    "Rejected",
    "merge_results",
]

#: Which record of a conflict is kept: the first seen (INTO, then the sources in order), or the
#: one that finished last.
PREFER = ("first", "newer")

Identity = tuple[str, str]  # (suite name, cell key)

# Fields named first when two records of one cell differ: what tells a reader why they differ.
_KEY_FIELDS = (
    "config_hash",
    "status",
    "metrics.test_auc",
    "started_at",
    "finished_at",
    "environment.git_commit",
    "environment.hardware.profile",
)
_SHOWN_DIFFERENCES = 5


@dataclass(frozen=True)
class Merged:
    """A record new to INTO, written to ``written``."""

    identity: Identity
    source: Path
    written: Path


@dataclass(frozen=True)
class Duplicate:
    """The same record again: ``duplicate`` was left out because ``kept`` holds it."""

    identity: Identity
    kept: Path
    duplicate: Path


@dataclass(frozen=True)
class Conflict:
    """Two different records of one cell: ``kept`` won, ``left_out`` was not merged.

    ``differences`` lists the differing fields as ``field: kept value vs left-out value``.
    """

    identity: Identity
    kept: Path
    left_out: Path
    differences: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Rejected:
    """A file that is not a valid record (or could not be placed), and why."""

    path: Path
    reason: str


@dataclass
class MergeReport:
    """What a merge did with every file it saw."""

    into: Path
    existing: int = 0
    merged: list[Merged] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when every incoming file was merged or was a duplicate."""
        return not self.conflicts and not self.rejected

    def summary(self) -> str:
        return (
            f"merged {len(self.merged)}, duplicates {len(self.duplicates)}, "
            f"conflicts {len(self.conflicts)}, rejected {len(self.rejected)} "
            f"(into {self.into}, which held {self.existing} record(s) before)"
        )

    def problem_lines(self) -> list[str]:
        """One line per rejected file and per conflict, for stderr."""
        lines = [f"rejected {r.path}: {r.reason}" for r in self.rejected]
        for c in self.conflicts:
            suite, key = c.identity
            lines.append(
                f"conflict: cell {key!r} of suite {suite!r}: kept {c.kept}, left out "
                f"{c.left_out} ({c.reason}); they differ in:"
            )
            lines.extend(f"  {difference}" for difference in c.differences)
        return lines


@dataclass
class _Held:
    """The record kept so far for a cell: where it came from, and INTO's file for the cell."""

    record: dict[str, Any]
    canonical: str
    path: Path
    home: Path | None = None


def merge_results(
    sources: Sequence[Path], into: Path, *, prefer: Literal["first", "newer"] = "first"
) -> MergeReport:
    """Merge the records under each of ``sources`` into ``into``; see the module docstring.

    Bad arguments (a missing source, ``into`` being a file or overlapping a source) raise
    :class:`BenchsuiteError` before anything is read; problems with files are in the report.
    Everything is read and settled first, then the winners are written.
    """
    if prefer not in PREFER:
        raise BenchsuiteError(f"prefer must be one of {', '.join(PREFER)}, not {prefer!r}")
    sources = [Path(s) for s in sources]
    into = Path(into)
    _check_arguments(sources, into)
    report = MergeReport(into=into)
    held: dict[Identity, _Held] = {}
    for path in results.record_files(into) if into.exists() else []:
        loaded = _load(path, report)
        if loaded is None:
            continue
        identity, entry = loaded
        if identity in held:  # INTO is already broken: load_records would refuse it
            report.rejected.append(
                Rejected(
                    path,
                    f"INTO already holds cell {identity[1]!r} of suite {identity[0]!r} in "
                    f"{held[identity].path}; remove one of the two files",
                )
            )
            continue
        entry.home = path
        held[identity] = entry
    report.existing = len(held)
    for source in sources:
        for path in results.record_files(source):
            loaded = _load(path, report)
            if loaded is not None:
                _settle(*loaded, held, report, prefer)
    for identity, winner in held.items():
        if winner.path != winner.home:
            _write(identity, winner, into, report)
    return report


def _check_arguments(sources: list[Path], into: Path) -> None:
    if not sources:
        raise BenchsuiteError("give at least one folder of result records to merge")
    if into.exists() and not into.is_dir():
        raise BenchsuiteError(f"--into {into}: is a file, not a folder")
    target = into.resolve()
    seen: dict[Path, Path] = {}
    for source in sources:
        if not source.exists():
            raise BenchsuiteError(f"{source}: no such folder")
        if not source.is_dir():
            raise BenchsuiteError(f"{source}: not a folder of result records")
        resolved = source.resolve()
        if resolved in seen:
            raise BenchsuiteError(f"{source}: given twice (also as {seen[resolved]})")
        seen[resolved] = source
        if resolved == target:
            raise BenchsuiteError(f"{source}: is the --into folder itself")
        if target.is_relative_to(resolved) or resolved.is_relative_to(target):
            raise BenchsuiteError(
                f"{source}: overlaps the --into folder {into} (one contains the other)"
            )


def _load(path: Path, report: MergeReport) -> tuple[Identity, _Held] | None:
    """The file's record and identity, or None with the file listed as rejected."""
    try:
        record = results.load_record(path)
    except BenchsuiteError as exc:
        report.rejected.append(Rejected(path, _reason(exc, path)))
        return None
    return _identity(record), _Held(record, _canonical(record), path)


def _settle(
    identity: Identity,
    candidate: _Held,
    held: dict[Identity, _Held],
    report: MergeReport,
    prefer: str,
) -> None:
    """Keep ``candidate`` as its cell's record, or count it as a duplicate or a conflict."""
    current = held.get(identity)
    if current is None:
        held[identity] = candidate
    elif current.canonical == candidate.canonical:
        report.duplicates.append(Duplicate(identity, current.path, candidate.path))
    elif prefer == "newer" and _finished(candidate.record) > _finished(current.record):
        differences = _differences(candidate.record, current.record)
        report.conflicts.append(
            Conflict(identity, candidate.path, current.path, differences, _NEWER)
        )
        candidate.home = current.home  # INTO's file for the cell is replaced, not doubled
        held[identity] = candidate
    else:
        differences = _differences(current.record, candidate.record)
        reason = (
            _NEWER
            if prefer == "newer"
            else "kept the one already in INTO"
            if current.home is not None
            else "kept the first"
        )
        report.conflicts.append(
            Conflict(identity, current.path, candidate.path, differences, reason)
        )


_NEWER = "kept the one that finished later"


def _reason(exc: BenchsuiteError, path: Path) -> str:
    """The error's message without the leading ``<path>: ``, which the report prints itself."""
    message = str(exc)
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _canonical(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _finished(record: Mapping[str, Any]) -> dt.datetime:
    """When the run finished, in UTC; the earliest time when unknown, so a known time wins."""
    text = record.get("finished_at")
    try:
        moment = dt.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        moment = None
    if moment is None:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _differences(kept: Mapping[str, Any], other: Mapping[str, Any]) -> tuple[str, ...]:
    """``field: kept vs other`` for the fields that differ, the telling ones first."""
    a, b = _flatten(kept), _flatten(other)
    # Compared as JSON text, as the records are: 1 and 1.0, or true and 1, differ.
    changed = [
        name
        for name in a.keys() | b.keys()
        if _show(a.get(name, _ABSENT), None) != _show(b.get(name, _ABSENT), None)
    ]
    changed.sort(key=lambda name: (_KEY_FIELDS.index(name) if name in _KEY_FIELDS else 99, name))
    shown = [
        f"{name}: {_show(a.get(name, _ABSENT))} vs {_show(b.get(name, _ABSENT))}"
        for name in changed[:_SHOWN_DIFFERENCES]
    ]
    if len(changed) > _SHOWN_DIFFERENCES:
        shown.append(f"and {len(changed) - _SHOWN_DIFFERENCES} more field(s)")
    return tuple(shown)


_ABSENT = object()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted leaves of nested objects; lists are compared whole."""
    if isinstance(value, Mapping) and (value or not prefix):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _show(value: Any, limit: int | None = 40) -> str:
    text = "(absent)" if value is _ABSENT else json.dumps(value, sort_keys=True)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _write(identity: Identity, winner: _Held, into: Path, report: MergeReport) -> None:
    suite, key = identity
    target = winner.home or results.record_path(into / suite, key)
    if winner.home is None and target.exists():
        # Not this cell's record (that would have been loaded into ``held``): never overwrite.
        report.rejected.append(
            Rejected(winner.path, f"not merged: {target} exists and holds another record")
        )
        return
    try:
        results.write_record(target, winner.record)
    except OSError as exc:
        raise BenchsuiteError(f"{target}: cannot write ({exc.strerror or exc})") from exc
    report.merged.append(Merged(identity, winner.path, target))


def _identity(record: Mapping[str, Any]) -> Identity:
    return (record["suite"]["name"], record["cell"]["key"])
