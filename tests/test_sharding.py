"""Sharded full baseline: ``full[shard=true]`` in torchrec tables, sharded table-wise over ranks.

The tests that run torchrec are skipped where the optional dependency is not installed; the
message a run without it gets is checked everywhere.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from benchsuite import results, sharding
from benchsuite.api import BenchsuiteError, DataStats, Infeasible, ParamError, TableSpec
from benchsuite.cli import main
from benchsuite.measure.memory import module_bytes
from benchsuite.model import DLRM
from benchsuite.training import make_optimizer
from benchsuite_plugins.methods.full import Full


@pytest.fixture(scope="session")
def torchrec() -> Any:
    """torchrec, or a skip saying that it does not import and how to install it."""
    try:
        import torchrec
    except ImportError as exc:
        pytest.skip(
            f"torchrec does not import ({exc}); it is optional: pip install "
            "fbgemm-gpu-cpu==1.8.0 tensordict pyre-extensions && pip install torchrec==1.8.0 "
            "--no-deps"
        )
    return torchrec


TABLES = [TableSpec("a", 7), TableSpec("b", 23), TableSpec("c", 5), TableSpec("d", 11)]
DIM, LR, WORLD = 4, 0.1, 2
GLOBAL_BATCH, STEPS = 9, 3  # 9 rows over 2 ranks: parts of 4 and 5 rows


def _model(shard: bool, seed: int = 0) -> DLRM:
    """DLRM over ``full`` or ``full[shard=true]``, seeded as the runner seeds a cell: the
    embedding must not draw from the global generator the MLPs are initialised from."""
    torch.manual_seed(seed)
    embedding = Full(shard=shard).build(TABLES, DIM, 0, DataStats(), seed)
    return DLRM(
        embedding, num_dense=3, num_features=len(TABLES), dim=DIM, bottom_mlp=[8], top_mlp=[8]
    )


def _batches() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(STEPS):
        ids = torch.stack([torch.randint(0, t.rows, (GLOBAL_BATCH,), generator=g) for t in TABLES])
        dense = torch.randn(GLOBAL_BATCH, 3, generator=g)
        labels = torch.randint(0, 2, (GLOBAL_BATCH,), generator=g).float()
        out.append((dense, ids.t().contiguous(), labels))
    return out


def _tables_of(model: nn.Module) -> list[torch.Tensor]:
    """Each feature's table of a plain ``full`` model."""
    emb = model.embedding
    return [
        emb.weight[o : o + n].detach().clone()
        for o, n in zip(emb.offsets.tolist(), emb.sizes.tolist(), strict=True)
    ]


def _dense_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "embedding" not in k}


def _one_process(optimizer: str) -> dict[str, Any]:
    """Plain ``full`` trained in one process on the whole global batches."""
    model = _model(shard=False)
    opt = make_optimizer(optimizer, model.parameters(), LR)
    logits = []
    for dense, ids, labels in _batches():
        opt.zero_grad(set_to_none=True)
        out = model(dense, ids)
        logits.append(out.detach())
        nn.functional.binary_cross_entropy_with_logits(out, labels).backward()
        opt.step()
    model.eval()
    with torch.inference_mode():
        dense, ids, _ = _batches()[0]
        inference = model(dense, ids)
    return {
        "logits": logits,
        "inference": inference,
        "tables": _tables_of(model),
        "dense": _dense_state(model),
    }


def _rank(rank: int, port: int, out: str) -> None:
    """One rank of a two-process gloo run: shard, train with the distributed loss scaling (summed
    loss × world / global batch), score in inference mode, save what the test compares."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group(
        "gloo", rank=rank, world_size=WORLD, timeout=dt.timedelta(seconds=120)
    )
    try:
        lo, hi = rank * GLOBAL_BATCH // WORLD, (rank + 1) * GLOBAL_BATCH // WORLD
        for optimizer in ("sgd", "adagrad"):
            model = _model(shard=True)
            shardable = sharding.is_shardable(model)
            unsharded = list(model.embedding.ebc.parameters())
            model = sharding.shard(model, torch.device("cpu"), WORLD, optimizer=optimizer, lr=LR)
            dense_params = {id(p) for p in sharding.dense_parameters(model)}
            opt = make_optimizer(optimizer, sharding.dense_parameters(model), LR)
            logits = []
            for dense, ids, labels in _batches():
                opt.zero_grad(set_to_none=True)
                part = model(dense[lo:hi], ids[lo:hi])
                logits.append(part.detach())
                loss = nn.functional.binary_cross_entropy_with_logits(
                    part, labels[lo:hi], reduction="sum"
                )
                (loss * WORLD / GLOBAL_BATCH).backward()
                opt.step()
            model.eval()
            with torch.inference_mode():
                dense, ids, _ = _batches()[0]
                inference = model(dense[lo:hi], ids[lo:hi])
            state = model.state_dict()
            shards = {
                k: [(s.metadata.shard_offsets, s.tensor.detach().clone()) for s in v.local_shards()]
                for k, v in state.items()
                if hasattr(v, "local_shards")
            }
            torch.save(
                {
                    "shardable_before": shardable,
                    "shardable_after": sharding.is_shardable(model),
                    "logits": logits,
                    "inference": inference,
                    "shards": shards,
                    "dense": {
                        k: v.detach().clone()
                        for k, v in state.items()
                        if not hasattr(v, "local_shards")
                    },
                    "tables_in_dense_optimizer": [
                        n
                        for n, p in model.named_parameters()
                        if id(p) in dense_params and "ebc" in n
                    ],
                    "fused_state_bytes": sharding.fused_state_bytes(model),
                    "unsharded_values_left": sum(p.numel() for p in unsharded),
                    "local_table_bytes": sum(
                        t.numel() * 4 for pieces in shards.values() for _, t in pieces
                    ),
                },
                Path(out) / f"{optimizer}-{rank}.pt",
            )
    finally:
        torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(torchrec, tmp_path_factory) -> Path:
    """What each rank saved after the two-process run (both optimizers, one spawn)."""
    out = tmp_path_factory.mktemp("sharded")
    mp.start_processes(_rank, args=(_free_port(), str(out)), nprocs=WORLD, start_method="spawn")
    return out


def _load(folder: Path, optimizer: str) -> list[dict[str, Any]]:
    return [torch.load(folder / f"{optimizer}-{r}.pt", weights_only=True) for r in range(WORLD)]


# -- without torchrec (runs everywhere) -------------------------------------------------------


def test_shard_without_torchrec_is_infeasible_with_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchrec", None)  # `import torchrec` now fails
    with pytest.raises(Infeasible) as err:
        Full(shard=True).build(TABLES, DIM, 0, DataStats(), 0)
    message = str(err.value)
    assert message.startswith("full[shard=true] needs torchrec to shard its tables")
    assert "pip install torchrec==1.8.0 --no-deps" in message
    assert "fbgemm-gpu-cpu==1.8.0" in message


def test_cell_without_torchrec_is_recorded_infeasible_with_the_reason(
    monkeypatch, write_suite, tmp_path
):
    monkeypatch.setitem(sys.modules, "torchrec", None)
    out = tmp_path / "out"
    suite = write_suite({"methods": ["full[shard=true]"]})
    main(["run", "--suite", str(suite), "--out", str(out), "--quiet"])
    (record,) = results.load_records(out)
    assert record["status"] == "infeasible"
    assert "needs torchrec" in record["error"] and "--no-deps" in record["error"]


def test_shard_parameter_must_be_a_bool():
    with pytest.raises(ParamError, match="parameter 'shard' must be bool"):
        Full(shard="yes")


def test_shard_is_off_by_default_and_leaves_the_plain_tables():
    module = Full().build(TABLES, DIM, 0, DataStats(), 0)
    assert not sharding.is_shardable(module)
    assert Full().label() == "full"


def test_placement_puts_the_largest_tables_first_on_the_emptiest_rank():
    sizes = {"a": 10, "b": 40, "c": 30, "d": 20, "e": 5}
    # b -> 0 (40), c -> 1 (30), d -> 1 (50), a -> 0 (50), e -> 0 (55)
    assert sharding.placement(sizes, 2) == {"a": 0, "b": 0, "c": 1, "d": 1, "e": 0}
    assert sharding.placement(sizes, 8) == {"a": 3, "b": 0, "c": 1, "d": 2, "e": 4}
    assert list(sharding.placement(sizes, 2)) == list(sizes)


def test_dense_parameters_of_an_unsharded_model_are_all_its_parameters():
    model = _model(shard=False)
    assert sharding.dense_parameters(model) == list(model.parameters())
    assert sharding.fused_state_bytes(model) == 0


def test_shard_without_a_process_group_says_to_use_torchrun():
    with pytest.raises(BenchsuiteError, match="needs a process group: start the run with torchrun"):
        sharding.shard(_model(shard=False), torch.device("cpu"), 2, optimizer="sgd", lr=LR)


# -- with torchrec ----------------------------------------------------------------------------


def test_sharded_full_conforms_and_counts_the_full_tables_bytes(torchrec):
    from benchsuite.testing import assert_conforms

    assert_conforms(Full(shard=True))
    module = Full(shard=True).build(TABLES, DIM, 0, DataStats(), 0)
    table_bytes = sum(t.rows for t in TABLES) * DIM * 4
    assert module_bytes(module) == table_bytes + 8 * len(TABLES)
    assert Full(shard=True).plan(TABLES, DIM, 0, DataStats()).total_bytes == module_bytes(module)
    assert sharding.is_shardable(module)


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_sharded_full_in_one_process_trains_exactly_as_full(torchrec, optimizer):
    plain, sharded = _model(shard=False), _model(shard=True)
    opts = [make_optimizer(optimizer, m.parameters(), LR) for m in (plain, sharded)]
    for dense, ids, labels in _batches():
        outs = []
        for model, opt in zip((plain, sharded), opts, strict=True):
            opt.zero_grad(set_to_none=True)
            out = model(dense, ids)
            outs.append(out.detach())
            nn.functional.binary_cross_entropy_with_logits(out, labels).backward()
            opt.step()
        torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-6)
    bags = sharded.embedding.ebc.embedding_bags.values()
    for table, bag in zip(_tables_of(plain), bags, strict=True):
        torch.testing.assert_close(table, bag.weight.detach(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_two_ranks_sharded_train_as_one_process_does(two_ranks, optimizer):
    ranks, ref = _load(two_ranks, optimizer), _one_process(optimizer)
    for step, expected in enumerate(ref["logits"]):
        got = torch.cat([r["logits"][step] for r in ranks])
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for name, expected in ref["dense"].items():
        for r in ranks:
            torch.testing.assert_close(r["dense"][name], expected, rtol=1e-5, atol=1e-6)
    held: dict[int, int] = {}
    for rank, r in enumerate(ranks):
        for key, pieces in r["shards"].items():
            feature = int(key.split(".")[-2].removeprefix("t"))
            for (row, col), tensor in pieces:
                assert (row, col) == (0, 0) and tensor.shape == ref["tables"][feature].shape
                torch.testing.assert_close(tensor, ref["tables"][feature], rtol=1e-5, atol=1e-6)
                held[feature] = rank
    assert sorted(held) == list(range(len(TABLES)))  # every table whole, on one rank
    assert set(held.values()) == {0, 1}


def test_two_ranks_sharded_score_in_inference_mode_as_one_process(two_ranks):
    ranks, ref = _load(two_ranks, "adagrad"), _one_process("adagrad")
    got = torch.cat([r["inference"] for r in ranks])
    torch.testing.assert_close(got, ref["inference"], rtol=1e-5, atol=1e-6)


def test_sharded_tables_leave_the_dense_optimizer_and_keep_their_own_state(two_ranks):
    for optimizer in ("sgd", "adagrad"):
        for r in _load(two_ranks, optimizer):
            assert r["shardable_before"] and not r["shardable_after"]
            assert r["tables_in_dense_optimizer"] == []
            expected = r["local_table_bytes"] if optimizer == "adagrad" else 0
            assert r["fused_state_bytes"] == expected


def test_each_rank_keeps_only_its_own_tables_after_sharding(two_ranks):
    table_bytes = sum(t.rows for t in TABLES) * DIM * 4
    ranks = _load(two_ranks, "sgd")
    for r in ranks:
        assert r["unsharded_values_left"] == 0
        assert 0 < r["local_table_bytes"] < table_bytes
    assert sum(r["local_table_bytes"] for r in ranks) == table_bytes
