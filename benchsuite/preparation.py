"""Raw click logs to a prepared dataset: streaming, compiled, bounded in memory, resumable.

One pass reads each source in blocks (a thread reads and decompresses ahead), parses a block
with :mod:`benchsuite.textparse` on every core, gives categories first-sight ids with
:mod:`benchsuite.vocab` (features split across cores), and appends the rows to the part's
files. A finished part is renamed into place with its vocabulary delta, so an interrupted
preparation resumes at the first unfinished part. Finalisation then counts training ids, folds
rare ones, counts exact duplicate rows and writes the manifest, whose presence marks the dataset
as prepared.

Dataset plugins call :func:`prepare` with a :class:`Recipe`; see :mod:`benchsuite.prepared` for
the format and the reader.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import queue
import shutil
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numba
import numpy as np

from benchsuite.api import BenchsuiteError
from benchsuite.prepared import FORMAT, MANIFEST, fingerprint_of
from benchsuite.textparse import (
    OK,
    PROBLEMS,
    BlockBuffers,
    ParsedBlock,
    TextLayout,
    fold_hashes,
    parse_block,
    split_lines,
)
from benchsuite.vocab import Vocabulary, fold_rare

BAD_ROW_POLICIES = ("error", "skip")
_PROBLEM_TEXT = {
    "wrong_field_count": "expected {expected} fields, found {found}",
    "bad_label": "field {field}: the label is not 0 or 1",
    "non_integer_dense": "field {field}: the dense value is not an integer",
    "bad_category": "field {field}: the category is not a hexadecimal number of 1-8 digits",
}


@dataclass(frozen=True)
class Source:
    """One raw input and the part of the prepared dataset its rows become."""

    path: Path
    part: str


@dataclass
class Recipe:
    """What a dataset plugin tells :func:`prepare`: the layout, the parts and the split rule.

    ``splits`` receives ``{part: rows}`` in part order plus the settings, and returns
    ``{split: [[part, start, stop], ...]}`` (row ranges) or ``{split: ndarray}`` (row numbers
    into the concatenation of all parts, for random splits).
    """

    dataset: str
    layout: TextLayout
    features: list[str]
    dense: list[str]
    sources: list[Source]
    splits: Callable[[dict[str, int], dict[str, Any]], dict[str, Any]]
    settings: dict[str, Any]
    header: bytes | None = None  # a first line starting with this is a header, not a row
    #: Sources that are not delimited text bring their own reader (see :func:`text_reader`).
    reader: Callable[[Source], BlockStream] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


class Report:
    """Progress on stderr: rows, rows/s and ETA by bytes; in place on a terminal."""

    def __init__(self, total_bytes: int, *, stream: Any = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and self.stream.isatty()
        self.total = max(1, total_bytes)
        self.started = time.perf_counter()
        self.last = 0.0

    def update(self, done_bytes: int, rows: int, what: str) -> None:
        now = time.perf_counter()
        if not self.enabled or (not self.live and now - self.last < 10):
            return
        self.last = now
        took = now - self.started
        rate = rows / took if took > 0 else 0.0
        share = min(1.0, done_bytes / self.total)
        eta = took * (1 - share) / share if share > 0 else 0.0
        text = f"{what}: {rows:,} rows  {rate:,.0f} rows/s  {share:.0%}  ETA {eta:,.0f}s"
        self.line(text, final=not self.live)

    def line(self, text: str, *, final: bool = True) -> None:
        if not self.enabled:
            return
        if self.live:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


# -- reading blocks of whole lines ---------------------------------------------------------------


class _Raw:
    """A source opened for reading: its bytes (decompressed) and the progress on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO = path.open("rb")
        self.gzip = path.suffix == ".gz"
        self.stream: BinaryIO = gzip.GzipFile(fileobj=self.file) if self.gzip else self.file

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` as far as the file goes; the bytes read. A gzip stream is read one
        decompressed piece at a time (``readinto1``), so the lines before damage are kept:
        a whole-buffer read that hits it would lose everything it had decompressed."""
        done = 0
        read = self.stream.readinto1 if self.gzip else self.stream.readinto
        try:
            while done < len(view):
                got = read(view[done:])
                if not got:
                    break
                done += got
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise _Truncated(
                f"{self.path}: the gzip stream is truncated or corrupt ({exc}); "
                "download the file again",
                done,
            ) from None
        return done

    def position(self) -> int:
        return self.file.tell()

    def close(self) -> None:
        self.stream.close()
        self.file.close()


class _Truncated(BenchsuiteError):
    """A gzip stream that ends early or is corrupt; ``args[1]`` bytes were read before."""


def _blocks(path: Path, block_bytes: int, stream: BlockStream | None = None, parts: int = 1
            ) -> Iterator[tuple[bytearray, int, int, list]]:  # fmt: skip
    """(buffer, size, compressed bytes read, pieces): whole lines in ``buffer[:size]`` and
    where to cut them into ``parts`` (:func:`split_lines`), read ahead in a thread into three
    buffers used in turn (each is reused once the next block is asked for).
    A truncated gzip stream raises, or with a ``stream`` that tolerates it, ends the file
    there and sets ``stream.truncated``."""
    out: queue.Queue = queue.Queue()
    free: queue.Queue = queue.Queue()
    for _ in range(3):
        free.put(bytearray(block_bytes))
    stop = threading.Event()

    def produce() -> None:
        raw = _Raw(path)
        try:
            carry = b""
            ended = False
            while not stop.is_set() and not ended:
                buf = free.get()
                if stop.is_set():
                    break
                if len(buf) < len(carry) + block_bytes:
                    buf.extend(bytes(len(carry) + block_bytes - len(buf)))
                buf[: len(carry)] = carry
                with memoryview(buf) as view:
                    try:
                        got = raw.readinto(view[len(carry) : len(carry) + block_bytes])
                    except _Truncated as exc:
                        if stream is None or not stream.tolerate_truncation:
                            raise
                        stream.truncated = True
                        got, ended = exc.args[1], True
                size = len(carry) + got
                if ended:  # a cut stream: its last line is incomplete, however valid it looks
                    size = buf.rfind(b"\n", 0, size) + 1
                if got == 0 or ended:
                    ended = True
                    if size:
                        out.put((buf, size, raw.position(), split_lines(buf, size, parts)))
                    break
                cut = buf.rfind(b"\n", 0, size) + 1
                if cut == 0:  # no line end yet: keep reading
                    carry = bytes(buf[:size])
                    free.put(buf)
                    continue
                carry = bytes(buf[cut:size])
                out.put((buf, cut, raw.position(), split_lines(buf, cut, parts)))
            out.put(None)
        except BaseException as exc:
            out.put(exc)
        finally:
            raw.close()

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    previous = None
    try:
        while True:
            item = out.get()
            if previous is not None:
                free.put(previous)
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            previous = item[0]
            yield item
    finally:
        stop.set()
        free.put(bytearray(0))  # wakes a producer waiting for a buffer
        thread.join()


class BlockStream:
    """Parsed blocks of one source, with the checksum of its bytes once read to the end."""

    def __init__(self, blocks: Iterator[tuple[ParsedBlock, int, int]], *,
                 tolerate_truncation: bool = False) -> None:  # fmt: skip
        self._blocks = blocks
        self.checksum = ""
        self.tolerate_truncation = tolerate_truncation
        self.truncated = False

    def __iter__(self) -> Iterator[tuple[ParsedBlock, int, int]]:
        return self._blocks

    def close(self) -> None:
        """Stop reading now (a bad row ended the source early), in the caller's thread: left
        to the garbage collector, a reader's clean-up (joining its read-ahead thread) could run
        inside another thread that holds a lock it then waits for."""
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()


def text_reader(recipe: Recipe, block_bytes: int, pool: Executor, threads: int
                ) -> Callable[[Source], BlockStream]:  # fmt: skip
    """The reader for delimited text, plain or gzip: (block, lines before it, bytes read).

    The next block is parsed (on ``pool``) while the caller works on the current one, into the
    other of two buffer sets, so the cores never wait at the end of a phase."""

    def read(source: Source) -> BlockStream:
        def blocks() -> Iterator[tuple[ParsedBlock, int, int]]:
            sets = (BlockBuffers(recipe.layout), BlockBuffers(recipe.layout))
            raw = _blocks(source.path, block_bytes, stream, threads)
            ahead = ThreadPoolExecutor(1, thread_name_prefix="benchsuite-parse")
            header_lines = 0

            def submit(item: tuple | None, k: int) -> tuple[Future, int] | None:
                nonlocal header_lines
                if item is None:
                    return None
                data, size, position, pieces = item
                start = 0
                if k == 0 and recipe.header is not None and data.startswith(recipe.header):
                    start, header_lines = (data.find(b"\n", 0, size) + 1) or size, 1
                future = ahead.submit(
                    parse_block, data[start:size] if start else data, recipe.layout,
                    size=size - start, pool=pool, threads=threads, buffers=sets[k % 2],
                    pieces=None if start else pieces,
                )  # fmt: skip
                return future, position

            try:
                pending = submit(next(raw, None), 0)
                line = header_lines
                checksum = 0
                k = 0
                while pending is not None:
                    future, position = pending
                    block = future.result()
                    # asking for the next block frees this one's bytes: they are parsed
                    pending = submit(next(raw, None), k + 1)
                    checksum = fold_hashes(block.row_hash, checksum, line)
                    stream.checksum = f"rows-fnv64:{checksum:016x}"
                    yield block, line, position
                    line += len(block)
                    k += 1
            finally:
                ahead.shutdown(cancel_futures=True)
                raw.close()

        stream = BlockStream(
            blocks(), tolerate_truncation=recipe.settings.get("bad_rows") == "skip"
        )
        return stream

    return read


# -- counting and remapping kernels --------------------------------------------------------------


@numba.njit(nogil=True, cache=True)
def _count_ids(ids, offsets, counts):
    for r in range(ids.shape[0]):
        for j in range(ids.shape[1]):
            counts[offsets[j] + ids[r, j]] += 1


@numba.njit(nogil=True, cache=True)
def _count_rows(ids, rows, base, offsets, counts):
    for i in range(rows.shape[0]):
        r = rows[i] - base
        for j in range(ids.shape[1]):
            counts[offsets[j] + ids[r, j]] += 1


@numba.njit(nogil=True, cache=True)
def _apply_lut(ids, offsets, lut):
    for r in range(ids.shape[0]):
        for j in range(ids.shape[1]):
            ids[r, j] = lut[offsets[j] + ids[r, j]]


# -- the preparation -----------------------------------------------------------------------------


def _settings_key(recipe: Recipe) -> str:
    canonical = json.dumps(
        {
            "dataset": recipe.dataset,
            "settings": {k: v for k, v in recipe.settings.items() if k not in _RUNTIME},
            "parts": [s.part for s in recipe.sources],
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


#: Settings that change how fast preparation runs, never what it produces.
_RUNTIME = {"threads", "block_mb"}


def prepare(recipe: Recipe, out: Path, *, force: bool = False, report: Report | None = None
            ) -> dict[str, Any]:  # fmt: skip
    """Prepare ``recipe``'s sources into ``out`` and return the manifest."""
    settings = recipe.settings
    policy = settings.get("bad_rows", "error")
    if policy not in BAD_ROW_POLICIES:
        raise BenchsuiteError(f"--bad-rows must be one of {', '.join(BAD_ROW_POLICIES)}")
    for source in recipe.sources:
        if not source.path.is_file():
            raise BenchsuiteError(f"{source.path}: no such file")
    key = _settings_key(recipe)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.json"
    if force:
        _clear(out)
    elif (out / MANIFEST).exists() or state_path.exists():
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        if state.get("key") != key:
            raise BenchsuiteError(
                f"{out} holds a dataset prepared from other files or settings; "
                "choose another --out or pass --force to replace it"
            )
        if (out / MANIFEST).exists():
            manifest = json.loads((out / MANIFEST).read_text())
            had = [(m["source"], m["bytes"]) for m in manifest["sources"]]
            now = [(s.path.name, s.path.stat().st_size) for s in recipe.sources]
            if had != now:
                raise BenchsuiteError(
                    f"{out} holds a dataset prepared from other files; "
                    "choose another --out or pass --force to replace it"
                )
            if report:
                report.line(f"{out}: already prepared ({manifest['rows']:,} rows)")
            return manifest
    _atomic_json(state_path, {"key": key})
    total = sum(s.path.stat().st_size for s in recipe.sources)
    report = report or Report(total, enabled=False)
    started = time.perf_counter()

    threads = max(1, int(settings.get("threads") or min(2, os.cpu_count() or 1)))
    block_bytes = int(float(settings.get("block_mb") or 8) * 2**20)
    cap = int(settings.get("cap") or 0)
    vocabs = [Vocabulary(name, cap) for name in recipe.features]
    pool = ThreadPoolExecutor(threads)  # encoding
    parse_pool = ThreadPoolExecutor(threads)  # parsing the next block meanwhile
    reader = recipe.reader or text_reader(recipe, block_bytes, parse_pool, threads)
    parts_dir = out / "parts"
    parts_dir.mkdir(exist_ok=True)
    done_bytes = 0
    rows_total = 0
    part_meta: list[dict[str, Any]] = []
    redo = False  # once a part is redone, the first-sight ids of every later part may move
    for source in recipe.sources:
        final = parts_dir / source.part
        size = source.path.stat().st_size
        meta = (
            json.loads((final / "part.json").read_text()) if (final / "part.json").exists() else {}
        )
        if not redo and meta.get("bytes") == size and meta.get("source") == source.path.name:
            # finished before an interruption: keep it
            with np.load(final / "vocab.npz") as delta:
                for v in vocabs:
                    v.extend(delta[v.name])
            report.line(f"{source.part}: prepared already ({meta['rows']:,} rows), kept")
        else:
            redo = True
            try:
                meta = _prepare_part(
                    recipe, source, reader, vocabs, final, policy, pool, threads, report,
                    done_bytes, rows_total,
                )  # fmt: skip
            except BaseException:
                pool.shutdown(cancel_futures=True)
                parse_pool.shutdown(cancel_futures=True)
                raise
        part_meta.append(meta)
        done_bytes += size
        rows_total += meta["rows"]

    pool.shutdown()
    parse_pool.shutdown()
    manifest = _finalise(recipe, out, part_meta, vocabs, report)
    manifest["seconds"] = round(time.perf_counter() - started, 3)
    manifest["rows_per_second"] = round(rows_total / max(manifest["seconds"], 1e-9))
    _atomic_json(out / MANIFEST, manifest)
    report.line(_summary(out, manifest))
    return manifest


def _clear(out: Path) -> None:
    for name in (MANIFEST, "state.json", "frequencies.npz", "duplicates.json"):
        (out / name).unlink(missing_ok=True)
    for name in ("parts", "splits", "duplicates"):
        shutil.rmtree(out / name, ignore_errors=True)


def _prepare_part(
    recipe: Recipe,
    source: Source,
    reader: Callable,
    vocabs: list[Vocabulary],
    final: Path,
    policy: str,
    pool: Executor,
    threads: int,
    report: Report,
    done_before: int,
    rows_before: int,
) -> dict[str, Any]:
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    sizes_before = [v.size for v in vocabs]
    bad = dict.fromkeys(PROBLEMS.values(), 0)
    rows = lines = 0
    features = len(vocabs)
    with (
        (tmp / "labels.u8").open("wb") as labels,
        (tmp / "dense.f32").open("wb") as dense,
        (tmp / "ids.i32").open("wb") as ids_file,
        (tmp / "rowhash.u64").open("wb") as hashes,
        contextlib.ExitStack() as stack,
    ):
        stream = stack.enter_context(contextlib.closing(reader(source)))
        by_feature = np.empty((features, 0), dtype=np.int32)
        by_row = np.empty((0, features), dtype=np.int32)
        for block, first_line, position in stream:
            lines = first_line + len(block)
            if len(block) and (block.status != OK).any():
                block = _bad_rows(block, source, first_line, policy, bad, recipe.layout)
            n = len(block)
            if by_row.shape[0] < n:  # reused: fresh memory costs a page fault per 4 KiB
                cap = max(n, int(by_row.shape[0] * 1.25))
                by_feature = np.empty((features, cap), dtype=np.int32)
                by_row = np.empty((cap, features), dtype=np.int32)
            ids = by_feature[:, :n]  # each feature's ids contiguous while they are written
            order = sorted(range(features), key=lambda j: -vocabs[j].size)  # big ones first

            def encode(j: int, block: ParsedBlock = block, ids: np.ndarray = ids) -> None:
                vocabs[j].encode(block.categories[:, j], ids[j])

            list(pool.map(encode, order))  # one task per feature: the pool balances them
            np.ascontiguousarray(block.labels).tofile(labels)
            np.ascontiguousarray(block.dense, dtype=np.float32).tofile(dense)
            np.copyto(by_row[:n], ids.T)
            by_row[:n].tofile(ids_file)
            np.ascontiguousarray(block.row_hash).tofile(hashes)
            rows += n
            report.update(done_before + position, rows_before + rows, f"{source.part}")
    if lines == 0:
        if policy == "error":
            raise BenchsuiteError(f"{source.path}: the file is empty")
        bad["empty_file"] = 1
    if stream.truncated:
        bad["truncated_gzip"] = 1
    np.savez(tmp / "vocab.npz", **{
        v.name: v.values[before : v.size] for v, before in zip(vocabs, sizes_before, strict=True)
    })  # fmt: skip
    meta = {
        "part": source.part,
        "source": source.path.name,
        "bytes": source.path.stat().st_size,
        "checksum": stream.checksum,
        "rows": rows,
        "lines": lines,
        "bad_rows": {k: v for k, v in bad.items() if v},
        "vocabulary": [v.size for v in vocabs],
    }
    _atomic_json(tmp / "part.json", meta)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return meta


def _bad_rows(
    block: ParsedBlock, source: Source, first_line: int, policy: str, bad: dict[str, int],
    layout: TextLayout,
) -> ParsedBlock:  # fmt: skip
    wrong = np.flatnonzero(block.status != OK)
    if policy == "error":
        i = int(wrong[0])
        problem = PROBLEMS[int(block.status[i])]
        detail = _PROBLEM_TEXT[problem].format(
            expected=len(layout.kinds), found=int(block.field[i]), field=int(block.field[i])
        )
        more = f" ({len(wrong) - 1} more in this block)" if len(wrong) > 1 else ""
        raise BenchsuiteError(
            f"{source.path}:{first_line + i + 1}: {detail}{more}; "
            "fix the file or prepare with --bad-rows skip to count and drop such rows"
        )
    kinds, counts = np.unique(block.status[wrong], return_counts=True)
    for k, c in zip(kinds.tolist(), counts.tolist(), strict=True):
        bad[PROBLEMS[k]] += c
    return block.select(block.status == OK)


def _finalise(
    recipe: Recipe, out: Path, parts: list[dict[str, Any]], vocabs: list[Vocabulary],
    report: Report,
) -> dict[str, Any]:  # fmt: skip
    rows = {p["part"]: p["rows"] for p in parts}
    total_rows = sum(rows.values())
    if total_rows == 0:
        raise BenchsuiteError(f"no rows in {', '.join(str(s.path) for s in recipe.sources)}")
    splits = recipe.splits(rows, recipe.settings)
    features = len(vocabs)
    sizes = np.array([v.size for v in vocabs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    counts = np.zeros(int(sizes.sum()), dtype=np.int64)
    report.line("counting training ids", final=False)
    split_files = _write_split_indices(out, splits)
    starts = dict(zip(rows, np.concatenate([[0], np.cumsum(list(rows.values()))[:-1]]).tolist(),
                      strict=True))  # fmt: skip
    train = splits["train"]
    if isinstance(train, np.ndarray):
        train = np.sort(train)
    for part, lo, hi, picks in _train_pieces(train, starts, rows):
        path = out / "parts" / part / "ids.i32"
        for a, chunk in _chunks(path, np.int32, features, lo, hi):
            if picks is None:
                _count_ids(chunk, offsets, counts)
            else:
                i, j = np.searchsorted(picks, [a, a + chunk.shape[0]])
                _count_rows(chunk, picks[i:j], a, offsets, counts)
    min_count = int(recipe.settings.get("min_count") or 1)
    luts, table_rows = [], []
    for j in range(features):
        lut, size = fold_rare(counts[offsets[j] : offsets[j] + sizes[j]], min_count)
        luts.append(lut)
        table_rows.append(max(size, 1))
    frequencies = {
        name: np.bincount(lut, weights=counts[offsets[j] : offsets[j] + sizes[j]],
                          minlength=table_rows[j]).astype(np.int64)
        for j, (name, lut) in enumerate(zip(recipe.features, luts, strict=True))
    }  # fmt: skip
    if min_count > 1:
        flat = np.concatenate(luts).astype(np.int32)
        for p in parts:
            _fold_part(out, p, features, offsets, flat, report)
    np.savez(out / "frequencies.npz", **frequencies)
    duplicates = _duplicates(out, parts)
    bad: dict[str, int] = {}
    for p in parts:
        for k, v in p["bad_rows"].items():
            bad[k] = bad.get(k, 0) + v
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "dataset": recipe.dataset,
        "settings": {k: v for k, v in recipe.settings.items() if k not in _RUNTIME},
        "sources": [
            {k: p[k] for k in ("source", "part", "bytes", "checksum", "rows", "lines", "bad_rows")}
            for p in parts
        ],
        "parts": [{"name": p["part"], "rows": p["rows"]} for p in parts],
        "rows": total_rows,
        "num_dense": recipe.layout.num_dense,
        "dense": recipe.dense,
        "features": [
            {"name": name, "rows": int(r), "distinct": int(s)}
            for name, r, s in zip(recipe.features, table_rows, sizes.tolist(), strict=True)
        ],
        "splits": {
            name: ({"index": split_files[name]} if name in split_files else {"ranges": value})
            for name, value in splits.items()
        },
        "split_rows": {
            name: len(v) if isinstance(v, np.ndarray) else int(sum(b - a for _, a, b in v))
            for name, v in splits.items()
        },
        "bad_rows": bad,
        "duplicate_rows": duplicates,
        "notes": recipe.notes,
    }
    manifest["fingerprint"] = fingerprint_of(manifest)
    return manifest


def _train_pieces(train: Any, starts: dict[str, int], rows: dict[str, int]):
    """(part, lo, hi, local rows or None) pieces covering the training split."""
    if not isinstance(train, np.ndarray):
        for part, lo, hi in train:
            yield part, lo, hi, None
        return
    for part, start in starts.items():
        lo, hi = np.searchsorted(train, [start, start + rows[part]])
        if hi > lo:
            yield part, 0, rows[part], (train[lo:hi] - start).astype(np.int64)


def _write_split_indices(out: Path, splits: dict[str, Any]) -> dict[str, str]:
    files = {}
    folder = out / "splits"
    for name, value in splits.items():
        if isinstance(value, np.ndarray):
            folder.mkdir(exist_ok=True)
            np.save(folder / f"{name}.npy", np.sort(value).astype(np.int64))
            files[name] = f"splits/{name}.npy"
    return files


_CHUNK_ROWS = 1 << 16


def _chunks(path: Path, dtype: type, cols: int, lo: int, hi: int, rows: int = _CHUNK_ROWS):
    """(first row, rows) of a flat row-major file, a bounded chunk at a time, read into one
    reused buffer (so memory stays the same whatever the file's size; the chunk is valid until
    the next one)."""
    width = max(cols, 1)
    item = np.dtype(dtype).itemsize * width
    buf = np.empty(min(rows, max(hi - lo, 0)) * width, dtype=dtype)
    with path.open("rb") as f:
        f.seek(lo * item)
        for a in range(lo, hi, rows):
            n = min(hi, a + rows) - a
            view = buf[: n * width]
            if f.readinto(memoryview(view).cast("B")) != n * item:
                raise BenchsuiteError(f"{path}: shorter than its rows; prepare again with --force")
            yield a, view.reshape(n, cols) if cols else view


def _fold_part(out: Path, part: dict[str, Any], features: int, offsets: np.ndarray,
               lut: np.ndarray, report: Report) -> None:  # fmt: skip
    """Rewrite a part's first-sight ids as final ids; a marker makes it run once."""
    folder = out / "parts" / part["part"]
    if (folder / "folded").exists() or part["rows"] == 0:
        return
    report.line(f"{part['part']}: folding rare ids", final=False)
    tmp = folder / "ids.i32.folding"
    with tmp.open("wb") as dst:
        for _, chunk in _chunks(folder / "ids.i32", np.int32, features, 0, part["rows"]):
            _apply_lut(chunk, offsets, lut)
            chunk.tofile(dst)
    os.replace(tmp, folder / "ids.i32")
    (folder / "folded").touch()


def _duplicates(out: Path, parts: list[dict[str, Any]]) -> int:
    """Rows equal to an earlier row, over every part: hashes split by top byte, then sorted.
    The count is kept and the row hashes removed, so finishing again does not need them."""
    done = out / "duplicates.json"
    if done.exists():
        return int(json.loads(done.read_text()))
    folder = out / "duplicates"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    total = sum(p["rows"] for p in parts)
    # about 4M hashes (32 MB) per bucket, at most 256 buckets (16 GB of hashes at 1TB scale)
    bits = min(8, max(0, (total >> 22).bit_length()))
    buckets = [(folder / f"{b:03d}.u64").open("wb") for b in range(1 << bits)]
    try:
        for p in parts:
            path = out / "parts" / p["part"] / "rowhash.u64"
            for _, chunk in _chunks(path, np.uint64, 0, 0, p["rows"], rows=1 << 20):
                if bits == 0:
                    chunk.tofile(buckets[0])
                    continue
                top = (chunk >> np.uint64(64 - bits)).astype(np.uint8)
                order = np.argsort(top, kind="stable")
                bounds = np.searchsorted(top[order], np.arange(len(buckets) + 1))
                ordered = chunk[order]
                for b in np.flatnonzero(np.diff(bounds)):
                    ordered[bounds[b] : bounds[b + 1]].tofile(buckets[b])
    finally:
        for f in buckets:
            f.close()
    duplicates = 0
    for b in range(len(buckets)):
        values = np.fromfile(folder / f"{b:03d}.u64", dtype=np.uint64)
        if values.size > 1:
            values.sort()
            duplicates += int(np.count_nonzero(values[1:] == values[:-1]))
    shutil.rmtree(folder)
    _atomic_json(done, duplicates)
    for p in parts:
        (out / "parts" / p["part"] / "rowhash.u64").unlink(missing_ok=True)
    return duplicates


def _summary(out: Path, manifest: dict[str, Any]) -> str:
    bad = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in manifest["bad_rows"].items())
    splits = ", ".join(f"{k} {v:,}" for k, v in manifest["split_rows"].items())
    dup = manifest["duplicate_rows"]
    lines = [
        f"prepared {manifest['dataset']} in {out}: {manifest['rows']:,} rows "
        f"({manifest['rows_per_second']:,} rows/s); {splits}",
        f"skipped bad rows: {bad}" if bad else "bad rows: none",
    ]
    if dup:
        lines.append(
            f"warning: {dup:,} rows repeat an earlier row exactly; repeated rows inflate AUC "
            "when they land in both training and evaluation"
        )
    return "\n".join(lines)


def _atomic_json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
