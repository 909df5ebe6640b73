"""Writing into arrays given to or returned by a layer never changes a later result.

For every layer of both packages, two forward/backward rounds run twice
from the same seed: once as is, once overwriting every array the layer
returned and every input after the call that took it.  Outputs, input
gradients, parameter gradients and updated parameters must be identical,
and in the first run every array returned earlier must still hold its
value after the later calls (a layer that reuses its output buffers would
change them).
"""

import pytest

from . import bad_calls_table as table

PROBES = table.aliasing_probes()
outcomes = table.outcomes_fixture("aliasing", PROBES)


@pytest.mark.parametrize("probe", PROBES, ids=[probe.id for probe in PROBES])
def test_no_aliasing(probe, outcomes):
    table.check_returned(outcomes[probe.id])
