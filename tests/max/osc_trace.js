"use strict";
// Drives the device through everything a user can do and prints, as JSON, every OSC message it
// sent (with the OSC type each argument would get) and how it took each kind of feedback.
// tests/max/test_max_osc.py checks the result against bridge.osc.addresses.
//
// usage: node tests/max/osc_trace.js '{"/musicgen/clip": "isff", ...}'
//   the argument maps each feedback address to its type tags (from the package's table); a
//   message of that shape is fed to a device that owns job 3.
const js = require("../../max_patches/musicgen_bridge.js");
const { makeHarness } = require("./fake_live.js");

const SAMPLE = { i: 3, f: 0.5, s: "/tmp/MusicGen/job-3_v0.wav" };

function oscType(value) {
    if (typeof value === "string") {
        return "s";
    }
    return Number.isInteger(value) ? "i" : "f";
}

function everythingAUserDoes() {
    const h = makeHarness({ view: "Session", tempo: 124.5, meter: [4, 4],
                            arrangementClips: [1, 2, 3, 4, 5].map((i) => ({ start: i * 8, end: i * 8 + 4,
                                                                        file: `/clips/${i}.wav` })) });
    js.KNOBS.forEach((name) => h.bridge.setKnob(name, 1.5));
    h.bridge.setBars(8);
    h.bridge.setVariations(2);
    h.bridge.setSeed(1234);
    h.bridge.setPrompt(["warm", "tape", "piano"]);
    h.bridge.setStyle(["band"]);
    h.bridge.init();
    js.KNOBS.forEach((name) => h.bridge.setKnob(name, 2.25));
    h.world.setSong("tempo", 98.25);
    h.world.setSong("signature_numerator", 6);
    h.world.setSong("signature_denominator", 8);
    h.bridge.generate();
    h.bridge.feedback("/musicgen/queued", [1]);
    h.bridge.feedback("/musicgen/clip", [1, SAMPLE.s, -1, 4.0]);
    h.bridge.feedback("/musicgen/style_list", ["band lofi"]);
    h.bridge.chooseStyle(0); // "none": the next snapshot carries an empty style
    h.bridge.continueLast();
    h.world.objects[Object.keys(h.world.objects).find(
        (id) => h.world.objects[id].type === "Application.View")].props.focused_document_view = "Arranger";
    h.bridge.generate();
    h.bridge.feedback("/musicgen/queued", [2]);
    h.bridge.cancel();
    h.bridge.listStyles();
    h.bridge.trainStyle(["band_two"]);
    h.bridge.setHost(["10.0.0.5"]);
    h.bridge.setPort(9010);
    h.bridge.setReplyPort(9333);
    return h.sent.map((m) => ({ address: m[0], args: m.slice(1).map((a) => ({ type: oscType(a), value: a })) }));
}

// Feed one message of each handled address, shaped by the table, to a device owning job 3.
function feedbackProbe(typetags) {
    const out = {};
    Object.keys(typetags).forEach((address) => {
        const h = makeHarness({});
        h.bridge.init();
        h.bridge.setPrompt(["probe"]);
        h.bridge.generate();
        if (address !== "/musicgen/queued") {
            h.bridge.feedback("/musicgen/queued", [3]);
        }
        const args = typetags[address].split("").map((t) => SAMPLE[t]);
        if (address === "/musicgen/client") {
            args[0] = h.bridge.clientId;
        }
        const uiBefore = h.ui.length;
        let error = null;
        try {
            h.bridge.feedback(address, args);
        } catch (e) {
            error = String(e && e.stack || e);
        }
        out[address] = {
            error,
            reacted: h.ui.length > uiBefore || h.world.calls.length > 0,
            clipParse: address === "/musicgen/clip" ? js.parseClipReply(args) : null,
        };
    });
    return out;
}

const typetags = JSON.parse(process.argv[2] || "{}");
process.stdout.write(JSON.stringify({
    sent: everythingAUserDoes(),
    handles: Object.keys(js.HANDLERS),
    probe: feedbackProbe(typetags),
    autoReplyPorts: Array.from({ length: 2000 }, (_, id) => js.autoReplyPort(id)),
}));
