"""A realistic test corpus for the tempo lock, rendered on this machine and cached.

Each clip is General MIDI written here (pretty_midi; Bach chorales from music21's corpus)
rendered by the ``fluidsynth`` command with Debian's FluidR3 GM soundfont, speech by
``espeak-ng``, noise by numpy. Clips with a beat play 2-6 BPM off the project tempo, as
MusicGen does, and start at a seeded random point of the bar; the ground truth (true tempo,
first downbeat, meter, beatless or not) comes from the MIDI, never from an analysis.

Renders are cached by a hash of their MIDI (or text) and the renderer's version under
``$MUSICGEN_BRIDGE_CORPUS`` or ``~/.cache/musicgen-bridge/corpus``, so a second run costs only
the analysis. ``clips()`` lists the full set (bench/fit_real.py); ``TEST_SUBSET`` names the
few the test suite renders.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soxr

from bridge.musical_time import Meter, bar_seconds, beat_seconds
from bridge.post.tempo_fit import extra_seconds
from tests.corpus.grooves import CRASH, GROOVES, LOW_TOM, PROGRESSIONS, VELOCITY, Groove

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RATE = 48000
# The music starts this long into each render, so the first hit is not cut by the renderer.
LEAD_S = 1.0
# Timing scatter of a good human player (Gaussian sigma), kept within +-3 sigma.
JITTER_S = 0.003
CLIP_BARS = 8
LONGEST_CLIP_S = 24.0
# Bump when the way clips are built changes, so stale renders are not reused.
CORPUS_VERSION = 1


@dataclass(frozen=True)
class Clip:
    """One corpus clip and its ground truth.

    ``true_bpm`` is in the project's units (quarter notes per minute); ``downbeat_s`` is the
    time of the first bar line in the clip's audio (0 <= downbeat_s < one bar); both None for
    beatless clips. ``bars`` is what the project asks for at ``project_bpm`` and ``meter``.
    """

    name: str
    category: str
    seed: int
    project_bpm: float
    meter: str
    bars: int
    beatless: bool
    true_bpm: float | None = None
    downbeat_s: float | None = None

    @property
    def seconds(self) -> float:
        """Audio length: the clip plus what the engine generates for the tempo fit."""
        clip_s = self.bars * bar_seconds(self.project_bpm, Meter.parse(self.meter))
        return clip_s + extra_seconds(self.project_bpm, self.meter, clip_s)

    def beats(self) -> np.ndarray:
        """True beat times in the clip (beats of the meter's denominator)."""
        assert self.true_bpm is not None and self.downbeat_s is not None
        beat = beat_seconds(self.true_bpm, Meter.parse(self.meter))
        first = self.downbeat_s - beat * math.floor(self.downbeat_s / beat)
        return first + beat * np.arange(int((self.seconds - first) / beat) + 1)

    def downbeats(self, *, with_previous: bool = False) -> np.ndarray:
        """True bar lines in the clip; ``with_previous`` adds the one a bar before the first,
        before the audio starts: a clip starting a few ms after its downbeat is rightly padded,
        which puts that bar line on sample 0."""
        assert self.true_bpm is not None and self.downbeat_s is not None
        bar = bar_seconds(self.true_bpm, Meter.parse(self.meter))
        last = int((self.seconds - self.downbeat_s) / bar)
        return self.downbeat_s + bar * np.arange(-1 if with_previous else 0, last + 1)


# --- the clip list -------------------------------------------------------------------------------

# Each with the meter of its score (bwv269 is in 3/4).
CHORALES = (("bach/bwv66.6", "4/4"), ("bach/bwv7.7", "4/4"), ("bach/bwv269", "3/4"),
            ("bach/bwv253", "4/4"))


def clips(variant: int = 0) -> tuple[Clip, ...]:
    """The full corpus: grooves, arrangements and pieces with a beat, then beatless controls.

    ``variant`` 0 is the corpus the tests and the documented figures use; another variant
    draws every clip's tempo, start point, key, progression and player afresh (its seeds are
    offset by ``VARIANT_SEED_STEP`` per variant), to check a change against clips it was not
    tuned on."""
    return _beat_clips(variant) + _beatless_clips(variant)


# Names of the clips the test suite renders (a few seconds each on first use).
TEST_SUBSET = ("rock 0", "funk 0", "half-time 0", "six-eight 0", "house band 0",
               "waltz band 0", "pad 0", "rubato piano 0", "speech 0", "sparse hits 0",
               "pink noise 0", "drone 0")


def by_name(name: str, variant: int = 0) -> Clip:
    for clip in clips(variant):
        if clip.name == name:
            return clip
    raise KeyError(name)


# Seeds of a corpus variant are offset by this much per variant; clip seeds stay below it.
VARIANT_SEED_STEP = 10000


@lru_cache(maxsize=4)
def _beat_clips(variant: int = 0) -> tuple[Clip, ...]:
    base = VARIANT_SEED_STEP * variant
    out = []
    for index, groove in enumerate(GROOVES):
        out.append(_beat_clip(f"{groove.name} 0", "groove", base + 100 + index, groove.meter,
                              groove.bpm))
        out.append(_beat_clip(f"{groove.name} band 0", "arrangement", base + 200 + index,
                              groove.meter, groove.bpm))
    for index, (name, meter) in enumerate(CHORALES):
        for k, program in enumerate(("organ", "strings")):
            out.append(_beat_clip(f"chorale {name[5:]} {program}", "legato piece",
                                  base + 300 + 2 * index + k, meter, (70, 96)))
    for index in range(3):
        out.append(_beat_clip(f"fiddle jig {index}", "legato piece", base + 400 + index, "6/8",
                              (100, 120)))
        out.append(_beat_clip(f"string quartet {index}", "legato piece", base + 410 + index,
                              "4/4", (80, 110)))
    return tuple(out)


def _beat_clip(name: str, category: str, seed: int, meter: str,
               bpm_range: tuple[float, float]) -> Clip:
    rng = np.random.default_rng(seed)
    project = float(round(rng.uniform(*bpm_range)))
    true = project + float(rng.choice([-1, 1]) * rng.uniform(2.0, 6.0))
    bar_project = bar_seconds(project, Meter.parse(meter))
    bars = CLIP_BARS if CLIP_BARS * bar_project <= LONGEST_CLIP_S else \
        max(2, int(LONGEST_CLIP_S / bar_project))
    # One clip in five starts exactly on its downbeat: moving it would be a mistake.
    start = 0.0 if rng.uniform() < 0.2 else float(rng.uniform(0.0, 1.0))
    bar_true = bar_seconds(true, Meter.parse(meter))
    downbeat = 0.0 if start == 0.0 else bar_true * (1.0 - start)
    return Clip(name, category, seed, project, meter, bars, False, true, downbeat)


@lru_cache(maxsize=4)
def _beatless_clips(variant: int = 0) -> tuple[Clip, ...]:
    kinds = (("pad", 10), ("choir", 8), ("drone", 8), ("rubato piano", 10), ("pink noise", 6),
             ("speech", 10), ("applause", 6), ("sparse hits", 8), ("seashore", 4))
    out = []
    for k, (kind, count) in enumerate(kinds):
        for i in range(count):
            seed = VARIANT_SEED_STEP * variant + 1000 + 100 * k + i
            rng = np.random.default_rng(seed)
            meter = str(rng.choice(["4/4", "4/4", "3/4", "6/8"]))
            project = float(round(rng.uniform(80, 140)))
            bars = max(2, int(16.0 / bar_seconds(project, Meter.parse(meter))))
            out.append(Clip(f"{kind} {i}", "beatless", seed, project, meter, bars, True))
    return tuple(out)


# --- audio ------------------------------------------------------------------------------------------

def load(clip: Clip) -> np.ndarray:
    """The clip's audio, (2, samples) float32 at RATE, rendered once and then cached."""
    kind = clip.name.rsplit(" ", 1)[0]
    if kind == "pink noise":
        return _pink_noise(clip)
    if kind == "speech":
        audio = _speech(clip)
    else:
        audio = _render(_midi(clip))
    if clip.beatless:
        start = int(LEAD_S * RATE)
    else:
        # The cut that makes the clip start ``1 - downbeat/bar`` of the way into a bar.
        bar = bar_seconds(clip.true_bpm, Meter.parse(clip.meter))
        offset = 0.0 if clip.downbeat_s == 0.0 else bar - clip.downbeat_s
        start = int(round((LEAD_S + offset) * RATE))
    n = int(round(clip.seconds * RATE))
    out = audio[:, start:start + n]
    if out.shape[1] < n:
        out = np.pad(out, ((0, 0), (0, n - out.shape[1])))
    return np.ascontiguousarray(out, dtype=np.float32)


def cache_dir() -> Path:
    root = os.environ.get("MUSICGEN_BRIDGE_CORPUS")
    path = Path(root) if root else Path.home() / ".cache" / "musicgen-bridge" / "corpus"
    path.mkdir(parents=True, exist_ok=True)
    return path


def renderer_available() -> str | None:
    """Why the corpus cannot be rendered here (a missing tool), or None."""
    for tool in ("fluidsynth", "espeak-ng"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: run bash .ci/setup --test"
    if not SOUNDFONT.is_file():
        return f"{SOUNDFONT} is missing: run bash .ci/setup --test (fluid-soundfont-gm)"
    return None


@lru_cache(maxsize=1)
def _tool_versions() -> str:
    out = []
    for cmd in (["fluidsynth", "--version"], ["espeak-ng", "--version"]):
        out.append(subprocess.run(cmd, capture_output=True, text=True).stdout.split("\n")[0])
    return "|".join(out) + f"|{SOUNDFONT.stat().st_size}|{CORPUS_VERSION}"


def _cached(key_bytes: bytes, make) -> np.ndarray:
    key = hashlib.sha256(key_bytes + _tool_versions().encode()).hexdigest()[:24]
    path = cache_dir() / f"{key}.npy"
    if path.exists():
        return np.load(path)
    audio = make()
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, audio)
    os.replace(tmp, path)
    return audio


def _read_wav(path: Path) -> np.ndarray:
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if rate != RATE:
        data = soxr.resample(data, rate, RATE)
    out = data.T
    return np.ascontiguousarray(out if out.shape[0] == 2 else np.repeat(out[:1], 2, axis=0))


def _render(midi_bytes: bytes) -> np.ndarray:
    def make() -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
            mid.write_bytes(midi_bytes)
            subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(RATE),
                            "-F", str(wav), str(SOUNDFONT), str(mid)],
                           check=True, capture_output=True, timeout=120)
            return _read_wav(wav)

    return _cached(midi_bytes, make)


SENTENCES = (
    "The quick brown fox jumps over the lazy dog while the band packs up for the night.",
    "Please check the levels on channel four before we record the next take.",
    "A long time ago, in a small village by the sea, there lived an old fisherman.",
    "Tempo, key and meter are written into the sidecar next to every clip.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
)


def _speech(clip: Clip) -> np.ndarray:
    rng = np.random.default_rng(clip.seed)
    voice = str(rng.choice(["en", "en-us", "en+f3", "en+m3", "de", "fr"]))
    speed = int(rng.integers(130, 200))
    text = " ".join(str(s) for s in rng.permutation(SENTENCES))

    def make() -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "out.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
                           check=True, capture_output=True, timeout=60)
            return _read_wav(wav)

    speech = _cached(f"speech|{voice}|{speed}|{text}".encode(), make)
    n = int((clip.seconds + LEAD_S + 1) * RATE)
    return np.tile(speech, (1, n // speech.shape[1] + 1))[:, :n]


def _pink_noise(clip: Clip) -> np.ndarray:
    rng = np.random.default_rng(clip.seed)
    n = int(round(clip.seconds * RATE))
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    mono = np.fft.irfft(spectrum, n)
    mono *= 0.2 / np.abs(mono).max()
    return np.stack([mono, mono]).astype(np.float32)


# --- MIDI --------------------------------------------------------------------------------------------

def _midi(clip: Clip) -> bytes:
    import pretty_midi

    rng = np.random.default_rng(clip.seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    length = LEAD_S + 2 * clip.seconds + 2.0
    kind = clip.name.rsplit(" ", 1)[0]
    groove = next((g for g in GROOVES if kind in (g.name, f"{g.name} band")), None)
    if groove is not None:
        _groove(pm, groove, clip, rng, length, band=kind.endswith("band"))
    elif kind.startswith("chorale"):
        _chorale(pm, clip, kind)
    elif kind == "fiddle jig":
        _jig(pm, clip, rng, length)
    elif kind == "string quartet":
        _quartet(pm, clip, rng, length)
    else:
        _beatless(pm, kind, rng, clip.seconds + LEAD_S + 1.0)
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


def _note(inst, pitch: int, velocity: int, start: float, end: float) -> None:
    import pretty_midi

    inst.notes.append(pretty_midi.Note(int(np.clip(velocity, 1, 127)), int(pitch),
                                       max(0.0, start), max(start + 0.01, end)))


def _human(rng: np.random.Generator) -> float:
    return float(np.clip(rng.normal(0.0, JITTER_S), -3 * JITTER_S, 3 * JITTER_S))


def _groove(pm, groove: Groove, clip: Clip, rng, length: float, *, band: bool) -> None:
    import pretty_midi

    bar = bar_seconds(clip.true_bpm, Meter.parse(clip.meter))
    step = bar / groove.steps
    drums = pretty_midi.Instrument(0, is_drum=True)
    bass = pretty_midi.Instrument(groove.bass_program)
    chords = pretty_midi.Instrument(groove.chord_program)
    key = 40 + int(rng.integers(0, 8))
    progression = PROGRESSIONS[int(rng.integers(0, len(PROGRESSIONS)))]
    triplets = groove.steps in (12,) and groove.meter == "4/4"
    for b in range(int(length / bar) + 1):
        t0 = LEAD_S + b * bar
        for pitch, pattern in groove.drums.items():
            for s, ch in enumerate(pattern):
                if ch == "." or (ch == "g" and rng.uniform() < 0.2):
                    continue
                swing = groove.swing * step if s % 2 and not triplets else 0.0
                t = t0 + s * step + swing + _human(rng)
                vel = VELOCITY[ch] + int(rng.integers(-8, 9))
                _note(drums, pitch, vel, t, t + 0.1)
        # A fill into every fourth bar: toms on the last beat, a crash on the next one.
        if b % 4 == 3 and groove.meter == "4/4" and groove.steps == 16:
            for s in (12, 13, 14, 15):
                _note(drums, LOW_TOM + (s % 2) * 2, 96, t0 + s * step + _human(rng),
                      t0 + (s + 1) * step)
        if b % 4 == 0 and b > 0:
            _note(drums, CRASH, 100, t0 + _human(rng), t0 + 0.5)
        if not band:
            continue
        root, minor = progression[b % len(progression)]
        for s in groove.bass:
            t = t0 + s * step + _human(rng)
            _note(bass, key + root - 12 + (12 if s % 4 == 2 and rng.uniform() < 0.3 else 0),
                  100 if s == 0 else 80, t, t + 0.9 * step * 2)
        third = 3 if minor else 4
        for s in groove.chord_steps:
            t = t0 + s * step + _human(rng)
            end = t0 + (groove.steps if s == groove.chord_steps[-1] else
                        groove.chord_steps[groove.chord_steps.index(s) + 1]) * step
            for interval in (0, third, 7):
                _note(chords, key + 12 + root + interval, 72, t, end - 0.02)
    pm.instruments.append(drums)
    if band:
        pm.instruments += [bass, chords]


def _chorale(pm, clip: Clip, kind: str) -> None:
    """A Bach chorale from music21's corpus at the clip's tempo; organ or strings. The ground
    truth's bar line is the chorale's first full bar (they start with a pickup)."""
    import music21
    import pretty_midi

    name = "bach/" + kind.split()[1]
    score = music21.corpus.parse(name)
    quarter = 60.0 / clip.true_bpm
    first = score.parts[0].getElementsByClass("Measure")[0]
    bar_q = float(first.barDuration.quarterLength)
    assert bar_q == bar_seconds(60.0, Meter.parse(clip.meter)), (name, clip.meter)
    # Bar 1 starts after the pickup (a first measure shorter than a bar); shift so it sits
    # on LEAD_S + a whole number of bars.
    pickup_q = float(first.duration.quarterLength) % bar_q
    shift = LEAD_S + bar_q * quarter - pickup_q * quarter
    program = 19 if kind.endswith("organ") else 48
    total_q = float(score.highestTime)
    # Repeat the chorale until the render is long enough.
    repeats = int(math.ceil((2 * clip.seconds + 4) / (total_q * quarter)))
    span_q = math.ceil((total_q + pickup_q) / bar_q) * bar_q
    for part in score.parts:
        inst = pretty_midi.Instrument(program)
        for r in range(repeats):
            for n in part.flatten().notes:
                for p in n.pitches:
                    start = shift + (float(n.offset) + r * span_q) * quarter
                    end = start + float(n.duration.quarterLength) * quarter
                    _note(inst, p.midi, 80, start, end - 0.01)
        pm.instruments.append(inst)


def _jig(pm, clip: Clip, rng, length: float) -> None:
    """A fiddle playing legato eighths in 6/8 (bowed: no percussive attack), drone below."""
    import pretty_midi

    eighth = beat_seconds(clip.true_bpm, Meter(6, 8))
    fiddle = pretty_midi.Instrument(110)
    drone = pretty_midi.Instrument(22)
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 14]
    key = 62
    degree = 0
    for i in range(int(length / eighth)):
        t = LEAD_S + i * eighth + _human(rng)
        degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), 0, len(scale) - 1))
        pitch = key + scale[0 if i % 6 == 0 and rng.uniform() < 0.5 else degree]
        accent = 96 if i % 6 == 0 else 78 if i % 3 == 0 else 62
        _note(fiddle, pitch, accent, t, t + eighth * 1.02)
    for b in range(int(length / (6 * eighth)) + 1):
        t = LEAD_S + b * 6 * eighth
        _note(drone, key - 12, 50, t, t + 6 * eighth)
    pm.instruments += [fiddle, drone]


def _quartet(pm, clip: Clip, rng, length: float) -> None:
    """Four bowed strings moving in half and quarter notes through a progression, legato."""
    import pretty_midi

    quarter = 60.0 / clip.true_bpm
    key = 48 + int(rng.integers(0, 7))
    progression = PROGRESSIONS[int(rng.integers(0, len(PROGRESSIONS)))]
    parts = [pretty_midi.Instrument(p) for p in (40, 40, 41, 42)]
    for b in range(int(length / (4 * quarter)) + 1):
        root, minor = progression[b % len(progression)]
        chord = (0, 3 if minor else 4, 7, 12)
        for voice, inst in enumerate(parts):
            rhythm = (2, 2) if voice else (1, 1, 1, 1)
            if voice == 0:
                rhythm = ((1, 1, 1, 1), (2, 1, 1), (1, 1, 2))[int(rng.integers(0, 3))]
            pos = 0.0
            for dur in rhythm:
                t = LEAD_S + (b * 4 + pos) * quarter + _human(rng)
                pitch = key + root + chord[(3 - voice + int(pos)) % 4] + 12 * (voice == 0)
                _note(inst, pitch - 12 * (voice == 3), 70 + 15 * (pos == 0), t,
                      t + dur * quarter * 1.02)
                pos += dur
    pm.instruments += parts


def _beatless(pm, kind: str, rng, seconds: float) -> None:
    """Material without a pulse: every onset time is drawn at random."""
    import pretty_midi

    if kind in ("pad", "choir", "drone"):
        program = {"pad": int(rng.choice([88, 89, 90, 91, 94, 95])), "choir": 52,
                   "drone": int(rng.choice([19, 48, 49, 52, 89]))}[kind]
        inst = pretty_midi.Instrument(program)
        t = 0.0
        while t < seconds:
            dur = rng.uniform(3.0, 7.0) if kind != "drone" else seconds
            root = 48 + int(rng.integers(0, 12))
            chord = (0,) if kind == "drone" else (0, int(rng.choice([3, 4])), 7, 12)
            for interval in chord:
                start = t + rng.uniform(0, 0.4)
                _note(inst, root + interval, int(rng.integers(55, 90)), start, t + dur + 1.0)
            t += dur * rng.uniform(0.6, 1.0)
        pm.instruments.append(inst)
    elif kind == "rubato piano":
        inst = pretty_midi.Instrument(0)
        t = 0.0
        while t < seconds:
            t += float(rng.lognormal(math.log(0.45), 0.6))
            pitch = 55 + int(rng.integers(0, 24))
            _note(inst, pitch, int(rng.integers(40, 100)), t, t + rng.uniform(0.3, 2.0))
            if rng.uniform() < 0.3:
                _note(inst, pitch - 12, 60, t + rng.uniform(0, 0.06), t + 1.5)
        pm.instruments.append(inst)
    elif kind in ("applause", "seashore"):
        inst = pretty_midi.Instrument(126 if kind == "applause" else 122)
        for _ in range(int(rng.integers(2, 4))):
            start = rng.uniform(0, 2)
            _note(inst, 60 + int(rng.integers(-5, 5)), 100, start, seconds)
        pm.instruments.append(inst)
    elif kind == "sparse hits":
        inst = pretty_midi.Instrument(0, is_drum=True)
        t = 0.0
        while t < seconds:
            t += float(rng.exponential(1.2)) + 0.15
            _note(inst, int(rng.choice([36, 38, 45, 49, 51, 56, 39])),
                  int(rng.integers(60, 120)), t, t + 0.2)
        pm.instruments.append(inst)
    else:
        raise KeyError(kind)

