/*
 * musicgen_bridge.js: the Live side of the "MusicGen Bridge" Max for Live device.
 *
 * Runs in Max's [js] object (ES5, LiveAPI). The patch feeds it UI values and the daemon's OSC
 * feedback (from [udpreceive]); it sends OSC to the daemon through [udpsend] on outlet 0 and
 * imports finished clips into the Live set.
 *
 * The daemon's state (prompt, knobs, tempo...) is shared by every client, so this device never
 * trusts what it set earlier: before each request it re-sends its whole snapshot, then asks.
 * Several devices (one per track) share one daemon; each registers its own client id and reply
 * port, and only acts on the jobs it started.
 *
 * Everything below the Max glue is plain functions and a Bridge object that take LiveAPI and the
 * outlets as arguments, so tests/max/*.test.js run them under Node with a fake LiveAPI. The
 * exports at the bottom exist only where `module` does (Node), never in Max.
 */

// Off: a reload would drop the jobs in flight and wait for an "init" that never comes again.
autowatch = 0;
inlets = 1;
outlets = 5;

var OUT_OSC = 0; // -> [udpsend]: OSC messages, and "host"/"port" to re-aim it
var OUT_RECEIVE = 1; // -> [udpreceive]: "port" to listen where the daemon will reply
var OUT_STATUS = 2; // -> status [textedit] (read-only, so a path can be selected and copied)
var OUT_PROGRESS = 3; // -> progress [slider], 0..100
var OUT_MENU = 4; // -> style [umenu]: "clear", "append NAME", "set INDEX" (none of them output)

var PREFIX = "/musicgen";
var KNOBS = ["top_k", "top_p", "temperature", "cfg", "style_strength"];
var INT_KNOBS = { top_k: true };

// ClipSlot.create_audio_clip arrived in Live 12.0.5; Track.create_audio_clip is gated on the same
// release (the LOM docs give no earlier one). Either way the import is checked afterwards.
var SESSION_IMPORT_SINCE = [12, 0, 5];
var ARRANGEMENT_IMPORT_SINCE = [12, 0, 5];
var MAX_START_BEATS = 1576800; // Track.create_audio_clip's documented start_time ceiling

// Reply port 0 means "derive one from the device's Live id", so two devices on two tracks do
// not both try to bind the same UDP port. 9100+ stays clear of the daemon's 9000/9001 defaults.
var AUTO_REPLY_PORT_BASE = 9100;
var AUTO_REPLY_PORT_SPAN = 800;
var QUEUED_TIMEOUT_MS = 5000;

// The daemon feedback this device acts on. Every other /musicgen address that arrives is an echo
// of a setting (the daemon confirms values it applied) and is dropped without comment.
var HANDLERS = {
    "/musicgen/client": "onClient",
    "/musicgen/queued": "onQueued",
    "/musicgen/status": "onStatus",
    "/musicgen/progress": "onProgress",
    "/musicgen/clip": "onClip",
    "/musicgen/error": "onError",
    "/musicgen/style_list": "onStyleList",
    "/musicgen/style_progress": "onStyleProgress",
    "/musicgen/style_done": "onStyleDone"
};

// bridge.engine.style_train and bridge.engine.styles: clips per style, and a style's name.
var STYLE_MIN_CLIPS = 5;
var STYLE_MAX_CLIPS = 50;
var STYLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;
// The style menu's first entry: no style. A style may be called "none" too, so the menu's
// choice reaches the js as an index, never as the entry's text.
var NO_STYLE_ENTRY = "none";

// ---------------------------------------------------------------------------------------------
// Pure helpers

function isArray(value) {
    return Object.prototype.toString.call(value) === "[object Array]";
}

// LiveAPI.get and .call hand back arrays ([120.0]) or bare values depending on the property.
function first(value) {
    return isArray(value) ? value[0] : value;
}

function num(value) {
    return Number(first(value));
}

function versionAtLeast(version, minimum) {
    for (var i = 0; i < minimum.length; i++) {
        var have = Number(version[i] || 0);
        if (have !== minimum[i]) {
            return have > minimum[i];
        }
    }
    return true;
}

function versionText(version) {
    return version.join(".");
}

// Live counts time in beats (quarter notes) whatever the meter; tempo is quarter notes per minute.
function secondsToBeats(seconds, bpm) {
    return seconds * bpm / 60.0;
}

function beatsToSeconds(beats, bpm) {
    return beats * 60.0 / bpm;
}

// The first empty slot at or below `fromIndex`; slots above the selected scene are never used,
// so a clip lands where the user is looking, not somewhere above the fold.
function firstFreeSlot(hasClip, fromIndex) {
    for (var i = Math.max(0, fromIndex); i < hasClip.length; i++) {
        if (!hasClip[i]) {
            return i;
        }
    }
    return -1;
}

function overlapsAny(clips, start, end) {
    for (var i = 0; i < clips.length; i++) {
        if (clips[i].start < end && start < clips[i].end) {
            return clips[i];
        }
    }
    return null;
}

function isAbsolutePath(path) {
    return /^\//.test(path) || /^[A-Za-z]:[\\\/]/.test(path) || /^\\\\/.test(path);
}

function isWhole(value) {
    return typeof value === "number" && isFinite(value) && Math.floor(value) === value;
}

// /musicgen/clip i s f f: job, absolute path, position in seconds (-1: none), duration in seconds.
function parseClipReply(args) {
    if (!isArray(args) || args.length !== 4) {
        return { ok: false, reason: "expected job, path, position, duration; got " + describe(args) };
    }
    var job = args[0], path = args[1], position = Number(args[2]), duration = Number(args[3]);
    if (!isWhole(job) || job < 0) {
        return { ok: false, reason: "job must be a whole number >= 0, got " + describe(job) };
    }
    if (typeof path !== "string" || !isAbsolutePath(path)) {
        return { ok: false, reason: "path must be an absolute file path, got " + describe(path) };
    }
    if (typeof args[2] !== "number" || !isFinite(position)) {
        return { ok: false, reason: "position must be seconds or -1, got " + describe(args[2]) };
    }
    if (typeof args[3] !== "number" || !isFinite(duration) || duration <= 0) {
        return { ok: false, reason: "duration must be seconds > 0, got " + describe(args[3]) };
    }
    return { ok: true, job: job, path: path, positionS: position < 0 ? null : position, durationS: duration };
}

function describe(value) {
    if (typeof value === "string") {
        return "\"" + value + "\"";
    }
    return isArray(value) ? "[" + value.map(describe).join(", ") + "]" : String(value);
}

// The daemon names a job in /musicgen/error as "12" or "job 12"; anything else is an address.
function jobFromAbout(about) {
    var match = /^(?:job\s*)?(\d+)$/i.exec(String(about));
    return match ? Number(match[1]) : null;
}

function sceneIndexFromPath(path) {
    var match = /scenes\s+(\d+)/.exec(String(path));
    return match ? Number(match[1]) : -1;
}

function makeClientId(deviceId, random) {
    var salt = Math.floor(random() * 0x100000).toString(36);
    // The random part keeps ids apart across Live sessions, where LOM ids repeat while the
    // daemon keeps running and may still hold an old client's jobs.
    return "live-" + deviceId + "-" + salt;
}

function autoReplyPort(deviceId) {
    return AUTO_REPLY_PORT_BASE + (Math.abs(Number(deviceId) || 0) % AUTO_REPLY_PORT_SPAN);
}

// A prompt arrives as Max atoms (words, numbers); the daemon wants one string. [route text]
// turns an empty textedit into a bare bang, which is no prompt at all.
function joinWords(words) {
    if (words.length === 1 && words[0] === "bang") {
        return "";
    }
    return words.join(" ").replace(/^\s+|\s+$/g, "");
}

function clampInt(value, low, high) {
    var n = Math.round(Number(value));
    if (!isFinite(n)) {
        return low;
    }
    return Math.min(high, Math.max(low, n));
}

// Bars, variations and seed are bounded by their number boxes and checked by the daemon, which
// answers out-of-range values on /musicgen/error; the device only keeps them whole.
function whole(value, fallback) {
    var n = Math.round(Number(value));
    return isFinite(n) ? n : fallback;
}

// ---------------------------------------------------------------------------------------------
// Live Object Model access (every function takes the LiveAPI constructor, `L`)

function liveVersion(L) {
    var app = new L("live_app");
    return [num(app.call("get_major_version")), num(app.call("get_minor_version")),
        num(app.call("get_bugfix_version"))];
}

function focusedView(L) {
    return String(first(new L("live_app view").get("focused_document_view")));
}

// The Track this device sits on, climbing out of racks (Device -> Chain -> RackDevice -> Track).
function deviceTrack(L) {
    var api = new L("this_device");
    for (var depth = 0; depth < 10; depth++) {
        if (Number(api.id) === 0) {
            return null;
        }
        if (api.type === "Track") {
            return api;
        }
        var parent = api.get("canonical_parent");
        api = new L("id " + (isArray(parent) ? parent[parent.length - 1] : parent));
    }
    return null;
}

function selectedSceneIndex(L) {
    var scene = new L("live_set view selected_scene");
    return Number(scene.id) === 0 ? 0 : Math.max(0, sceneIndexFromPath(scene.unquotedpath));
}

function idsOf(listValue) {
    var ids = [];
    for (var i = 0; isArray(listValue) && i + 1 < listValue.length; i += 2) {
        if (listValue[i] === "id") {
            ids.push(listValue[i + 1]);
        }
    }
    return ids;
}

// The audio files of the selected track's clips (session slots, then the arrangement), each
// once: what a style is trained on.
function selectedTrackFiles(L) {
    var track = new L("live_set view selected_track");
    if (Number(track.id) === 0) {
        return [];
    }
    var ids = [];
    idsOf(track.get("clip_slots")).forEach(function (slotId) {
        var slot = new L("id " + slotId);
        if (num(slot.get("has_clip")) === 1) {
            ids = ids.concat(idsOf(slot.get("clip")));
        }
    });
    ids = ids.concat(idsOf(track.get("arrangement_clips")));
    var files = [];
    var seen = {};
    ids.forEach(function (id) {
        var clip = new L("id " + id);
        var path = String(first(clip.get("file_path")) || "");
        if (num(clip.get("is_audio_clip")) === 1 && path && !seen[path]) {
            seen[path] = true;
            files.push(path);
        }
    });
    return files;
}

function arrangementClips(L, track) {
    return idsOf(track.get("arrangement_clips")).map(function (id) {
        var clip = new L("id " + id);
        return { start: num(clip.get("start_time")), end: num(clip.get("end_time")) };
    });
}

// Why an audio clip cannot go on this track, or "" when it can.
function trackRefusal(track) {
    if (!track) {
        return "the device is not on a track";
    }
    if (num(track.get("has_midi_input")) === 1) {
        return "this is a MIDI track: put the device on an audio track";
    }
    if (num(track.get("has_audio_input")) !== 1) {
        return "this track holds no audio clips (group or return or main track)";
    }
    if (num(track.get("is_frozen")) === 1) {
        return "this track is frozen";
    }
    return "";
}

function refused(reason, path) {
    return { ok: false, message: reason + ". The clip is at " + path };
}

function sessionImport(L, path, version) {
    if (!versionAtLeast(version, SESSION_IMPORT_SINCE)) {
        return refused("Live " + versionText(version) + " cannot load a file into a clip slot (needs "
            + versionText(SESSION_IMPORT_SINCE) + "+) - drag it in", path);
    }
    var track = deviceTrack(L);
    var why = trackRefusal(track);
    if (why) {
        return refused(why, path);
    }
    var slots = idsOf(track.get("clip_slots")).map(function (id) { return new L("id " + id); });
    var hasClip = slots.map(function (slot) { return num(slot.get("has_clip")) === 1; });
    var start = selectedSceneIndex(L);
    var index = firstFreeSlot(hasClip, start);
    if (index < 0) {
        return refused("no free clip slot from scene " + (start + 1) + " down - add a scene", path);
    }
    var slot = slots[index];
    slot.call("create_audio_clip", path);
    if (num(slot.get("has_clip")) !== 1) {
        return refused("Live did not create the clip in scene " + (index + 1), path);
    }
    return { ok: true, message: "clip in scene " + (index + 1), slot: index };
}

function arrangementImport(L, path, startBeats, lengthBeats, version) {
    if (!versionAtLeast(version, ARRANGEMENT_IMPORT_SINCE)) {
        return refused("Live " + versionText(version) + " cannot place a file in the arrangement (needs "
            + versionText(ARRANGEMENT_IMPORT_SINCE) + "+) - drag it in", path);
    }
    var track = deviceTrack(L);
    var why = trackRefusal(track);
    if (why) {
        return refused(why, path);
    }
    var start = Math.min(MAX_START_BEATS, Math.max(0, startBeats));
    // A new clip would cover what lies under it: nothing the user made may be lost, so refuse.
    var hit = overlapsAny(arrangementClips(L, track), start, start + lengthBeats);
    if (hit) {
        return refused("a clip already sits at beats " + hit.start + ".." + hit.end, path);
    }
    var before = idsOf(track.get("arrangement_clips")).length;
    track.call("create_audio_clip", path, start);
    if (idsOf(track.get("arrangement_clips")).length <= before) {
        return refused("Live did not create the clip at beat " + start, path);
    }
    return { ok: true, message: "clip at beat " + start, startBeats: start };
}

// ---------------------------------------------------------------------------------------------
// The device

/*
 * deps: { LiveAPI, send(address, args), ui(outlet, args), post(text), random(), schedule(fn, ms) }
 */
function Bridge(deps) {
    this.L = deps.LiveAPI;
    this.sendOsc = deps.send;
    this.ui = deps.ui;
    this.post = deps.post || function () {};
    this.random = deps.random || Math.random;
    this.schedule = deps.schedule || function () {};

    this.ready = false;
    this.registered = false;
    this.clientId = "";
    this.host = "127.0.0.1";
    this.port = 9000;
    this.replyPortSetting = 0;
    this.replyPort = 0;

    this.prompt = "";
    this.bars = 4;
    this.variations = 1;
    this.seed = -1;
    this.knobs = {};
    this.style = null; // null: never set here, the daemon's state decides
    this.trainName = ""; // the name in the device's "new style" field
    this.styleNames = []; // the daemon's trained styles, as the menu lists them after "none"
    this.tempo = 120.0;
    this.meter = [4, 4];

    this.pending = []; // requests sent, waiting for /musicgen/queued (the daemon answers in order)
    this.jobs = {}; // job id -> where its clips go
    this.lastClipPath = "";
    this.observers = []; // LiveAPI objects must stay referenced or they stop observing
}

// Max splits messages at commas and semicolons, so the device's own texts avoid them.
Bridge.prototype.status = function (text) {
    this.ui(OUT_STATUS, ["set", text]);
};

Bridge.prototype.send = function (address, args) {
    this.sendOsc(address, args || []);
};

Bridge.prototype.init = function () {
    var device = new this.L("this_device");
    this.deviceId = Number(device.id);
    this.clientId = makeClientId(this.deviceId, this.random);
    this.observeSong();
    this.readSong();
    this.ready = true;
    this.aim();
    this.sendMusicalTime();
    this.status("waiting for the daemon at " + this.host + ":" + this.port);
};

// Point [udpsend] at the daemon and [udpreceive] at our reply port, then (re)register.
Bridge.prototype.aim = function () {
    if (!this.ready) {
        return;
    }
    this.replyPort = this.replyPortSetting > 0 ? this.replyPortSetting : autoReplyPort(this.deviceId);
    this.ui(OUT_OSC, ["host", this.host]);
    this.ui(OUT_OSC, ["port", this.port]);
    this.ui(OUT_RECEIVE, ["port", this.replyPort]);
    this.registered = false;
    this.register();
};

Bridge.prototype.register = function () {
    this.send(PREFIX + "/client", [this.clientId, this.replyPort]);
};

Bridge.prototype.observeSong = function () {
    var self = this;
    this.observers = ["tempo", "signature_numerator", "signature_denominator"].map(function (name) {
        var api = new self.L(function (args) { self.onSongProperty(args); }, "live_set");
        api.property = name;
        return api;
    });
};

// Observer callbacks only read and send: Live forbids changing the set inside a notification.
Bridge.prototype.onSongProperty = function (args) {
    if (!isArray(args) || args.length < 2) {
        return;
    }
    var name = args[0], value = Number(args[1]);
    if (!isFinite(value) || value <= 0) {
        return;
    }
    if (name === "tempo") {
        this.tempo = value;
        if (this.ready) {
            this.send(PREFIX + "/tempo", [this.tempo]);
        }
    } else if (name === "signature_numerator" || name === "signature_denominator") {
        this.meter[name === "signature_numerator" ? 0 : 1] = Math.round(value);
        if (this.ready) {
            this.send(PREFIX + "/meter", [this.meter[0], this.meter[1]]);
        }
    }
};

Bridge.prototype.readSong = function () {
    var song = new this.L("live_set");
    this.tempo = num(song.get("tempo"));
    this.meter = [Math.round(num(song.get("signature_numerator"))),
        Math.round(num(song.get("signature_denominator")))];
};

Bridge.prototype.sendMusicalTime = function () {
    this.send(PREFIX + "/tempo", [this.tempo]);
    this.send(PREFIX + "/meter", [this.meter[0], this.meter[1]]);
};

// ---- values from the patch

Bridge.prototype.setPrompt = function (words) {
    this.prompt = joinWords(words);
};

Bridge.prototype.setKnob = function (name, value) {
    if (KNOBS.indexOf(name) < 0 || !isFinite(Number(value))) {
        this.post("musicgen_bridge: no knob called " + name);
        return;
    }
    this.knobs[name] = INT_KNOBS[name] ? Math.round(Number(value)) : Number(value);
    // Sent at once so the daemon's echo (MIDI LED rings, other clients) follows the dial; the
    // snapshot before each request re-sends it in case another device changed it since.
    if (this.ready) {
        this.send(PREFIX + "/" + name, [this.knobs[name]]);
    }
};

Bridge.prototype.setBars = function (value) {
    this.bars = whole(value, this.bars);
};

Bridge.prototype.setVariations = function (value) {
    this.variations = whole(value, this.variations);
};

Bridge.prototype.setSeed = function (value) {
    this.seed = whole(value, this.seed);
};

Bridge.prototype.setHost = function (words) {
    var host = joinWords(words);
    if (host) {
        this.host = host;
        this.aim();
    }
};

Bridge.prototype.setPort = function (value) {
    this.port = clampInt(value, 1, 65535);
    this.aim();
};

Bridge.prototype.setReplyPort = function (value) {
    this.replyPortSetting = clampInt(value, 0, 65535);
    this.aim();
};

// ---- requests

// Where this request's clips will go, decided now: the view the user pressed Generate in.
Bridge.prototype.captureTarget = function () {
    if (focusedView(this.L) !== "Arranger") {
        return { destination: "session", positionS: null };
    }
    var beats = num(new this.L("live_set").get("current_song_time"));
    return { destination: "arrangement", positionS: beatsToSeconds(beats, this.tempo) };
};

Bridge.prototype.sendSnapshot = function (target) {
    this.register(); // cheap, and a restarted daemon learns the client again
    this.sendMusicalTime();
    // The prompt goes into the shared state too: /musicgen/continue takes no prompt of its own.
    this.send(PREFIX + "/prompt", [this.prompt]);
    this.send(PREFIX + "/bars", [this.bars]);
    this.send(PREFIX + "/variations", [this.variations]);
    this.send(PREFIX + "/seed", [this.seed]);
    for (var i = 0; i < KNOBS.length; i++) {
        if (this.knobs.hasOwnProperty(KNOBS[i])) {
            this.send(PREFIX + "/" + KNOBS[i], [this.knobs[KNOBS[i]]]);
        }
    }
    if (this.style !== null) {
        this.send(PREFIX + "/style", [this.style]);
    }
    // -1 clears a position an earlier Arrangement request (from any device) left behind.
    this.send(PREFIX + "/position", [target.positionS !== null ? target.positionS : -1]);
};

Bridge.prototype.request = function (kind, address, args) {
    if (!this.ready) {
        this.status("the device is still loading");
        return;
    }
    this.readSong(); // tempo and meter as they are now, not as last observed
    var target = this.captureTarget();
    this.sendSnapshot(target);
    this.send(address, args);
    var entry = { kind: kind, destination: target.destination, positionS: target.positionS,
        variations: this.variations, cancelled: false };
    this.pending.push(entry);
    this.progress(0);
    this.status("asked for " + this.variations + " clip(s) of " + this.bars + " bars ("
        + target.destination + ")");
    var self = this;
    this.schedule(function () {
        if (self.pending.indexOf(entry) >= 0) {
            self.status("no answer from " + self.host + ":" + self.port
                + ": is `musicgen-bridge serve` running there?");
        }
    }, QUEUED_TIMEOUT_MS);
};

Bridge.prototype.generate = function () {
    if (!this.prompt) {
        this.status("type a prompt first");
        return;
    }
    // The prompt also rides on the request itself, so no other device's snapshot sent in between
    // can change what this job is about.
    this.request("generate", PREFIX + "/generate", [this.prompt]);
};

Bridge.prototype.continueLast = function () {
    if (!this.lastClipPath) {
        this.status("nothing to continue yet: generate a clip first");
        return;
    }
    this.request("continue", PREFIX + "/continue", [this.lastClipPath]);
};

// Cancel only this device's jobs: /musicgen/cancel without a job would stop whatever runs,
// which may belong to another track.
Bridge.prototype.cancel = function () {
    var ids = Object.keys(this.jobs);
    for (var i = 0; i < ids.length; i++) {
        this.send(PREFIX + "/cancel", [Number(ids[i])]);
        delete this.jobs[ids[i]];
    }
    for (var j = 0; j < this.pending.length; j++) {
        this.pending[j].cancelled = true;
    }
    var total = ids.length + this.pending.length;
    this.status(total ? "cancelling " + total + " job(s)" : "nothing to cancel");
};

// ---- styles: train one from the selected track's clips, pick one from the menu

// NAME, or the name in the device's "new style" field.
Bridge.prototype.trainStyle = function (words) {
    var name = joinWords(words) || this.trainName;
    if (!STYLE_NAME.test(name)) {
        this.status("name the new style in the field: letters and digits and - and _ (up to 48)");
        return;
    }
    var files = selectedTrackFiles(this.L);
    if (files.length < STYLE_MIN_CLIPS || files.length > STYLE_MAX_CLIPS) {
        this.status("select a track with " + STYLE_MIN_CLIPS + " to " + STYLE_MAX_CLIPS +
                    " audio clips to train on (it has " + files.length + ")");
        return;
    }
    for (var i = 0; i < files.length; i++) {
        this.send(PREFIX + "/style_clip", [files[i]]);
    }
    this.send(PREFIX + "/train", [name]);
    this.status("training style " + name + " on " + files.length + " clips");
};

Bridge.prototype.setTrainName = function (words) {
    this.trainName = joinWords(words);
};

// The style the device's jobs use (sent with each request's snapshot); empty: none.
Bridge.prototype.setStyle = function (words) {
    this.style = joinWords(words);
    this.fillMenu();
};

// A choice from the menu: 0 is "none", then the daemon's styles in the order listed.
Bridge.prototype.chooseStyle = function (index) {
    var i = Math.round(Number(index));
    var entries = this.menuEntries();
    if (!isFinite(i) || i < 0 || i >= entries.length) {
        this.post("musicgen_bridge: no style menu entry " + index);
        return;
    }
    this.style = i === 0 ? "" : entries[i];
    this.status(this.style ? "style " + this.style + " for the next clips" : "no style");
};

// "none", the daemon's styles, and this device's style when the daemon does not list it (a
// menu must show what the next request will send, even a style the daemon lost).
Bridge.prototype.menuEntries = function () {
    var entries = [NO_STYLE_ENTRY].concat(this.styleNames);
    if (this.style && this.styleNames.indexOf(this.style) < 0) {
        entries.push(this.style);
    }
    return entries;
};

Bridge.prototype.fillMenu = function () {
    var entries = this.menuEntries();
    this.ui(OUT_MENU, ["clear"]);
    for (var i = 0; i < entries.length; i++) {
        this.ui(OUT_MENU, ["append", entries[i]]);
    }
    var shown = this.style ? Math.max(0, this.styleNames.indexOf(this.style) + 1) : 0;
    if (this.style && shown === 0) {
        shown = entries.length - 1;
    }
    this.ui(OUT_MENU, ["set", shown]);
};

Bridge.prototype.listStyles = function () {
    this.send(PREFIX + "/styles", []);
};

Bridge.prototype.onStyleList = function (args) {
    var seen = {};
    this.styleNames = String(args[0] || "").split(" ").filter(function (n) {
        var fresh = n && !seen[n];
        seen[n] = true;
        return fresh;
    });
    this.fillMenu();
    if (this.style && this.styleNames.indexOf(this.style) < 0) {
        this.status("style " + this.style + " is not trained on this daemon: pick another");
    }
};

Bridge.prototype.onStyleProgress = function (args) {
    this.status("training style " + args[0] + " " + Math.round(num(args[1]) * 100) + " %");
};

Bridge.prototype.onStyleDone = function (args) {
    this.status("style " + args[0] + " is ready: pick it in the style menu");
    this.listStyles();
};

// ---- feedback from the daemon

Bridge.prototype.feedback = function (address, args) {
    var handler = HANDLERS[address];
    if (handler) {
        this[handler](args || []);
    } else if (String(address).indexOf(PREFIX + "/") !== 0) {
        this.post("musicgen_bridge: ignored " + address);
    }
};

Bridge.prototype.hasWork = function () {
    return this.pending.length > 0 || Object.keys(this.jobs).length > 0;
};

Bridge.prototype.onClient = function (args) {
    if (args[0] !== this.clientId) {
        return; // another device's registration
    }
    if (!this.registered) {
        this.registered = true;
        this.listStyles(); // fill the menu from the daemon just reached
        if (!this.hasWork()) {
            this.status("connected to " + this.host + ":" + this.port + " as " + this.clientId);
        }
    }
};

Bridge.prototype.onQueued = function (args) {
    var job = args[0];
    if (!isWhole(job) || this.jobs[job] || this.pending.length === 0) {
        return; // a duplicate, or a job this device did not ask for
    }
    var entry = this.pending.shift();
    if (entry.cancelled) {
        this.send(PREFIX + "/cancel", [job]);
        return;
    }
    this.jobs[job] = { destination: entry.destination, positionS: entry.positionS,
        expected: entry.variations, received: 0, paths: {} };
    this.status("job " + job + " queued");
};

// Daemon-wide status: shown only while this device waits, so "idle" after our last clip does
// not wipe out where that clip went (or why it could not go anywhere).
Bridge.prototype.onStatus = function (args) {
    if (this.hasWork() && typeof args[0] === "string") {
        this.status("daemon: " + args[0]);
    }
};

Bridge.prototype.onProgress = function (args) {
    var job = args[0], fraction = Number(args[1]);
    if (!this.jobs[job] || !isFinite(fraction)) {
        return;
    }
    var percent = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
    this.progress(percent);
    this.status("job " + job + ": " + percent + "%");
};

Bridge.prototype.progress = function (percent) {
    this.ui(OUT_PROGRESS, [percent]);
};

Bridge.prototype.onClip = function (args) {
    var reply = parseClipReply(args);
    if (!reply.ok) {
        this.post("musicgen_bridge: bad /musicgen/clip: " + reply.reason);
        return;
    }
    var job = this.jobs[reply.job];
    if (!job || job.paths[reply.path]) {
        return; // another client's clip, or one delivered twice (reply port = a feedback target)
    }
    job.paths[reply.path] = true;
    var index = job.received;
    job.received += 1;
    if (job.received >= job.expected) {
        delete this.jobs[reply.job];
        this.progress(100);
    }
    this.lastClipPath = reply.path;
    var result = this.importClip(job, reply, index);
    this.post("musicgen_bridge: job " + reply.job + ": " + result.message + " (" + reply.path + ")");
    this.status(result.message);
};

Bridge.prototype.importClip = function (job, reply, index) {
    var version = liveVersion(this.L);
    if (job.destination === "session") {
        return sessionImport(this.L, reply.path, version);
    }
    // The request carried its place in seconds; Live wants beats, at the tempo of now.
    var positionS = reply.positionS !== null ? reply.positionS : job.positionS;
    var length = secondsToBeats(reply.durationS, this.tempo);
    // Variations of one job go end to end rather than on top of each other.
    var start = secondsToBeats(positionS || 0, this.tempo) + index * length;
    return arrangementImport(this.L, reply.path, start, length, version);
};

Bridge.prototype.onError = function (args) {
    var about = String(args[0]), reason = String(args[1]);
    if (about === PREFIX + "/generate" || about === PREFIX + "/continue") {
        this.pending.shift(); // the refused request will never be queued
    }
    var job = jobFromAbout(about);
    if (job !== null) {
        if (!this.jobs[job]) {
            return; // another client's job
        }
        delete this.jobs[job];
    }
    this.status("daemon: " + about + ": " + reason);
};

// ---------------------------------------------------------------------------------------------
// Max glue: one Bridge per [js] instance, built on first use (LiveAPI is usable only after
// [live.thisdevice] has banged, which sends "init").

var maxThis = this;
var bridge = null;
var timeoutTask = null; // held here so the scheduled Task is not collected before it fires

function maxBridge() {
    if (!bridge) {
        bridge = new Bridge({
            LiveAPI: LiveAPI,
            send: function (address, args) { outlet.apply(maxThis, [OUT_OSC, address].concat(args)); },
            ui: function (index, args) { outlet.apply(maxThis, [index].concat(args)); },
            post: function (text) { post(text + "\n"); },
            random: Math.random,
            schedule: function (fn, ms) {
                if (timeoutTask) {
                    timeoutTask.cancel();
                }
                timeoutTask = new Task(fn, maxThis);
                timeoutTask.schedule(ms);
            }
        });
    }
    return bridge;
}

function init() { maxBridge().init(); }
function prompt() { maxBridge().setPrompt(arrayfromargs(arguments)); }
function knob(name, value) { maxBridge().setKnob(name, value); }
function bars(value) { maxBridge().setBars(value); }
function variations(value) { maxBridge().setVariations(value); }
function seed(value) { maxBridge().setSeed(value); }
function host() { maxBridge().setHost(arrayfromargs(arguments)); }
function port(value) { maxBridge().setPort(value); }
function replyport(value) { maxBridge().setReplyPort(value); }
function generate() { maxBridge().generate(); }
function cancel() { maxBridge().cancel(); }
function continue_last() { maxBridge().continueLast(); }
function train_style() { maxBridge().trainStyle(arrayfromargs(arguments)); }
function style() { maxBridge().setStyle(arrayfromargs(arguments)); }
function style_menu(index) { maxBridge().chooseStyle(index); }
function train_name() { maxBridge().setTrainName(arrayfromargs(arguments)); }
function styles() { maxBridge().listStyles(); }

// OSC from [udpreceive] arrives with the address as the message selector.
function anything() {
    maxBridge().feedback(messagename, arrayfromargs(arguments));
}

if (typeof module !== "undefined" && module.exports) {
    module.exports = {
        Bridge: Bridge,
        HANDLERS: HANDLERS,
        KNOBS: KNOBS,
        OUT_OSC: OUT_OSC,
        OUT_RECEIVE: OUT_RECEIVE,
        OUT_STATUS: OUT_STATUS,
        OUT_PROGRESS: OUT_PROGRESS,
        OUT_MENU: OUT_MENU,
        SESSION_IMPORT_SINCE: SESSION_IMPORT_SINCE,
        ARRANGEMENT_IMPORT_SINCE: ARRANGEMENT_IMPORT_SINCE,
        arrangementImport: arrangementImport,
        autoReplyPort: autoReplyPort,
        beatsToSeconds: beatsToSeconds,
        deviceTrack: deviceTrack,
        firstFreeSlot: firstFreeSlot,
        jobFromAbout: jobFromAbout,
        joinWords: joinWords,
        makeClientId: makeClientId,
        overlapsAny: overlapsAny,
        parseClipReply: parseClipReply,
        sceneIndexFromPath: sceneIndexFromPath,
        secondsToBeats: secondsToBeats,
        selectedTrackFiles: selectedTrackFiles,
        sessionImport: sessionImport,
        versionAtLeast: versionAtLeast
    };
}
