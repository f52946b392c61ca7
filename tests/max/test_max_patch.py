"""The .maxpat is a patcher Max can open, and its controls match the package's definitions."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from bridge import config
from bridge.musical_time import MAX_BARS
from bridge.osc.addresses import BY_ADDRESS
from bridge.params import KNOB_PARAMS, PARAMS, SEED_MAX, SEED_RANDOM
from tests.max.maxpat import (
    JS,
    PATCH,
    js_declared,
    js_message_functions,
    load_patch,
    obj_name,
    valueof,
)

# Inlets and outlets of the Max objects the device uses, from Max's reference and saved patches.
ARITY_BY_OBJECT = {
    "plugin~": (2, 2), "plugout~": (2, 2), "live.thisdevice": (1, 3), "udpsend": (1, 0),
    "udpreceive": (1, 1), "prepend": (1, 1), "pattr": (1, 3),
}
ARITY_BY_CLASS = {
    "live.dial": (1, 2), "live.numbox": (1, 2), "live.text": (1, 2), "textedit": (1, 4),
    "message": (2, 1), "comment": (1, 0), "number": (1, 2), "slider": (1, 1), "umenu": (1, 3),
}
DEVICE_HEIGHT = 169  # Live gives every device this many pixels


@pytest.fixture(scope="module")
def patch():
    return load_patch()


def test_is_a_patcher_document(patch):
    p = patch.patcher
    assert p["fileversion"] == 1
    assert p["appversion"]["major"] >= 8
    assert isinstance(p["boxes"], list) and isinstance(p["lines"], list)
    assert p["openinpresentation"] == 1, "Live shows a device's presentation view"
    for box in patch.boxes.values():
        assert isinstance(box["maxclass"], str)
        assert isinstance(box["numinlets"], int) and box["numinlets"] >= 0
        assert isinstance(box["numoutlets"], int) and box["numoutlets"] >= 0
        assert len(box["patching_rect"]) == 4
        if box["numoutlets"]:
            assert len(box["outlettype"]) == box["numoutlets"], box["id"]


def test_box_ids_are_unique():
    ids = [b["box"]["id"] for b in load_patch().patcher["boxes"]]
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_every_patchline_joins_existing_inlets_and_outlets(patch):
    assert patch.lines
    for src, outlet, dst, inlet in patch.lines:
        assert src in patch.boxes and dst in patch.boxes, (src, dst)
        assert 0 <= outlet < patch.boxes[src]["numoutlets"], (src, outlet)
        assert 0 <= inlet < patch.boxes[dst]["numinlets"], (dst, inlet)
    assert [line for line, n in Counter(patch.lines).items() if n > 1] == []


def expected_arity(box):
    name, words = obj_name(box), box.get("text", "").split()
    if name == "js":
        return js_declared("inlets"), js_declared("outlets")
    if name == "t":
        return 1, len(words) - 1
    if name == "route":  # Max 8.5+: one inlet per argument besides the left one
        return len(words), len(words)
    if name == "sel":
        return 2, len(words)
    if name in ARITY_BY_OBJECT:
        return ARITY_BY_OBJECT[name]
    return ARITY_BY_CLASS.get(box["maxclass"])


def test_objects_have_the_inlets_and_outlets_max_gives_them(patch):
    for box in patch.boxes.values():
        expected = expected_arity(box)
        assert expected is not None, f"no known arity for {box['maxclass']} {box.get('text', '')}"
        assert (box["numinlets"], box["numoutlets"]) == expected, box.get("text", box["id"])


def test_js_object_loads_the_script_beside_the_patch(patch):
    js = patch.one("js")
    assert js["text"] == f"js {JS.name}"
    assert js["saved_object_attributes"]["filename"] == JS.name
    assert JS.parent == PATCH.parent and JS.exists()


def test_audio_passes_straight_through(patch):
    plugin, plugout = patch.one("plugin~"), patch.one("plugout~")
    for channel in (0, 1):
        assert (plugout["id"], channel) in [(b["id"], i) for b, i in
                                            patch.targets(plugin["id"], channel)]


def test_the_js_is_initialised_after_every_control_has_reported(patch):
    device = patch.one("live.thisdevice")
    trigger = patch.next(device["id"])
    assert trigger["text"] == "t b b"
    init = patch.next(trigger["id"], 0)  # fires last (right to left)
    assert init["maxclass"] == "message" and init["text"] == "init"
    assert patch.targets(init["id"]) == [(patch.one("js"), 0)]
    refreshed = {b["id"] for b, _ in patch.targets(trigger["id"], 1)}
    controls = {b["id"] for b in patch.boxes.values()
                if b["maxclass"] in ("live.dial", "live.numbox", "number", "textedit")
                and not b.get("readonly")}
    assert controls <= refreshed


def test_messages_and_prepends_into_the_js_name_functions_it_has(patch):
    functions = js_message_functions()
    js = patch.one("js")
    for box, _ in patch.sources(js["id"]):
        if box["maxclass"] == "message":
            assert box["text"] in functions, box["text"]
        elif obj_name(box) == "prepend":
            assert box["text"].split()[1] in functions, box["text"]
        else:
            assert obj_name(box) == "udpreceive", box.get("text")


def test_js_outlets_feed_udpsend_udpreceive_status_progress_and_the_style_menu(patch):
    js = patch.one("js")
    assert patch.targets(js["id"], 0) == [(patch.one("udpsend"), 0)]
    assert patch.targets(js["id"], 1) == [(patch.one("udpreceive"), 0)]
    status = patch.next(js["id"], 2)
    assert status["maxclass"] == "textedit" and status["readonly"] == 1
    progress = patch.next(js["id"], 3)
    assert progress["maxclass"] == "slider" and progress["size"] == 101.0
    assert patch.next(js["id"], 4)["maxclass"] == "umenu"
    assert patch.sources(patch.one("udpsend")["id"]) == [(js, 0)], "all OSC goes through the js"
    assert patch.targets(patch.one("udpreceive")["id"]) == [(js, 0)]


def test_udpsend_aims_at_the_daemons_default_port(patch):
    default_port = config.defaults().osc.port
    assert patch.one("udpsend")["text"].split()[1:] == ["127.0.0.1", str(default_port)]
    [port] = [b for b in patch.by_class("live.numbox") if b["varname"] == "daemon_port"]
    assert valueof(port)["parameter_initial"] == [float(default_port)]


def dials(patch):
    return {valueof(b)["parameter_longname"]: b for b in patch.by_class("live.dial")}


def live_dial_value(v, x):
    """Live maps a dial position x in 0..1 through its exponent."""
    lo, hi = v["parameter_mmin"], v["parameter_mmax"]
    return lo + (hi - lo) * x ** v["parameter_exponent"]


def test_there_is_one_dial_per_knob_parameter(patch):
    assert sorted(dials(patch)) == sorted(PARAMS[name].label for name in KNOB_PARAMS)


@pytest.mark.parametrize("name", KNOB_PARAMS)
def test_dial_range_default_and_unit_match_params(patch, name):
    spec = PARAMS[name]
    dial = dials(patch)[spec.label]
    v = valueof(dial)
    assert dial["parameter_enable"] == 1
    assert v.get("parameter_invisible", 0) == 0, "knobs must stay automatable"
    assert (v["parameter_mmin"], v["parameter_mmax"]) == (spec.minimum, spec.maximum)
    assert v["parameter_initial"] == [spec.default] and v["parameter_initial_enable"] == 1
    # Int values past 255 must be a float parameter shown as Int (Max for Live's own advice).
    assert v["parameter_type"] == 0
    if spec.unit:
        assert v["parameter_unitstyle"] == 9 and spec.unit in v["parameter_units"]
    else:
        assert v["parameter_unitstyle"] == (0 if spec.type is int else 1)


@pytest.mark.parametrize("name", KNOB_PARAMS)
def test_dial_curve_matches_params(patch, name):
    """Linear stays linear; a log knob's centre shows what the daemon's knob centre gives."""
    spec = PARAMS[name]
    v = valueof(dials(patch)[spec.label])
    if spec.curve == "linear":
        assert v["parameter_exponent"] == 1.0
    else:
        assert v["parameter_exponent"] > 1.0
        # to_knob is the daemon's inverse curve; top-k's whole numbers allow a hair of slack.
        assert math.isclose(spec.to_knob(live_dial_value(v, 0.5)), 0.5, abs_tol=2e-3)
    for x in (0.0, 1.0):
        assert math.isclose(spec.to_knob(live_dial_value(v, x)), x, abs_tol=1e-9)


@pytest.mark.parametrize("name", KNOB_PARAMS)
def test_each_dial_reaches_the_js_as_a_knob_message(patch, name):
    dial = dials(patch)[PARAMS[name].label]
    prepend = patch.next(dial["id"])
    assert prepend["text"] == f"prepend knob {name}"
    assert patch.targets(prepend["id"]) == [(patch.one("js"), 0)]


def numbox(patch, varname):
    [box] = [b for b in patch.boxes.values() if b.get("varname") == varname]
    return box


def test_bars_variations_and_seed_ranges_match_the_package(patch):
    bars = valueof(numbox(patch, "bars"))
    assert (bars["parameter_mmin"], bars["parameter_mmax"]) == (1.0, float(MAX_BARS))
    spec = PARAMS["variations"]
    variations = valueof(numbox(patch, "variations"))
    assert (variations["parameter_mmin"], variations["parameter_mmax"]) == (spec.minimum,
                                                                            spec.maximum)
    assert variations["parameter_initial"] == [spec.default]
    seed = numbox(patch, "seed_box")
    assert (seed["minimum"], seed["maximum"]) == (SEED_RANDOM, SEED_MAX)
    for varname, word in (("bars", "bars"), ("variations", "variations"), ("seed_box", "seed")):
        prepend = patch.next(numbox(patch, varname)["id"])
        assert prepend["text"] == f"prepend {word}"


def test_buttons_are_mappable_and_send_the_prompt_before_asking(patch):
    prompt = numbox(patch, "prompt_text")
    js = patch.one("js")
    buttons = {valueof(b)["parameter_longname"]: b for b in patch.by_class("live.text")}
    assert set(buttons) == {"Generate", "Continue", "Cancel"}
    for label, message in (("Generate", "generate"), ("Continue", "continue_last"),
                           ("Cancel", "cancel")):
        button = buttons[label]
        assert button["parameter_enable"] == 1 and button["mode"] == 0
        sel = patch.next(button["id"])
        assert sel["text"] == "sel 1", "a press must fire once"
        nxt = patch.next(sel["id"])
        if label != "Cancel":
            assert nxt["text"] == "t b b"
            assert patch.targets(nxt["id"], 1) == [(prompt, 0)]
            nxt = patch.next(nxt["id"], 0)
        assert nxt["maxclass"] == "message" and nxt["text"] == message
        assert patch.targets(nxt["id"]) == [(js, 0)]


def test_text_fields_reach_the_js_through_route_text_and_are_stored(patch):
    js = patch.one("js")
    pattrs = {b["text"].split("@bindto ")[1]: b for b in patch.objects("pattr")}
    for varname, word in (("prompt_text", "prompt"), ("host_text", "host")):
        field = numbox(patch, varname)
        route = patch.next(field["id"])
        assert route["text"] == "route text"
        prepend = patch.next(route["id"])
        assert prepend["text"] == f"prepend {word}"
        assert patch.targets(prepend["id"]) == [(js, 0)]
        stored = pattrs[varname]
        assert stored["saved_object_attributes"]["parameter_enable"] == 1
        assert valueof(stored)["parameter_type"] == 3  # blob: any text, saved with the set


def test_parameter_names_are_unique_and_listed(patch):
    params = {b["id"]: valueof(b) for b in patch.boxes.values()
              if b.get("parameter_enable") == 1
              or b.get("saved_object_attributes", {}).get("parameter_enable") == 1}
    names = [v["parameter_longname"] for v in params.values()]
    assert [n for n, k in Counter(names).items() if k > 1] == []
    listed = patch.patcher["parameters"]
    for box_id, v in params.items():
        assert listed[box_id][0] == v["parameter_longname"]
    bank = listed["parameterbanks"]["0"]["parameters"]
    assert set(bank) <= set(names)
    assert [PARAMS[k].label for k in KNOB_PARAMS] == bank[:len(KNOB_PARAMS)]


def test_settings_are_stored_but_not_automatable(patch):
    for varname in ("daemon_port", "reply_port"):
        v = valueof(numbox(patch, varname))
        assert v["parameter_invisible"] == 1
        assert (v["parameter_mmin"], v["parameter_mmax"])[1] == 65535.0
    assert valueof(numbox(patch, "reply_port"))["parameter_initial"] == [0.0]  # 0: automatic


def test_presentation_fits_a_live_device(patch):
    shown = [b for b in patch.boxes.values() if b.get("presentation") == 1]
    assert len(shown) >= 15
    for box in shown:
        x, y, w, h = box["presentation_rect"]
        assert x >= 0 and y >= 0 and y + h <= DEVICE_HEIGHT, box.get("text", box["id"])


def test_every_osc_address_written_in_the_patch_exists(patch):
    for box in patch.boxes.values():
        if box["maxclass"] == "comment":
            continue
        for word in box.get("text", "").split():
            if word.startswith("/musicgen"):
                assert word in BY_ADDRESS, (box["id"], word)


def test_presented_controls_do_not_overlap(patch):
    shown = [(b.get("text") or b.get("varname") or b["id"], b["presentation_rect"])
             for b in patch.boxes.values() if b.get("presentation") == 1]
    for i, (name_a, (xa, ya, wa, ha)) in enumerate(shown):
        for name_b, (xb, yb, wb, hb) in shown[i + 1:]:
            assert not (xa < xb + wb and xb < xa + wa and ya < yb + hb and yb < ya + ha), (
                name_a, name_b)


def test_scripting_names_are_unique(patch):
    """pattr binds by scripting name; Max renames duplicates, which would unbind them."""
    names = [b["varname"] for b in patch.boxes.values() if "varname" in b]
    assert [n for n, k in Counter(names).items() if k > 1] == []
    for pattr in patch.objects("pattr"):
        assert pattr["text"].split("@bindto ")[1] in names


# The parameter table's ranges as literals (bridge/params.py, bridge/musical_time.py), not read
# from the package: a generator bug that moved a range cannot hide behind its own source.
LITERAL_DIALS = {  # label: (min, max, default)
    "Top-K": (1.0, 2048.0, 250.0),
    "Top-P": (0.0, 1.0, 0.0),
    "Temperature": (0.05, 4.0, 1.0),
    "CFG": (1.0, 15.0, 3.0),
    "Style": (0.0, 2.0, 1.0),
}


def test_dial_and_box_ranges_equal_the_parameter_tables_literal_ranges(patch):
    found = {label: (valueof(d)["parameter_mmin"], valueof(d)["parameter_mmax"],
                     valueof(d)["parameter_initial"][0]) for label, d in dials(patch).items()}
    assert found == LITERAL_DIALS
    bars, variations = valueof(numbox(patch, "bars")), valueof(numbox(patch, "variations"))
    assert (bars["parameter_mmin"], bars["parameter_mmax"]) == (1.0, 512.0)
    assert (variations["parameter_mmin"], variations["parameter_mmax"]) == (1.0, 8.0)
    seed = numbox(patch, "seed_box")
    assert (seed["minimum"], seed["maximum"]) == (-1, 2147483647)


def test_the_style_menu_is_filled_by_the_js_and_tells_it_the_chosen_index(patch):
    js = patch.one("js")
    [menu] = patch.by_class("umenu")
    assert patch.sources(menu["id"]) == [(js, 4)], "only the js fills the menu"
    assert menu["items"] == ["none"], "before the daemon answers, only no style"
    # Not a Live parameter: its items change with the daemon, an automated index would not.
    assert menu.get("parameter_enable", 0) == 0
    assert menu["presentation"] == 1
    prepend = patch.next(menu["id"], 0)  # the index, not the entry's text
    assert prepend["text"] == "prepend style_menu"
    assert patch.targets(prepend["id"]) == [(js, 0)]
    assert patch.targets(menu["id"], 1) == [] and patch.targets(menu["id"], 2) == []


def test_the_new_style_field_names_the_training(patch):
    js = patch.one("js")
    field = numbox(patch, "new_style_text")
    route = patch.next(field["id"])
    assert route["text"] == "route text"
    prepend = patch.next(route["id"])
    assert prepend["text"] == "prepend train_name"
    assert patch.targets(prepend["id"]) == [(js, 0)]
    # The shown button makes the field send its name first, typed but not yet Return'ed.
    [button] = [b for b in patch.by_class("message")
                if b["text"] == "train_style" and b.get("presentation") == 1]
    trigger = patch.next(button["id"])
    assert trigger["text"] == "t b b"
    assert patch.targets(trigger["id"], 1) == [(field, 0)]
    message = patch.next(trigger["id"], 0)
    assert message["maxclass"] == "message" and message["text"] == "train_style"
    assert patch.targets(message["id"]) == [(js, 0)]
