import re

import numpy as np
import pytest

from channeldecomp._channels import channel_sizes_partition, resolve_channels

NAMES = ["muons__pt", "muons__eta", "photons__pt", "jets__pt", "jets__eta"]


def _as_lists(resolved):
    return {name: idx.tolist() for name, idx in resolved.items()}


def test_prefix_groups_in_order_of_first_appearance():
    resolved = resolve_channels("prefix", 5, NAMES)
    assert _as_lists(resolved) == {"muons": [0, 1], "photons": [2], "jets": [3, 4]}


def test_names_indices_and_regex_forms_agree():
    by_names = resolve_channels(
        {"a": ["muons__pt", "muons__eta"], "b": ["photons__pt", "jets__pt", "jets__eta"]}, 5, NAMES
    )
    by_index = resolve_channels({"a": [0, 1], "b": [2, 3, 4]}, 5)
    by_regex = resolve_channels({"a": "^muons", "b": re.compile("^(photons|jets)")}, 5, NAMES)
    assert _as_lists(by_names) == _as_lists(by_index) == _as_lists(by_regex)


def test_negative_indices_are_normalised():
    assert _as_lists(resolve_channels({"a": [-1], "b": [0, 1]}, 3)) == {"a": [2], "b": [0, 1]}


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ({"a": ["muons__pt", "nope"], "b": [2, 3, 4]}, "'nope'"),
        ({"a": [0, 1, 2], "b": [2, 3, 4]}, "in two channels, 'a' and 'b'"),
        ({"a": [0, 1, 2, 3, 4], "b": "^zzz"}, "Channel 'b' is empty"),
        ({"a": [0, 1]}, "in no channel"),
        ({"a": [0, 9]}, "index 9"),
        ({"a": [0, 0, 1, 2, 3, 4]}, "more than once"),
        ({}, "empty dict"),
        ("suffix", "only string form is 'prefix'"),
    ],
)
def test_bad_specifications_name_the_problem(channels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve_channels(channels, 5, NAMES)


def test_overlap_message_names_the_column():
    with pytest.raises(ValueError, match="'photons__pt'"):
        resolve_channels({"a": [0, 1, 2], "b": [2, 3, 4]}, 5, NAMES)


def test_type_errors():
    with pytest.raises(TypeError, match="mixes"):
        resolve_channels({"a": [0, "muons__eta"]}, 5, NAMES)
    with pytest.raises(TypeError, match="dict"):
        resolve_channels([[0, 1]], 5, NAMES)
    with pytest.raises(TypeError, match="must map to"):
        resolve_channels({"a": 3}, 5, NAMES)


def test_names_need_feature_names():
    with pytest.raises(ValueError, match="no feature names"):
        resolve_channels({"a": ["x"]}, 1)
    with pytest.raises(ValueError, match="no feature names"):
        resolve_channels("prefix", 1)


def test_prefix_with_unprefixed_columns():
    names = ["muons__pt", "luminosity"]
    with pytest.raises(ValueError, match="'luminosity'"):
        resolve_channels("prefix", 2, names)
    assert _as_lists(resolve_channels("prefix", 2, names, remainder="drop")) == {"muons": [0]}


def test_remainder_drop_keeps_listed_columns():
    resolved = resolve_channels({"a": [1]}, 3, remainder="drop")
    assert _as_lists(resolved) == {"a": [1]}


def test_random_partition_has_the_sizes_and_no_overlap():
    groups = channel_sizes_partition([3, 2, 4], 9, random_state=0)
    assert [len(g) for g in groups] == [3, 2, 4]
    assert sorted(np.concatenate(groups).tolist()) == list(range(9))
    again = channel_sizes_partition([3, 2, 4], 9, random_state=0)
    assert all((a == b).all() for a, b in zip(groups, again))
