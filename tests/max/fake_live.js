"use strict";
// A small stand-in for Max's LiveAPI and the Live set behind it, for running
// max_patches/musicgen_bridge.js under Node. Only what the device touches is modelled: objects
// reached by path or "id N", get/call, child lists returned as ["id", n, ...], and observers set
// through `.property` that fire at once with the current value, as LiveAPI does.

function makeWorld(options) {
    const o = Object.assign({
        version: [12, 1, 0],
        trackKind: "audio", // "audio", "midi" or "group"
        frozen: false,
        slots: [false, false, false, false],
        selectedScene: 0, // -1: no scene selected (id 0)
        view: "Session",
        tempo: 120.0,
        meter: [4, 4],
        songTime: 0.0,
        arrangementClips: [], // [{start, end}] in beats
        createWorks: true, // false: Live refuses the call silently (prints to its own log)
        newClipBeats: 8.0, // length Live gives a clip it creates from a file
        inRack: false,
        deviceId: 7,
    }, options || {});

    const objects = {};
    const paths = {};
    const calls = [];
    const observers = [];
    let nextId = 100;

    function add(type, path, props, id) {
        const obj = { id: id || nextId++, type, path, props: props || {}, children: {}, functions: {} };
        objects[obj.id] = obj;
        if (path) {
            paths[path] = obj.id;
        }
        return obj;
    }

    const app = add("Application", "live_app");
    app.functions.get_major_version = () => o.version[0];
    app.functions.get_minor_version = () => o.version[1];
    app.functions.get_bugfix_version = () => o.version[2];
    add("Application.View", "live_app view", { focused_document_view: o.view });

    const song = add("Song", "live_set", {
        tempo: o.tempo,
        signature_numerator: o.meter[0],
        signature_denominator: o.meter[1],
        current_song_time: o.songTime,
    });

    const track = add("Track", "live_set tracks 2", {
        has_audio_input: o.trackKind === "audio" ? 1 : 0,
        has_midi_input: o.trackKind === "midi" ? 1 : 0,
        is_frozen: o.frozen ? 1 : 0,
    });
    track.children.clip_slots = o.slots.map((has, i) => {
        const slot = add("ClipSlot", `live_set tracks 2 clip_slots ${i}`, { has_clip: has ? 1 : 0 });
        slot.functions.create_audio_clip = (path) => {
            if (o.createWorks && slot.props.has_clip === 0) {
                slot.props.has_clip = 1;
                slot.props.file_path = path;
            }
        };
        return slot.id;
    });
    const arrangementClip = (start, end, filePath, audio) =>
        add("Clip", null, { start_time: start, end_time: end, file_path: filePath || "",
                            is_audio_clip: audio === false ? 0 : 1 }).id;
    track.children.arrangement_clips = o.arrangementClips.map(
        (c) => arrangementClip(c.start, c.end, c.file, c.audio));
    paths["live_set view selected_track"] = o.trackSelected === false ? 0 : track.id;
    track.functions.create_audio_clip = (path, start) => {
        if (o.createWorks) {
            track.children.arrangement_clips.push(arrangementClip(start, start + o.newClipBeats, path));
        }
    };

    const scenes = o.slots.map((_, i) => add("Scene", `live_set scenes ${i}`));
    paths["live_set view selected_scene"] = o.selectedScene >= 0 ? scenes[o.selectedScene].id : 0;

    let parent = track;
    if (o.inRack) {
        const rack = add("RackDevice", "live_set tracks 2 devices 0", { canonical_parent: ["id", track.id] });
        const chain = add("Chain", "live_set tracks 2 devices 0 chains 0",
            { canonical_parent: ["id", rack.id] });
        parent = chain;
    }
    add("MxDeviceAudioEffect", "this_device", { canonical_parent: ["id", parent.id] }, o.deviceId);

    function resolve(path) {
        const byId = /^id (\d+)$/.exec(String(path));
        const id = byId ? Number(byId[1]) : paths[path];
        return objects[id] || null;
    }

    function LiveAPI(a, b) {
        const callback = typeof a === "function" ? a : null;
        const obj = resolve(callback ? b : a);
        this._obj = obj;
        this._callback = callback;
        this.id = obj ? String(obj.id) : "0";
        this.type = obj ? obj.type : "";
        this.unquotedpath = obj && obj.path ? obj.path : "";
        this.path = `"${this.unquotedpath}"`;
    }
    LiveAPI.prototype.get = function (name) {
        const obj = this._obj;
        if (!obj) {
            return [];
        }
        if (obj.children[name]) {
            const out = [];
            obj.children[name].forEach((id) => out.push("id", id));
            return out;
        }
        const value = obj.props[name];
        return Array.isArray(value) ? value.slice() : [value];
    };
    LiveAPI.prototype.call = function (name, ...args) {
        calls.push({ id: this._obj && this._obj.id, type: this.type, path: this.unquotedpath, name, args });
        const fn = this._obj && this._obj.functions[name];
        return fn ? fn(...args) : undefined;
    };
    Object.defineProperty(LiveAPI.prototype, "property", {
        set(name) {
            observers.push({ api: this, name });
            if (this._callback && this._obj) {
                this._callback.call(this, [name, this._obj.props[name]]);
            }
        },
    });

    // Change a song property the way Live would, notifying its observers.
    function setSong(name, value) {
        song.props[name] = value;
        observers.filter((ob) => ob.api._obj === song && ob.name === name)
            .forEach((ob) => ob.api._callback.call(ob.api, [name, value]));
    }

    return { LiveAPI, calls, observers, objects, track, song, app, setSong, options: o };
}

// Everything a Bridge does to the outside world, recorded.
function makeHarness(worldOptions, extra) {
    const world = makeWorld(worldOptions);
    const sent = [];
    const ui = [];
    const posts = [];
    const scheduled = [];
    const { Bridge } = require("../../max_patches/musicgen_bridge.js");
    const bridge = new Bridge(Object.assign({
        LiveAPI: world.LiveAPI,
        send: (address, args) => sent.push([address].concat(args)),
        ui: (outlet, args) => ui.push([outlet].concat(args)),
        post: (text) => posts.push(text),
        random: () => 0.5,
        schedule: (fn, ms) => scheduled.push({ fn, ms }),
    }, extra || {}));
    return { world, bridge, sent, ui, posts, scheduled };
}

module.exports = { makeWorld, makeHarness };
