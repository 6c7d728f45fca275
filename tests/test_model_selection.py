"""Model selection: the random channel partition."""

import numpy as np
import pytest

from channeldecomp.model_selection import random_channel_partition


def test_random_partition_has_the_sizes_and_no_overlap():
    groups = random_channel_partition([3, 2, 4], 9, random_state=0)
    assert [len(g) for g in groups] == [3, 2, 4]
    assert sorted(np.concatenate(groups).tolist()) == list(range(9))
    again = random_channel_partition([3, 2, 4], 9, random_state=0)
    assert all((a == b).all() for a, b in zip(groups, again))
    with pytest.raises(ValueError, match="need 10 columns; X has 9"):
        random_channel_partition([3, 3, 4], 9)
