"""The empty-input rule, on every layer of both packages.

An empty batch is legitimate (as in NumPy and PyTorch): forward and
backward return correctly shaped empty arrays, parameter gradients are
zero, and the layer is left as it was.  A zero-length axis other than the
batch is a mistake: ``ValueError`` naming the class and the shape.  The
checks run in a child process (:mod:`bad_calls_table`), since an empty
array handed to a compiled kernel could crash the process.
"""

import pytest

from . import bad_calls_table as table

PROBES = table.empty_probes()
outcomes = table.outcomes_fixture("empty", PROBES)


@pytest.mark.parametrize("probe", PROBES, ids=[probe.id for probe in PROBES])
def test_empty_input_rule(probe, outcomes):
    table.check_returned(outcomes[probe.id])
