"use strict";
// The device's logic under Node with a fake LiveAPI (tests/max/fake_live.js). Run through
// tests/max/test_max_device.py, or directly: node --test tests/max/
const test = require("node:test");
const assert = require("node:assert/strict");

const js = require("../../max_patches/musicgen_bridge.js");
const { makeHarness } = require("./fake_live.js");

const PATH = "/home/me/Project/MusicGen/job-5_warm-piano_v0.wav";

function statusTexts(h) {
    return h.ui.filter((u) => u[0] === js.OUT_STATUS).map((u) => u[2]);
}
function lastStatus(h) {
    const all = statusTexts(h);
    return all[all.length - 1];
}
function creates(h) {
    return h.world.calls.filter((c) => c.name === "create_audio_clip");
}
function sentTo(h, address) {
    return h.sent.filter((m) => m[0] === address);
}
// A ready device with a prompt, which asked for a clip and got job `job` back.
function queuedJob(options, job, setup) {
    const h = makeHarness(options);
    h.bridge.init();
    h.bridge.setPrompt(["warm", "piano"]);
    if (setup) {
        setup(h);
    }
    h.bridge.generate();
    h.bridge.feedback("/musicgen/queued", [job]);
    return h;
}

// ---- musical time

test("seconds become beats at the tempo: 2 s at 120 BPM is one 4/4 bar of 4 beats", () => {
    assert.equal(js.secondsToBeats(2.0, 120), 4.0);
    assert.equal(js.secondsToBeats(1.5, 140), 3.5);
    assert.equal(js.beatsToSeconds(js.secondsToBeats(7.25, 93), 93), 7.25);
});

// ---- slot choice

test("first free slot is searched from the selected scene down, never above it", () => {
    assert.equal(js.firstFreeSlot([true, true, false, false], 0), 2);
    assert.equal(js.firstFreeSlot([false, true, false], 1), 2);
    assert.equal(js.firstFreeSlot([false, true, true], 1), -1);
    assert.equal(js.firstFreeSlot([false, false], 5), -1);
    assert.equal(js.firstFreeSlot([], 0), -1);
});

test("session: the clip goes into the first empty slot from the selected scene down", () => {
    const h = queuedJob({ slots: [false, true, false, false], selectedScene: 1 }, 5);
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    const made = creates(h);
    assert.equal(made.length, 1);
    assert.equal(made[0].path, "live_set tracks 2 clip_slots 2");
    assert.deepEqual(made[0].args, [PATH]);
    assert.equal(lastStatus(h), "clip in scene 3");
});

test("session: no free slot below the selected scene shows the path and creates nothing", () => {
    const h = queuedJob({ slots: [false, true, true], selectedScene: 1 }, 5);
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    assert.equal(creates(h).length, 0);
    assert.match(lastStatus(h), /no free clip slot from scene 2 down/);
    assert.ok(lastStatus(h).endsWith(PATH));
});

test("session: a MIDI track gets no clip, and the status says why and where the file is", () => {
    const h = queuedJob({ trackKind: "midi" }, 5);
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    assert.equal(creates(h).length, 0);
    assert.match(lastStatus(h), /MIDI track/);
    assert.ok(lastStatus(h).endsWith(PATH));
});

test("session: a frozen or group track is refused before Live is asked", () => {
    for (const options of [{ frozen: true }, { trackKind: "group" }]) {
        const h = queuedJob(options, 5);
        h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
        assert.equal(creates(h).length, 0);
        assert.match(lastStatus(h), /frozen|group/);
    }
});

test("session: Live before 12.0.5 cannot load files into slots; the path is shown instead", () => {
    const h = queuedJob({ version: [12, 0, 4] }, 5);
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    assert.equal(creates(h).length, 0);
    assert.match(lastStatus(h), /Live 12\.0\.4 cannot .*\(needs 12\.0\.5\+\)/);
    assert.ok(lastStatus(h).endsWith(PATH));
});

test("session: when Live silently creates nothing, the device says so", () => {
    const h = queuedJob({ createWorks: false }, 5);
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    assert.equal(creates(h).length, 1);
    assert.match(lastStatus(h), /Live did not create the clip in scene 1/);
});

test("the device finds its track from inside a rack", () => {
    const h = queuedJob({ inRack: true, slots: [true, false] }, 5);
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    assert.equal(creates(h)[0].path, "live_set tracks 2 clip_slots 1");
});

test("version comparison is per component", () => {
    assert.equal(js.versionAtLeast([12, 0, 5], [12, 0, 5]), true);
    assert.equal(js.versionAtLeast([12, 1, 0], [12, 0, 5]), true);
    assert.equal(js.versionAtLeast([11, 3, 30], [12, 0, 5]), false);
    assert.equal(js.versionAtLeast([12, 0, 4], [12, 0, 5]), false);
});

// ---- arrangement

test("arrangement: the request carries the song position in seconds at the current tempo", () => {
    const h = makeHarness({ view: "Arranger", songTime: 16.0, tempo: 120 });
    h.bridge.init();
    h.bridge.setPrompt(["drums"]);
    h.bridge.generate();
    assert.deepEqual(sentTo(h, "/musicgen/position"), [["/musicgen/position", 8.0]]);
});

test("arrangement: the clip lands at the reply's seconds converted to beats at the tempo of now", () => {
    const h = queuedJob({ view: "Arranger", songTime: 16.0, tempo: 120 }, 5);
    h.world.setSong("tempo", 90); // tempo changed while the job ran
    h.bridge.feedback("/musicgen/clip", [5, PATH, 8.0, 4.0]);
    const made = creates(h);
    assert.equal(made.length, 1);
    assert.equal(made[0].type, "Track");
    assert.deepEqual(made[0].args, [PATH, 12.0]); // 8 s at 90 BPM
    assert.equal(lastStatus(h), "clip at beat 12");
});

test("session: variations fill the following empty slots; a clip delivered twice lands once", () => {
    const h = queuedJob({ slots: [false, true, false, false] }, 5, (x) => x.bridge.setVariations(2));
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    h.bridge.feedback("/musicgen/clip", [5, PATH.replace("v0", "v1"), -1, 8.0]);
    assert.deepEqual(creates(h).map((c) => c.path),
        ["live_set tracks 2 clip_slots 0", "live_set tracks 2 clip_slots 2"]);
});

test("the device's own status texts hold no commas or semicolons (Max message separators)", () => {
    const texts = [];
    const cases = [{}, { trackKind: "midi" }, { trackKind: "group" }, { frozen: true },
        { slots: [true] }, { version: [12, 0, 0] }, { createWorks: false },
        { view: "Arranger" }, { view: "Arranger", arrangementClips: [{ start: 0, end: 4 }] },
        { view: "Arranger", version: [11, 3, 0] }];
    for (const options of cases) {
        const h = queuedJob(options, 5);
        h.bridge.feedback("/musicgen/progress", [5, 0.25]);
        h.bridge.feedback("/musicgen/clip", [5, PATH, 0, 8.0]);
        h.bridge.feedback("/musicgen/client", [h.bridge.clientId, 9100]);
        h.bridge.continueLast();
        h.bridge.cancel();
        h.scheduled.forEach((s) => s.fn());
        texts.push(...statusTexts(h));
    }
    const fresh = makeHarness();
    fresh.bridge.generate();
    fresh.bridge.init();
    fresh.bridge.generate();
    fresh.bridge.continueLast();
    fresh.bridge.cancel();
    texts.push(...statusTexts(fresh));
    assert.ok(texts.length > 40);
    assert.deepEqual(texts.filter((t) => /[,;]/.test(t)), []);
});

test("arrangement: variations of one job go end to end, not on top of each other", () => {
    const h = queuedJob({ view: "Arranger", songTime: 16.0 }, 5, (x) => x.bridge.setVariations(2));
    h.bridge.feedback("/musicgen/clip", [5, PATH, 8.0, 4.0]);
    h.bridge.feedback("/musicgen/clip", [5, PATH.replace("v0", "v1"), 8.0, 4.0]);
    assert.deepEqual(creates(h).map((c) => c.args[1]), [16.0, 24.0]);
});

test("arrangement: a clip already under the insert position is never covered", () => {
    const h = queuedJob({ view: "Arranger", songTime: 16.0, arrangementClips: [{ start: 14, end: 20 }] }, 5);
    h.bridge.feedback("/musicgen/clip", [5, PATH, 8.0, 4.0]);
    assert.equal(creates(h).length, 0);
    assert.match(lastStatus(h), /a clip already sits at beats 14\.\.20/);
    assert.ok(lastStatus(h).endsWith(PATH));
});

test("arrangement: a MIDI track or an old Live shows the path instead", () => {
    for (const options of [{ trackKind: "midi" }, { version: [12, 0, 1] }]) {
        const h = queuedJob(Object.assign({ view: "Arranger" }, options), 5);
        h.bridge.feedback("/musicgen/clip", [5, PATH, 0.0, 4.0]);
        assert.equal(creates(h).length, 0);
        assert.ok(lastStatus(h).endsWith(PATH));
    }
});

test("overlap is half-open: a clip ending where the new one starts does not collide", () => {
    assert.equal(js.overlapsAny([{ start: 0, end: 16 }], 16, 24), null);
    assert.deepEqual(js.overlapsAny([{ start: 0, end: 17 }], 16, 24), { start: 0, end: 17 });
});

// ---- /musicgen/clip parsing

test("a clip reply parses into job, path, position (null for -1) and duration", () => {
    assert.deepEqual(js.parseClipReply([3, PATH, -1, 8.0]),
        { ok: true, job: 3, path: PATH, positionS: null, durationS: 8.0 });
    assert.deepEqual(js.parseClipReply([3, "C:\\Music\\clip.wav", 2.5, 8.0]).positionS, 2.5);
});

test("malformed clip replies are refused with the reason", () => {
    const cases = [
        [[3, PATH, -1], /expected job, path, position, duration/],
        [[3.5, PATH, -1, 8.0], /job must be a whole number/],
        [[-2, PATH, -1, 8.0], /job must be a whole number/],
        [[3, "clips/a.wav", -1, 8.0], /absolute file path/],
        [[3, PATH, "soon", 8.0], /position must be seconds/],
        [[3, PATH, -1, 0], /duration must be seconds > 0/],
        [[3, PATH, -1, "8"], /duration must be seconds > 0/],
    ];
    for (const [args, reason] of cases) {
        const parsed = js.parseClipReply(args);
        assert.equal(parsed.ok, false, JSON.stringify(args));
        assert.match(parsed.reason, reason);
    }
});

test("a malformed clip reply touches nothing in Live", () => {
    const h = queuedJob({}, 5);
    h.bridge.feedback("/musicgen/clip", [5, "relative.wav", -1, 8.0]);
    assert.equal(creates(h).length, 0);
    assert.match(h.posts.join("\n"), /bad \/musicgen\/clip: path must be an absolute file path/);
});

// ---- routing by client id and job id

test("each device instance gets its own client id and reply port", () => {
    const a = makeHarness({ deviceId: 7 }, { random: () => 0.1 });
    const b = makeHarness({ deviceId: 8 }, { random: () => 0.1 });
    a.bridge.init();
    b.bridge.init();
    const [ca] = sentTo(a, "/musicgen/client");
    const [cb] = sentTo(b, "/musicgen/client");
    assert.notEqual(ca[1], cb[1]);
    assert.notEqual(ca[2], cb[2]);
    assert.deepEqual(a.ui.filter((u) => u[0] === js.OUT_RECEIVE), [[js.OUT_RECEIVE, "port", ca[2]]]);
    assert.notEqual(js.makeClientId(7, () => 0.1), js.makeClientId(7, () => 0.9));
});

test("a registration echo counts only when it names this device's client id", () => {
    const h = makeHarness();
    h.bridge.init();
    h.bridge.feedback("/musicgen/client", ["live-99-abc", 9100]);
    assert.equal(h.bridge.registered, false);
    h.bridge.feedback("/musicgen/client", [h.bridge.clientId, h.bridge.replyPort]);
    assert.equal(h.bridge.registered, true);
    assert.match(lastStatus(h), /^connected to 127\.0\.0\.1:9000 as live-7-/);
});

test("clips, progress and errors of jobs this device did not start are ignored", () => {
    const h = queuedJob({}, 5);
    const before = h.ui.length;
    h.bridge.feedback("/musicgen/clip", [6, PATH, -1, 8.0]);
    h.bridge.feedback("/musicgen/progress", [6, 0.5]);
    h.bridge.feedback("/musicgen/error", ["job 6", "cancelled"]);
    assert.equal(creates(h).length, 0);
    assert.equal(h.ui.length, before);
});

test("queued replies are matched to this device's requests in the order they were sent", () => {
    const h = makeHarness({ view: "Session" });
    h.bridge.init();
    h.bridge.setPrompt(["a"]);
    h.bridge.generate();
    h.world.objects[Object.keys(h.world.objects).find(
        (id) => h.world.objects[id].type === "Application.View")].props.focused_document_view = "Arranger";
    h.bridge.generate();
    h.bridge.feedback("/musicgen/queued", [11]);
    h.bridge.feedback("/musicgen/queued", [12]);
    h.bridge.feedback("/musicgen/queued", [13]); // nobody here asked for a third
    assert.equal(h.bridge.jobs[11].destination, "session");
    assert.equal(h.bridge.jobs[12].destination, "arrangement");
    assert.equal(h.bridge.jobs[13], undefined);
});

test("a refused request is dropped, so the next queued reply is not mistaken for it", () => {
    const h = makeHarness();
    h.bridge.init();
    h.bridge.setPrompt(["a"]);
    h.bridge.generate();
    h.bridge.feedback("/musicgen/error", ["/musicgen/generate", "queue is full (16 pending)"]);
    assert.equal(lastStatus(h), "daemon: /musicgen/generate: queue is full (16 pending)");
    h.bridge.feedback("/musicgen/queued", [9]);
    assert.deepEqual(h.bridge.jobs, {});
});

test("an error about one of this device's jobs ends that job and is shown", () => {
    const h = queuedJob({}, 5);
    h.bridge.feedback("/musicgen/error", ["job 5", "out of GPU memory"]);
    assert.equal(lastStatus(h), "daemon: job 5: out of GPU memory");
    assert.deepEqual(h.bridge.jobs, {});
});

test("progress of this device's job drives the bar", () => {
    const h = queuedJob({}, 5);
    h.bridge.feedback("/musicgen/progress", [5, 0.5]);
    assert.deepEqual(h.ui.filter((u) => u[0] === js.OUT_PROGRESS).pop(), [js.OUT_PROGRESS, 50]);
    assert.equal(lastStatus(h), "job 5: 50%");
});

test("daemon status shows while a job is out, and never hides where the last clip went", () => {
    const h = queuedJob({}, 5);
    h.bridge.feedback("/musicgen/status", ["generating"]);
    assert.equal(lastStatus(h), "daemon: generating");
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    h.bridge.feedback("/musicgen/status", ["idle"]);
    assert.equal(lastStatus(h), "clip in scene 1");
});

test("setting echoes from the daemon are dropped quietly; foreign addresses are logged", () => {
    const h = makeHarness();
    h.bridge.init();
    const before = h.ui.length;
    h.bridge.feedback("/musicgen/top_k", [250]);
    h.bridge.feedback("/live/song/get/tempo", [120]);
    assert.equal(h.ui.length, before);
    assert.deepEqual(h.posts, ["musicgen_bridge: ignored /live/song/get/tempo"]);
});

test("the handlers cover every feedback address the device must act on", () => {
    for (const address of ["queued", "status", "progress", "clip", "error"]) {
        const method = js.HANDLERS[`/musicgen/${address}`];
        assert.equal(typeof js.Bridge.prototype[method], "function", address);
    }
});

// ---- requests

test("generate sends the whole snapshot first, then the request with its own prompt", () => {
    const h = makeHarness({ tempo: 128, meter: [7, 8] });
    h.bridge.setKnob("top_k", 250.4); // before init: stored, not sent
    h.bridge.setKnob("cfg", 4.5);
    h.bridge.setBars(8);
    h.bridge.setVariations(2);
    h.bridge.setSeed(42);
    h.bridge.init();
    h.bridge.setPrompt(["lo-fi", "piano,", "dusty"]);
    h.sent.length = 0;
    h.bridge.generate();
    const client = h.sent[0];
    assert.deepEqual(h.sent, [
        client,
        ["/musicgen/tempo", 128],
        ["/musicgen/meter", 7, 8],
        ["/musicgen/prompt", "lo-fi piano, dusty"],
        ["/musicgen/bars", 8],
        ["/musicgen/variations", 2],
        ["/musicgen/seed", 42],
        ["/musicgen/top_k", 250],
        ["/musicgen/cfg", 4.5],
        ["/musicgen/position", -1],
        ["/musicgen/generate", "lo-fi piano, dusty"],
    ]);
    assert.equal(client[0], "/musicgen/client");
    assert.equal(h.scheduled.length, 1);
});

test("generate without a prompt asks for one and sends nothing", () => {
    const h = makeHarness();
    h.bridge.init();
    h.bridge.setPrompt(["bang"]); // what [route text] makes of an empty textedit
    h.sent.length = 0;
    h.bridge.generate();
    assert.deepEqual(h.sent, []);
    assert.equal(lastStatus(h), "type a prompt first");
});

test("no answer from the daemon is reported; an answer in time is not", () => {
    const silent = makeHarness();
    silent.bridge.init();
    silent.bridge.setPrompt(["a"]);
    silent.bridge.generate();
    silent.scheduled[0].fn();
    assert.match(lastStatus(silent), /no answer from 127\.0\.0\.1:9000/);

    const h = queuedJob({}, 5);
    const before = lastStatus(h);
    h.scheduled[0].fn();
    assert.equal(lastStatus(h), before);
});

test("cancel stops only this device's jobs, including one not yet queued", () => {
    const h = queuedJob({}, 5);
    h.bridge.generate(); // second request, not queued yet
    h.sent.length = 0;
    h.bridge.cancel();
    assert.deepEqual(h.sent, [["/musicgen/cancel", 5]]);
    h.bridge.feedback("/musicgen/queued", [6]);
    assert.deepEqual(h.sent, [["/musicgen/cancel", 5], ["/musicgen/cancel", 6]]);
    assert.deepEqual(h.bridge.jobs, {});
});

test("continue extends the last clip this device received", () => {
    const h = queuedJob({}, 5);
    h.sent.length = 0;
    h.bridge.continueLast();
    assert.deepEqual(h.sent, []);
    assert.equal(lastStatus(h), "nothing to continue yet: generate a clip first");
    h.bridge.feedback("/musicgen/clip", [5, PATH, -1, 8.0]);
    h.bridge.continueLast();
    assert.deepEqual(h.sent[h.sent.length - 1], ["/musicgen/continue", PATH]);
});

test("tempo and meter changes in Live reach the daemon once the device is ready", () => {
    const h = makeHarness();
    h.world.setSong("tempo", 100);
    assert.deepEqual(h.sent, []);
    h.bridge.init();
    h.sent.length = 0;
    h.world.setSong("tempo", 97.5);
    h.world.setSong("signature_numerator", 6);
    h.world.setSong("signature_denominator", 8);
    assert.deepEqual(h.sent, [
        ["/musicgen/tempo", 97.5],
        ["/musicgen/meter", 6, 4],
        ["/musicgen/meter", 6, 8],
    ]);
    assert.equal(h.world.observers.length, 3);
});

test("knob values are sent in their own units, top-k as a whole number", () => {
    const h = makeHarness();
    h.bridge.init();
    h.sent.length = 0;
    h.bridge.setKnob("top_k", 44.6);
    h.bridge.setKnob("temperature", 0.7);
    h.bridge.setKnob("volume", 3);
    assert.deepEqual(h.sent, [["/musicgen/top_k", 45], ["/musicgen/temperature", 0.7]]);
    assert.match(h.posts.join(), /no knob called volume/);
});

test("a new host or port re-aims udpsend and registers again", () => {
    const h = makeHarness();
    h.bridge.init();
    h.ui.length = 0;
    h.sent.length = 0;
    h.bridge.setHost(["192.168.1.20"]);
    h.bridge.setPort(9500);
    h.bridge.setReplyPort(9321);
    const osc = h.ui.filter((u) => u[0] === js.OUT_OSC);
    assert.deepEqual(osc.slice(-2), [[js.OUT_OSC, "host", "192.168.1.20"], [js.OUT_OSC, "port", 9500]]);
    assert.deepEqual(h.ui.filter((u) => u[0] === js.OUT_RECEIVE).pop(), [js.OUT_RECEIVE, "port", 9321]);
    assert.deepEqual(h.sent.pop(), ["/musicgen/client", h.bridge.clientId, 9321]);
});

test("job ids in error messages are recognised with or without the word job", () => {
    assert.equal(js.jobFromAbout("job 12"), 12);
    assert.equal(js.jobFromAbout("12"), 12);
    assert.equal(js.jobFromAbout("/musicgen/bars"), null);
});

// ---- styles

function trackWithClips(files, extra) {
    return makeHarness(Object.assign({
        arrangementClips: files.map((f, i) => ({ start: i * 8, end: i * 8 + 4, file: f })),
    }, extra || {}));
}

test("styles: the selected track's audio clips are sent, each file once, then the training", () => {
    const files = ["/a/1.wav", "/a/2.wav", "/a/3 with space.wav", "/a/4.wav", "/a/5.aif"];
    const h = trackWithClips([...files, files[0]]);
    h.bridge.init();
    h.bridge.trainStyle(["my_band"]);
    assert.deepEqual(sentTo(h, "/musicgen/style_clip").map((m) => m[1]), files);
    assert.deepEqual(sentTo(h, "/musicgen/train"), [["/musicgen/train", "my_band"]]);
    assert.equal(lastStatus(h), "training style my_band on 5 clips");
});

test("styles: too few audio clips or a bad name sends nothing and says why", () => {
    const h = trackWithClips(["/a/1.wav", "/a/2.wav"]);
    h.bridge.init();
    h.bridge.trainStyle(["ok"]);
    assert.equal(lastStatus(h), "select a track with 5 to 50 audio clips to train on (it has 2)");
    h.bridge.trainStyle(["two", "words"]);
    assert.match(lastStatus(h), /^name the new style in the field/);
    assert.deepEqual(sentTo(h, "/musicgen/train"), []);
    assert.deepEqual(sentTo(h, "/musicgen/style_clip"), []);
});

test("styles: MIDI clips and no selected track give no files", () => {
    const midi = makeHarness({ arrangementClips: [{ start: 0, end: 4, file: "", audio: false }] });
    assert.deepEqual(js.selectedTrackFiles(midi.world.LiveAPI), []);
    const none = trackWithClips(["/a/1.wav"], { trackSelected: false });
    assert.deepEqual(js.selectedTrackFiles(none.world.LiveAPI), []);
});

function menuMessages(h) {
    return h.ui.filter((u) => u[0] === js.OUT_MENU).map((u) => u.slice(1).join(" "));
}
function styleSent(h) {
    return sentTo(h, "/musicgen/style").map((m) => m[1]);
}
// A ready device with a prompt, whose menu holds the daemon's `names` (space-separated).
function deviceWithStyles(names) {
    const h = makeHarness();
    h.bridge.init();
    h.bridge.setPrompt(["warm", "piano"]);
    h.bridge.feedback("/musicgen/style_list", [names]);
    return h;
}

test("style menu: a style list becomes clear, none, each name in order, then the shown entry", () => {
    const h = makeHarness();
    h.bridge.init();
    h.bridge.feedback("/musicgen/style_list", ["band lofi 808"]);
    assert.deepEqual(menuMessages(h),
                     ["clear", "append none", "append band", "append lofi", "append 808", "set 0"]);
});

test("style menu: an empty list leaves only none", () => {
    const h = makeHarness();
    h.bridge.init();
    h.bridge.feedback("/musicgen/style_list", [""]);
    assert.deepEqual(menuMessages(h), ["clear", "append none", "set 0"]);
});

test("style menu: asked for once the daemon answers the device's registration", () => {
    const h = makeHarness();
    h.bridge.init();
    assert.deepEqual(sentTo(h, "/musicgen/styles"), []);  // nobody may be listening yet
    h.bridge.feedback("/musicgen/client", ["someone-else", 9200]);
    assert.deepEqual(sentTo(h, "/musicgen/styles"), []);
    h.bridge.feedback("/musicgen/client", [h.bridge.clientId, 9100]);
    assert.deepEqual(sentTo(h, "/musicgen/styles"), [["/musicgen/styles"]]);
    h.bridge.feedback("/musicgen/client", [h.bridge.clientId, 9100]);  // an echo, not a reconnect
    assert.equal(sentTo(h, "/musicgen/styles").length, 1);
    h.bridge.setPort(9010);  // re-aimed at another daemon: ask that one
    h.bridge.feedback("/musicgen/client", [h.bridge.clientId, 9100]);
    assert.equal(sentTo(h, "/musicgen/styles").length, 2);
});

test("style menu: a finished training asks again, and the new style shows up", () => {
    const h = makeHarness();
    h.bridge.init();
    h.bridge.feedback("/musicgen/style_list", ["band"]);
    h.bridge.feedback("/musicgen/style_progress", ["lofi", 0.42]);
    assert.equal(lastStatus(h), "training style lofi 42 %");
    h.bridge.feedback("/musicgen/style_done", ["lofi", "/x/styles/lofi"]);
    assert.deepEqual(sentTo(h, "/musicgen/styles"), [["/musicgen/styles"]]);
    assert.equal(lastStatus(h), "style lofi is ready: pick it in the style menu");
    h.ui.length = 0;
    h.bridge.feedback("/musicgen/style_list", ["band lofi"]);
    assert.deepEqual(menuMessages(h), ["clear", "append none", "append band", "append lofi", "set 0"]);
    assert.deepEqual(statusTexts(h), []);  // the list does not wipe out "is ready"
});

test("style menu: choosing entry 2 makes the next generate carry that style", () => {
    const h = deviceWithStyles("band lofi");
    h.bridge.chooseStyle(2);
    assert.deepEqual(styleSent(h), []);  // not until a request
    h.bridge.generate();
    assert.deepEqual(styleSent(h), ["lofi"]);
    // The style goes out before the request that uses it.
    const order = h.sent.map((m) => m[0]);
    assert.ok(order.lastIndexOf("/musicgen/style") < order.lastIndexOf("/musicgen/generate"));
});

test("style menu: choosing none sends an empty style, even for a style called none", () => {
    const h = deviceWithStyles("band none");
    h.bridge.chooseStyle(2);
    h.bridge.generate();
    h.bridge.chooseStyle(0);
    h.bridge.generate();
    assert.deepEqual(styleSent(h), ["none", ""]);
    assert.equal(lastStatus(h), "asked for 1 clip(s) of 4 bars (session)");
});

test("style menu: an entry past the list changes nothing", () => {
    const h = deviceWithStyles("band");
    h.bridge.chooseStyle(1);
    h.bridge.chooseStyle(5);
    h.bridge.generate();
    assert.deepEqual(styleSent(h), ["band"]);
    assert.match(h.posts[h.posts.length - 1], /no style menu entry 5/);
});

test("style menu: a refreshed list keeps the chosen style shown, and a lost one stays listed", () => {
    const h = makeHarness();
    h.bridge.init();
    h.bridge.feedback("/musicgen/style_list", ["band lofi"]);
    h.bridge.chooseStyle(2);
    h.ui.length = 0;
    h.bridge.feedback("/musicgen/style_list", ["acid band lofi"]);
    assert.deepEqual(menuMessages(h),
                     ["clear", "append none", "append acid", "append band", "append lofi", "set 3"]);
    h.ui.length = 0;
    h.bridge.feedback("/musicgen/style_list", ["acid"]);  // another daemon, or a deleted style
    assert.deepEqual(menuMessages(h), ["clear", "append none", "append acid", "append lofi", "set 2"]);
    assert.equal(lastStatus(h), "style lofi is not trained on this daemon: pick another");
});

test("styles: the new-style field names a training, not the menu's style", () => {
    const files = ["/a/1.wav", "/a/2.wav", "/a/3.wav", "/a/4.wav", "/a/5.wav"];
    const h = trackWithClips(files);
    h.bridge.init();
    h.bridge.setPrompt(["warm", "piano"]);
    h.bridge.generate();
    assert.deepEqual(styleSent(h), []);  // never chosen: the daemon's state
    h.bridge.feedback("/musicgen/style_list", ["band"]);
    h.bridge.chooseStyle(1);
    h.bridge.trainStyle([]);
    assert.deepEqual(sentTo(h, "/musicgen/train"), []);
    assert.match(lastStatus(h), /^name the new style in the field/);
    h.bridge.setTrainName(["drums"]);
    h.bridge.trainStyle([]);
    assert.deepEqual(sentTo(h, "/musicgen/train"), [["/musicgen/train", "drums"]]);
    h.bridge.generate();
    assert.deepEqual(styleSent(h), ["band"]);
});

test("styles: the style message picks a style by name and moves the menu to it", () => {
    const h = makeHarness();
    h.bridge.init();
    h.bridge.feedback("/musicgen/style_list", ["band lofi"]);
    h.ui.length = 0;
    h.bridge.setStyle(["lofi"]);
    assert.deepEqual(menuMessages(h), ["clear", "append none", "append band", "append lofi", "set 2"]);
});
