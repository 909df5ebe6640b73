"""The FAU conv target runs end to end once (untimed in substance: smoke windows)."""

import math

from bench import targets


def test_fau_target_row():
    # fau_targets first checks that both layers agree to 1e-10; a wrong
    # compat layer fails here before anything is timed.
    (row,) = targets.fau_targets(targets.SETTINGS["smoke"], log=lambda *_: None)
    assert row["kind"] == "fau-conv"
    assert row["threshold"] == targets.FAU_CONV_VS_LOOPS
    assert math.isfinite(row["ratio"]) and row["ratio"] > 0
    assert row["result"] in ("PASS", "MISS")
    assert set(row["detail"]) == {"compat", "loops"}
