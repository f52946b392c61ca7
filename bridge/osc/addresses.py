"""The OSC address space, defined once.

docs/osc.md is rendered from this table, the Max device and the Reaper pattern file are
tested against it, and the OSC handlers register against it (a handler for an address not in
the table is a programming error). Types are OSC type tags: ``i`` int32, ``f`` float32,
``s`` string; numeric arguments accept either ``i`` or ``f`` (Max sends floats from dials and
ints from number boxes).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.params import KNOB_PARAMS, PARAMS

PREFIX = "/musicgen"


@dataclass(frozen=True)
class OscArg:
    name: str
    type: str  # "i", "f" or "s"
    optional: bool = False


@dataclass(frozen=True)
class OscAddress:
    address: str
    args: tuple[OscArg, ...]
    meaning: str
    reply: str  # what the daemon sends back ("" = nothing but errors)
    direction: str = "in"  # "in": the daemon listens; "out": the daemon sends

    @property
    def typetags(self) -> str:
        return "".join(a.type for a in self.args)


def _a(name: str, type_: str, optional: bool = False) -> OscArg:
    return OscArg(name, type_, optional)


def _echo(address: str, types: str) -> str:
    return f"{address} {types} (value applied, after clamping)"


def _setting(name: str, type_: str, meaning: str) -> OscAddress:
    address = f"{PREFIX}/{name}"
    return OscAddress(address, (_a(name, type_),), meaning, _echo(address, type_))


def _param_addresses() -> list[OscAddress]:
    out = []
    for name in KNOB_PARAMS:
        spec = PARAMS[name]
        t = "i" if spec.type is int else "f"
        rng = f"{spec.minimum:g}..{spec.maximum:g}"
        out.append(_setting(name, t, f"{spec.label} in its own units ({rng}): {spec.help}"))
        knob = f"{PREFIX}/knob/{name}"
        out.append(OscAddress(
            knob, (_a("position", "f"),),
            f"{spec.label} from a normalized 0..1 knob through its {spec.curve} curve",
            _echo(f"{PREFIX}/{name}", t)))
    return out


ADDRESSES: tuple[OscAddress, ...] = (
    _setting("prompt", "s", "the text prompt"),
    _setting("negative", "s", "negative prompt: guidance steers away from it (empty clears)"),
    _setting("tempo", "f", "project tempo in BPM (quarter notes per minute)"),
    OscAddress(f"{PREFIX}/meter", (_a("numerator", "i"), _a("denominator", "i")),
               "time signature, e.g. 6 8", _echo(f"{PREFIX}/meter", "ii")),
    _setting("key", "s", 'musical key, e.g. "A minor"; empty clears'),
    _setting("bars", "i", "clip length in bars"),
    _setting("seed", "i", "seed for the next job; -1 random"),
    _setting("variations", "i", "clips per job (1..8), generated in one batched call"),
    _setting("position", "f",
             "where the clip belongs in the project, seconds (to the sidecar); -1: none"),
    _setting("quality", "s", 'quality words or a preset ("hi-fi", "lo-fi", "none")'),
    _setting("tempo_lock", "i", "1: fit clips to the tempo grid; 0: leave timing alone; "
             "-1: the config's [fit] setting"),
    _setting("loop", "i", "1: make clips loop seamlessly"),
    _setting("retries", "i", "regenerate with the next seed up to N (0-5) times when a clip "
             "cannot be locked to the grid; -1: the config's [fit] setting"),
    _setting("style", "s", "the trained style to apply (see /musicgen/styles); empty: none"),
    *_param_addresses(),
    OscAddress(f"{PREFIX}/generate", (_a("prompt", "s", optional=True),),
               "generate with the current state (optional prompt override for this job)",
               f"{PREFIX}/queued i (job id)"),
    OscAddress(f"{PREFIX}/continue", (_a("path", "s"),),
               "generate a continuation of this audio file with the current state",
               f"{PREFIX}/queued i (job id)"),
    OscAddress(f"{PREFIX}/vary", (_a("count", "i", optional=True),),
               "re-run the last request's conditioning with new seeds (count variations)",
               f"{PREFIX}/queued i (job id)"),
    OscAddress(f"{PREFIX}/cancel", (_a("job", "i", optional=True),),
               "cancel a job (none: the running job)", f"{PREFIX}/status s"),
    OscAddress(f"{PREFIX}/state", (), "ask for the whole state",
               "every setting on its own address, then /musicgen/status s"),
    OscAddress(f"{PREFIX}/ping", (), "liveness check", f"{PREFIX}/pong"),
    OscAddress(f"{PREFIX}/client", (_a("client_id", "s"), _a("reply_port", "i")),
               "register the sender as a client: its jobs carry client_id and their "
               "feedback goes to the sender's host on reply_port", f"{PREFIX}/client s i"),
    OscAddress(f"{PREFIX}/learn", (_a("param", "s"),),
               "MIDI learn: bind the next moved MIDI control to this parameter",
               f"{PREFIX}/learned s i i (param, channel, cc)"),
    OscAddress(f"{PREFIX}/styles", (), "ask for the trained styles (for a menu)",
               f"{PREFIX}/style_list s"),
    OscAddress(f"{PREFIX}/style_clip", (_a("path", "s"),),
               "add an audio file (5-30 s) to the sender's next style training",
               f"{PREFIX}/style_clips i (clips collected)"),
    OscAddress(f"{PREFIX}/train", (_a("name", "s"), _a("description", "s", optional=True)),
               "train style NAME on the clips sent with /musicgen/style_clip (5-50), between "
               "generation jobs; sending it again after a stop resumes", f"{PREFIX}/training s"),
    OscAddress(f"{PREFIX}/train_cancel", (_a("name", "s"),),
               "stop training style NAME (its last finished epoch is kept for a resume)",
               f"{PREFIX}/status s"),
    # Feedback the daemon sends.
    OscAddress(f"{PREFIX}/queued", (_a("job", "i"),), "a job was accepted", "", "out"),
    OscAddress(f"{PREFIX}/status", (_a("status", "s"),),
               "idle, queued, generating, writing or error", "", "out"),
    OscAddress(f"{PREFIX}/progress", (_a("job", "i"), _a("progress", "f")),
               "generation progress 0..1, at least every 5 %", "", "out"),
    OscAddress(f"{PREFIX}/clip", (_a("job", "i"), _a("path", "s"), _a("position_s", "f"),
                                  _a("duration_s", "f")),
               "a clip file is complete (absolute path); position -1 when none was given",
               "", "out"),
    OscAddress(f"{PREFIX}/error", (_a("about", "s"), _a("reason", "s")),
               "something was refused or failed: the address or job it concerns, and why",
               "", "out"),
    OscAddress(f"{PREFIX}/retry", (_a("job", "i"), _a("attempt", "i"), _a("reason", "s")),
               "a job's clips are generated again with the next seed (attempt 2, 3, ...), "
               "and why the last attempt was dropped", "", "out"),
    OscAddress(f"{PREFIX}/pong", (), "answer to /musicgen/ping", "", "out"),
    OscAddress(f"{PREFIX}/style_list", (_a("names", "s"),),
               "the trained styles' names, separated by spaces (names have none)", "", "out"),
    OscAddress(f"{PREFIX}/style_clips", (_a("count", "i"),),
               "clips collected for the sender's next training", "", "out"),
    OscAddress(f"{PREFIX}/training", (_a("name", "s"),), "a style training was queued", "",
               "out"),
    OscAddress(f"{PREFIX}/style_progress", (_a("name", "s"), _a("progress", "f")),
               "style training progress 0..1", "", "out"),
    OscAddress(f"{PREFIX}/style_done", (_a("name", "s"), _a("path", "s")),
               "a style is trained and saved (its folder); failures go to /musicgen/error",
               "", "out"),
    OscAddress(f"{PREFIX}/learned", (_a("param", "s"), _a("channel", "i"), _a("cc", "i")),
               "a MIDI control was bound by learn", "", "out"),
)

BY_ADDRESS: dict[str, OscAddress] = {a.address: a for a in ADDRESSES}
INPUTS: tuple[OscAddress, ...] = tuple(a for a in ADDRESSES if a.direction == "in")
OUTPUTS: tuple[OscAddress, ...] = tuple(a for a in ADDRESSES if a.direction == "out")

# OSC setting address -> session state field.
SETTING_FIELDS: dict[str, str] = {
    f"{PREFIX}/prompt": "prompt", f"{PREFIX}/negative": "negative_prompt",
    f"{PREFIX}/tempo": "bpm", f"{PREFIX}/meter": "meter", f"{PREFIX}/key": "key",
    f"{PREFIX}/bars": "bars", f"{PREFIX}/seed": "seed", f"{PREFIX}/variations": "variations",
    f"{PREFIX}/position": "position_s", f"{PREFIX}/quality": "quality",
    f"{PREFIX}/tempo_lock": "tempo_lock", f"{PREFIX}/loop": "loop",
    f"{PREFIX}/retries": "retries", f"{PREFIX}/style": "style",
    **{f"{PREFIX}/{name}": name for name in KNOB_PARAMS},
}

# Session state field -> the OSC address its changes are echoed on.
FIELD_ADDRESSES: dict[str, str] = {field: address for address, field in SETTING_FIELDS.items()}

# ---- Other control surfaces that talk to the same port -------------------------------------

REAPER = "reaper"
REAPER_TEMPO = "/tempo/raw"

# Addresses a REAPER OSC control surface (reaper_scripts/MusicGen.ReaperOSC) sends that the
# daemon acts on. They are not under /musicgen because REAPER's pattern file decides them.
REAPER_ADDRESSES: tuple[OscAddress, ...] = (
    OscAddress(REAPER_TEMPO, (_a("bpm", "f"),),
               "REAPER's project tempo (pattern TEMPO f/tempo/raw): the daemon follows it",
               f"{PREFIX}/tempo f to the feedback targets (nothing back to REAPER)"),
)

# First address segments of what a REAPER control surface sends (the actions of its
# Default.ReaperOSC: transport, time, tempo, tracks, FX, actions, device banks). A surface
# pointed at the daemon sends these on every transport change and refresh; they are ignored
# quietly (DEBUG log) instead of each being answered with an error REAPER would not read.
REAPER_IGNORED_ROOTS: frozenset[str] = frozenset({
    "action", "anysolo", "autorecarm", "beat", "bymarker", "click", "device", "editloop",
    "forward", "frames", "fx", "fxeq", "fxinst", "fxinstparam", "fxparam", "lastmarker",
    "lastregion", "marker", "master", "midiaction", "midilistaction", "pause", "play",
    "playrate", "reaper", "record", "region", "repeat", "replace", "rewind", "samples",
    "scroll", "scrub", "soloreset", "stop", "tempo", "time", "track", "vkb_midi", "zoom",
})
