"""The device's parameters are derived from the package: the patcher on disk must be synced."""

from __future__ import annotations

import copy
import json

import pytest

from bridge.params import PARAMS
from tools import max_device


def test_the_patcher_on_disk_matches_the_package():
    # Stale after a parameter change? Run: python -m tools.max_device --write
    assert max_device.PATCH.read_text(encoding="utf-8") == max_device.synced_text()


def test_a_changed_parameter_reaches_its_dial():
    original = json.loads(max_device.PATCH.read_text(encoding="utf-8"))
    fields = max_device.request_fields()
    fields["cfg"].update(maximum=20.0, default=4.0)
    patch = max_device.sync(copy.deepcopy(original), fields)
    dial = max_device._boxes_by_varname(patch)["cfg"]["saved_attribute_attributes"]["valueof"]
    assert (dial["parameter_mmax"], dial["parameter_initial"]) == (20.0, [4.0])
    assert max_device.render(patch) != max_device.render(original)


def test_log_dials_centre_on_the_daemons_knob_centre():
    fields = max_device.request_fields()
    spec = PARAMS["temperature"]
    e = max_device.dial_exponent(fields["temperature"])
    centre = spec.minimum + (spec.maximum - spec.minimum) * 0.5 ** e
    assert spec.to_knob(centre) == pytest.approx(0.5, abs=1e-4)
    assert max_device.dial_exponent(fields["cfg"]) == 1.0


def test_a_missing_box_names_the_fix():
    patch = json.loads(max_device.PATCH.read_text(encoding="utf-8"))
    patch["patcher"]["boxes"] = [b for b in patch["patcher"]["boxes"]
                                 if b["box"].get("varname") != "top_p"]
    with pytest.raises(ValueError, match="top_p.*Scripting Name"):
        max_device.sync(patch)
