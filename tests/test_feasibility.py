"""Memory feasibility: a cell that cannot fit on its device is recorded infeasible, not run."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchsuite import results
from benchsuite.api import DataStats, HardwareProfile, Infeasible, TableSpec, full_table_bytes
from benchsuite.cli import main
from benchsuite.feasibility import (
    ACTIVATION_COPIES,
    MARGIN_BYTES,
    check_memory,
    estimate_need,
    human_bytes,
)
from benchsuite.host import Host
from benchsuite.suite import load_suite
from benchsuite_plugins.datasets.profiles import TB_CARDINALITIES
from benchsuite_plugins.hardware import cpu as cpu_plugin

SMALL_DEVICE = """
    import torch
    from benchsuite.api import HardwareProfile
    from benchsuite.hookspecs import hookimpl

    class Small(HardwareProfile):
        name = "small"
        summary = "A CPU that claims to hold {capacity!r} bytes (test)"

        @property
        def device(self):
            return torch.device("cpu")

        def fingerprint(self):
            return {{"profile": "small"}}

        def memory_capacity(self):
            return {capacity!r}

    @hookimpl
    def benchsuite_register_hardware():
        return [Small]
"""

TB_TABLES = [TableSpec(f"C{i + 1}", n) for i, n in enumerate(TB_CARDINALITIES)]
TB_CONFIG = {
    "model": {"dim": 128},
    "train": {"optimizer": "sgd", "batch_size": 2048},
    "inference": {"batch_sizes": [2048, 16384]},
}


class _Fixed(HardwareProfile):
    name = "fixed"

    def __init__(self, capacity: int | None) -> None:
        super().__init__()
        self.capacity = capacity

    def memory_capacity(self) -> int | None:
        return self.capacity


def _method(host: Host, name: str, **params):
    return host.get("methods", name).cls(**params)


def _run(suite: Path, out: Path, host_dir: Path) -> int:
    return main(
        ["run", "--suite", str(suite), "--out", str(out), "--quiet", "--plugins-dir", str(host_dir)]
    )


def _cell_needs(suite_path: Path, host: Host) -> dict[str, int]:
    """What the estimate says each cell of the suite needs."""
    suite = load_suite(suite_path, host)
    dataset = host.get("datasets", "synthetic").cls(**suite.config["dataset"]["params"])
    full = full_table_bytes(dataset.tables, suite.config["model"]["dim"])
    return {
        cell.method: estimate_need(
            suite.method(cell),
            dataset.tables,
            cell.budget.bytes_for(full),
            DataStats(),
            suite.config,
        ).total_bytes
        for cell in suite.cells()
    }


def test_full_is_infeasible_on_a_small_device_while_hashing_runs(
    write_suite, write_plugin, plugins_dir, host_with, tmp_path
):
    suite_path = write_suite({"hardware": "small"})
    write_plugin("small", SMALL_DEVICE.format(capacity=1))  # registered for validation
    needs = _cell_needs(suite_path, host_with())
    assert needs["hashing"] < needs["full"]
    between = (needs["hashing"] + needs["full"]) // 2
    write_plugin("small", SMALL_DEVICE.format(capacity=between))

    out = tmp_path / "out"
    assert _run(suite_path, out, plugins_dir) == 0
    records = {r["cell"]["method"]: r for r in results.load_records(out)}

    full = records["full"]
    assert full["status"] == "infeasible"
    assert full["error"].startswith("full needs ")
    assert "of embedding" in full["error"]
    assert f"but the small device has {human_bytes(between)} available" in full["error"]
    assert full["metrics"]["memory_check"]["needed_bytes"] == needs["full"]
    assert full["metrics"]["memory_check"]["capacity_bytes"] == between
    assert "train_samples_per_s" not in full["metrics"]  # nothing was built or trained

    hashing = records["hashing"]
    assert hashing["status"] == "ok"
    assert hashing["metrics"]["memory_check"]["needed_bytes"] == needs["hashing"]


def test_unknown_capacity_never_blocks(write_suite, write_plugin, plugins_dir, tmp_path):
    write_plugin("small", SMALL_DEVICE.format(capacity=None))
    out = tmp_path / "out"
    assert _run(write_suite({"hardware": "small", "methods": ["full"]}), out, plugins_dir) == 0
    [record] = results.load_records(out)
    assert record["status"] == "ok"
    assert record["metrics"]["memory_check"]["capacity_bytes"] is None


def test_full_at_1tb_scale_needs_its_96_gb_of_tables(builtin_host):
    need = estimate_need(_method(builtin_host, "full"), TB_TABLES, 0, DataStats(), TB_CONFIG)
    assert need.embedding_bytes == full_table_bytes(TB_TABLES, 128) + 16 * 26  # + offsets
    assert need.optimizer_bytes == 0  # plain SGD keeps no state
    assert need.basis == "plan"
    activations = ACTIVATION_COPIES * 16384 * 27 * 128 * 4
    assert need.working_bytes > MARGIN_BYTES + activations
    with pytest.raises(Infeasible) as info:
        full = _method(builtin_host, "full")
        check_memory(
            "full",
            full,
            TB_TABLES,
            DataStats(),
            TB_CONFIG,
            _Fixed(22_300_000_000),
            {"budget_bytes": 0},
        )
    message = str(info.value)
    assert message.startswith("full needs 96.1 GB of embedding (+ 0 B of sgd optimizer state")
    assert message.endswith("but the fixed device has 22.3 GB available")


def test_full_at_1tb_scale_fits_a_device_with_room(builtin_host):
    metrics = {"budget_bytes": 0}
    full = _method(builtin_host, "full")
    check_memory("full", full, TB_TABLES, DataStats(), TB_CONFIG, _Fixed(141 * 10**9), metrics)
    assert metrics["memory_check"]["needed_bytes"] < 141_000_000_000


def test_adagrad_doubles_the_embedding(builtin_host):
    adagrad = {**TB_CONFIG, "train": {**TB_CONFIG["train"], "optimizer": "adagrad"}}
    sgd = estimate_need(_method(builtin_host, "hashing"), TB_TABLES, 10**9, DataStats(), TB_CONFIG)
    need = estimate_need(_method(builtin_host, "hashing"), TB_TABLES, 10**9, DataStats(), adagrad)
    assert need.optimizer_bytes == need.embedding_bytes == sgd.embedding_bytes


def test_method_needing_statistics_is_bounded_by_its_budget(builtin_host):
    """Its plan depends on data it has not seen yet; the budget caps what it may build."""
    lhf = _method(builtin_host, "lhf")
    assert lhf.needs
    need = estimate_need(lhf, TB_TABLES, 96_136_908, DataStats(), TB_CONFIG)
    assert (need.embedding_bytes, need.basis) == (96_136_908, "budget")
    with pytest.raises(Infeasible, match=r"^lhf needs at most 96.1 MB of embedding"):
        check_memory(
            "lhf",
            lhf,
            TB_TABLES,
            DataStats(),
            TB_CONFIG,
            _Fixed(10**6),
            {"budget_bytes": 96_136_908},
        )


def test_larger_batches_need_more_working_memory(builtin_host):
    small = {**TB_CONFIG, "inference": {"batch_sizes": [2048]}}
    hashing = _method(builtin_host, "hashing")
    big = estimate_need(hashing, TB_TABLES, 10**8, DataStats(), TB_CONFIG)
    little = estimate_need(hashing, TB_TABLES, 10**8, DataStats(), small)
    assert big.working_bytes - little.working_bytes == ACTIVATION_COPIES * (16384 - 2048) * (
        27 * 128 * 4
    )


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (96_136_908_288, "96.1 GB"),
        (22_300_000_000, "22.3 GB"),
        (100_000_000, "100 MB"),
        (999_600, "1 MB"),
        (3 * 10**12, "3 TB"),
    ],
)
def test_human_bytes(n, text):
    assert human_bytes(n) == text


def test_cpu_capacity_is_positive_and_below_physical_memory():
    capacity = cpu_plugin.Cpu().memory_capacity()
    assert capacity is not None and 0 < capacity <= cpu_plugin._total_memory()


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_cgroup_v2_limit_leaves_limit_minus_usage_plus_inactive_cache(tmp_path):
    root = _write(
        tmp_path,
        {
            "memory.max": "4000000000\n",
            "memory.current": "1500000000\n",
            "memory.stat": "anon 1000\ninactive_file 500000000\nactive_file 7\n",
        },
    )
    assert cpu_plugin._cgroup_room(root) == 4_000_000_000 - 1_500_000_000 + 500_000_000


def test_cgroup_v1_limit_is_read_from_the_memory_controller(tmp_path):
    _write(
        tmp_path / "memory",
        {
            "memory.limit_in_bytes": "2000000000\n",
            "memory.usage_in_bytes": "500000000\n",
            "memory.stat": "cache 1\ntotal_inactive_file 100000000\n",
        },
    )
    assert cpu_plugin._cgroup_room(tmp_path) == 1_600_000_000


@pytest.mark.parametrize("limit", ["max\n", "9223372036854771712\n"])
def test_no_cgroup_limit_means_no_cgroup_bound(tmp_path, limit):
    _write(tmp_path, {"memory.max": limit, "memory.current": "100\n"})
    assert cpu_plugin._cgroup_room(tmp_path) is None


def test_no_cgroup_files_means_no_cgroup_bound(tmp_path):
    assert cpu_plugin._cgroup_room(tmp_path) is None


def test_meminfo_available_is_read_in_bytes(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  1000 kB\nMemFree:  200 kB\nMemAvailable:  300 kB\n")
    assert cpu_plugin._meminfo_bytes("MemAvailable", meminfo) == 300 * 1024
    assert cpu_plugin._meminfo_bytes("Missing", meminfo) is None


def test_statistics_bytes_count_what_each_kind_keeps_per_id_and_row() -> None:
    from benchsuite.api import StatRequest
    from benchsuite.feasibility import statistics_bytes
    from benchsuite.stats import normalise

    tables = [TableSpec("a", 1000), TableSpec("b", 3000)]
    freq = statistics_bytes([normalise(StatRequest("frequencies"))], tables, 13)
    assert freq == 8 * 4000
    pre = statistics_bytes([normalise(StatRequest("pretrained", {"dim": 4}))], tables, 13)
    assert pre == 3 * 4000 * 4 * 4
    sig = statistics_bytes(
        [normalise(StatRequest("signatures", {"rows": 10, "hashes": 2}))], tables, 13
    )
    assert sig == 2 * 10 * (4 * 13 + 8 * 2 + 4) + 4000 * (4 * 2 + 8)


def test_statistics_too_big_for_the_host_make_the_cell_infeasible_before_computing_them(
    write_suite, tmp_path, monkeypatch
):
    monkeypatch.setattr(cpu_plugin.Cpu, "memory_capacity", lambda self: 300 * 2**20)
    suite = write_suite(
        {
            "methods": ["full", "lhf"],
            "dataset.params.scale": 0.02,
            "budgets": ["8x"],
        }
    )
    out = tmp_path / "out"
    assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    records = {r["cell"]["method"]: r for r in results.load_records(out)}
    lhf = records["lhf"]
    assert lhf["status"] == "infeasible"
    assert "of host memory for its statistics (" in lhf["error"]
    assert "stats_cost" not in lhf["metrics"]  # nothing was computed
    assert records["full"]["status"] == "ok"
