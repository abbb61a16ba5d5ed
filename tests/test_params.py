"""The name[key=value] grammar used on the command line and in suites."""

import pytest

from benchsuite.api import BenchsuiteError
from benchsuite.params import parse_method_list


def test_plain_names_and_typed_parameters():
    assert parse_method_list("full, hashing[seed=3,allocation=cap]") == [
        ("full", {}),
        ("hashing", {"seed": 3, "allocation": "cap"}),
    ]


def test_commas_inside_brackets_do_not_split():
    assert parse_method_list("qr[sizes=[1,2],op=mult],full") == [
        ("qr", {"sizes": [1, 2], "op": "mult"}),
        ("full", {}),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("hashing[seed=3", "unbalanced"),
        ("hashing[seed]", "key=value"),
        ("hashing[seed=1,seed=2]", "given twice"),
        ("full,,hashing", "empty method name"),
        ("9bad", "not a valid plugin name"),
    ],
)
def test_malformed_lists_name_the_problem(text, message):
    with pytest.raises(BenchsuiteError, match=message):
        parse_method_list(text)
