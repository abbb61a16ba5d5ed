"""Memory accounting: unique storages of parameters and buffers, optimizer state apart."""

import torch
from torch import nn

from benchsuite.measure.memory import module_bytes, optimizer_state_bytes
from benchsuite.training import make_optimizer


def test_parameters_are_counted_in_bytes():
    assert module_bytes(nn.Embedding(100, 8)) == 100 * 8 * 4


def test_shared_storage_is_counted_once():
    shared = nn.Parameter(torch.zeros(50, 4))
    a, b = nn.Module(), nn.Module()
    a.w, b.w = shared, shared
    both = nn.ModuleList([a, b])
    assert module_bytes(both) == 50 * 4 * 4


def test_views_of_one_storage_are_counted_once():
    m = nn.Module()
    m.register_buffer("whole", torch.zeros(10, dtype=torch.int64))
    m.register_buffer("first_half", m.whole[:5])
    assert module_bytes(m) == 10 * 8


def test_buffers_are_counted_like_parameters():
    m = nn.Embedding(10, 2)
    m.register_buffer("id_map", torch.zeros(1000, dtype=torch.int32))
    m.register_buffer("scratch", torch.zeros(7, dtype=torch.int64), persistent=False)
    assert module_bytes(m) == 10 * 2 * 4 + 1000 * 4 + 7 * 8


def test_adagrad_state_doubles_a_table_and_sgd_keeps_none():
    table = nn.Embedding(1000, 16)
    adagrad = make_optimizer("adagrad", table.parameters(), 0.1)
    assert optimizer_state_bytes(adagrad) >= 1000 * 16 * 4
    sgd = make_optimizer("sgd", table.parameters(), 0.1)
    assert optimizer_state_bytes(sgd) == 0
