"""Tempo lock: stretch a generated clip to the project tempo and put its first downbeat at 0.

MusicGen told "120 BPM" lands a few BPM off and starts anywhere in the bar. ``fit_tempo``
measures the clip's tempo and beat phase, resolves which metrical level that is (half time,
double time, and the 3:2 levels of triple and compound meters), time-stretches the clip onto
the project tempo with pitch preserved, and drops whatever comes before the first downbeat.
The caller then cuts or pads to exactly N bars. The engine must generate more than N bars for
this: see ``extra_seconds``.

How the measurement works, and why:
- librosa's tracker (onset strength, tempogram with a prior at the project tempo, dynamic-
  programming beat tracker) says which pulse the clip has and roughly how fast. It is not
  precise enough to stretch by: its tempo comes from whole 23 ms frame lags (steps of about
  4 % at 120 BPM), and its beats sit a frame or more late, jumping back now and then.
- So the pulse is then fitted over the whole clip: a 1 ms onset envelope is folded modulo
  candidate periods near the tracker's, and the period whose fold piles the onsets up most
  sharply is the tempo (to within about 0.02 %, a few ms over the clip), the pile's
  position the phase.
  A constant tempo is what one stretch factor can correct, and fitting all beats at once
  holds up in dense, syncopated, swung material where beat-by-beat snapping does not.
- Confidence is the geometric mean of two things a beat has: periodicity (autocorrelation
  of the onset envelope at the period: random plucks have none) and salience (how sharply
  the fold peaks: a droning pad is periodic without onsets). Beatless material is left alone.
- Legato material (organ, bowed strings) has no energy onsets to speak of; when the energy
  pulse is unclear, the onsets of pitches are folded instead (``_legato_pulse``), and their
  pulse is taken only where the harmony changes from beat to beat too. Those onsets are
  broad (a bow's rise, 93 ms windows), so the period is read from their autocorrelation
  rather than the fold's peak, and the phase where the pile rises rather than at its top.
- After stretching, the pulse is measured again on the result, so the stretcher's own errors
  never reach the grid (see ``_stretch``). The downbeat is the grid position whose beats carry
  the most accent, averaged over all bars.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np
import pedalboard
import soxr
from scipy import signal

from bridge.musical_time import (
    Meter,
    bar_seconds,
    beat_seconds,
    check_bars,
    check_bpm,
    clip_seconds,
)
from bridge.post.arrays import as_audio, check_rate

log = logging.getLogger(__name__)

# Onsets above ~10 kHz add nothing to timing; 22.05 kHz is librosa's native rate.
ANALYSIS_RATE = 22050
# librosa's default hop: 23 ms frames, enough for the tracker's coarse answer.
TRACKER_HOP = 512
MIN_TRACKED_BEATS = 8
# Resolution of the onset envelope used for the fit, the phase and the accents.
FINE_HOP_S = 0.001
# Energy is compared over this long before and after each instant: short enough to separate
# a flam from its beat, long enough to see past a single waveform cycle of a kick.
RISE_WINDOW_S = 0.010
# The fold search: the tracker's period is within about 1 % (whole-frame steps, averaged over
# many beats); the fine pass steps 0.005 %, which moves the last beat of a 64 s clip 3 ms.
COARSE_SPAN, COARSE_STEP = 0.012, 0.0005
FINE_SPAN, FINE_STEP = 0.0006, 0.00005
# Onsets are spread over this (Gaussian sigma) in the fold, so jitter does not split a pile.
FOLD_SMOOTH_S = 0.003
# Below this the clip has no pulse worth locking to. Measured here on synthetic material:
# click tracks and plain or dense, syncopated, swung, reverberant grooves 0.85-0.97, a 2-bar
# groove 0.55; noise, swelling or droning pads and randomly timed plucks 0.05-0.26. On the
# rendered corpus (tests/corpus), three draws: grooves and arrangements 0.52-0.94; beatless
# clips up to 0.48 (random drum hits at 0.47, which 0.4 let through to a stretch), plus two
# left alone by other gates: a drone's tremolo at 0.60 (no attacks: MIN_ATTACK) and random
# hits at 0.55 (a pulse matching no metrical level).
MIN_CONFIDENCE = 0.5
# MusicGen lands within about +-5 BPM of the prompt (8 % at 60, 4 % at 120). Farther than this
# from every metrical level is a different tempo, and stretching that far colours the sound.
MAX_DEVIATION = 0.10
# Onsets are attacks: the energy rise over RISE_WINDOW_S, in units of the clip's mean power
# (``_onset_envelope``), reaches this in at least 1 % of instants. Measured on the rendered
# corpus (three draws): every groove and arrangement 2.5-22; a soundfont drone's tremolo
# 1.3-1.6, whose regular swells otherwise scored confidence 0.60 and got it stretched.
MIN_ATTACK = 2.0
# A pulse found by searching around the project's levels (the tracker's matched none) must be
# this clear: beatless material reaches 0.55 at the tracker's pulse on the corpus, and 0.68
# at most in this search itself (drones, three draws); breaks the tracker heard at 4:3 reach
# 0.82-0.86 there.
RESCUE_CONFIDENCE = 0.75
# A percentage tolerance means nothing without a length (0.5 % is 10 ms over 2 s but 320 ms
# over 64 s): stretch whenever the drift over the whole clip would exceed this.
DRIFT_TOLERANCE_S = 0.004
# The stretcher's remainder is taken up by resampling only up to this pitch change.
MAX_VARISPEED_CENTS = 3.5
# Stretches tried to get there: the plain one, then ones pitch-shifted by these fractions of
# the first one's remainder. Shifting the other way (negative fractions) moves the
# stretcher's grid too: a 117 BPM groove fitted to 120 left +3.6 cents plain and -3.9 to
# -4.2 cents with every shift against the remainder, +3.1 cents with 0.5 of it along it.
PITCH_SPLITS = (0.0, 0.5, 0.25, 0.75, -0.5, -0.25)
# A downbeat found this little before the clip start means the clip starts just after it:
# pad the start with silence rather than drop a whole bar.
PREROLL_TOLERANCE_S = 0.030
# Downbeat confidence (best minus runner-up over the spread of the candidates' evidence)
# below this keeps the clip on its nearest beat rather than moving it by whole beats.
DOWNBEAT_MARGIN = 0.15
# The cut falls this far before the downbeat's onset, so the fade-in (4 ms by default)
# passes before the transient.
PRE_ATTACK_S = 0.004
# Accent is read as the strongest onset this close to each candidate beat.
ACCENT_WINDOW_S = 0.010
# Legato material (organ and string chorales, quartets, bowed fiddle tunes) has no percussive
# onsets for the energy envelope, but its notes change on the beat: a pulse is looked for in
# the onsets of pitches (``_pitched_onsets``) when the energy pulse is unclear, and taken only
# when all three of these hold. Measured on the rendered corpus (tests/corpus, two seeds):
# legato pieces reach periodicity 0.44-0.63, salience 0.22-0.38, harmonic change 0.14-0.31;
# of beatless clips the most periodic are drones (0.30-0.33, a soundfont's LFO; harmonic
# change under 0.06) and slow pads (0.29, salience 0.06); random hits and rubato piano 0.21.
LEGATO_PERIODICITY = 0.40
LEGATO_SALIENCE = 0.15
LEGATO_CHANGE = 0.10
# A pulse from 0.30 to 0.40 periodic is taken only where the harmony changes on it at least
# this much: a string quartet at 78 and 100 BPM (two seeds) reached only 0.32, with harmonic
# change 0.28 and 0.32. Of the 210 beatless clips (three seeds), those 0.30 periodic or more
# are drones (harmonic change under 0.06) and random hits (0.12); rubato piano changes its
# harmony a lot (0.45-0.55) but reaches periodicity 0.21 at most, speech 0.24.
LEGATO_WEAK_PERIODICITY = 0.30
LEGATO_WEAK_CHANGE = 0.20
# The pitched-onset spectrogram: 93 ms windows resolve the notes of a chord; 2.9 ms hops.
PITCH_FFT, PITCH_HOP = 2048, 64
# The legato pulse's period is read from the autocorrelation peaks near each multiple of the
# fold's (``_acf_period``), each looked for within this fraction of where the last one says:
# the fold's is within 0.1 % on the corpus, and the peaks are a bowed note's rise (~100 ms)
# wide.
LEGATO_ACF_REACH = 0.03
# What the legato pulse of a stretched clip may still be resampled by, read again by
# autocorrelation: ``_stretch`` measured it by the fold, which on the corpus's legato pieces
# misreads it by up to 0.12 % (2.0 cents). The two resamplings together then come to what
# one correctly measured would have been; more than MAX_VARISPEED_CENTS here is not a
# misreading but a disagreement, and the clip keeps what ``_stretch`` made of it.
LEGATO_SETTLE_CENTS = MAX_VARISPEED_CENTS
# A legato pulse's notes start this long after its pitched-onset pile rises through half its
# height (``_legato_phase``): the median on the corpus's legato pieces (two seeds, 27 clips,
# 12-26 ms; 93 ms windows see a note coming). A legato cut falls on that start, not
# PRE_ATTACK_S before it: a bowed or organ note has no transient for the fade-in to spare.
LEGATO_ONSET_LAG_S = 0.019
# How far before the pile's top its foot is looked for: a slow bow's rise and the window.
LEGATO_RISE_S = 0.150


@dataclass(frozen=True)
class TempoFit:
    """What ``fit_tempo`` measured and did; ``to_sidecar`` gives the clip's JSON fields.

    ``detected_bpm`` is in the project's units (quarter notes per minute) at the metrical
    level matched to the project, so 60 BPM half-time material in a 120 BPM project reads 120;
    None when the clip was too short or quiet to measure, and only a guess when not
    ``confident``. ``confidence`` is 0..1 and
    ``confident`` says whether it cleared the threshold. ``stretch_ratio`` is project tempo
    over detected tempo: above 1 the clip was sped up (made shorter); 1.0 when not stretched.
    ``offset_s`` is the audio dropped before the first downbeat; negative means silence was
    added in front. ``applied`` is False when the timing was left as generated.

    The time map: a time ``t`` in the fitted clip plays what was at
    ``map_scale * t + map_offset_s`` in the audio given to ``fit_tempo``, after every pass
    (stretch, varispeed, shift); identity when not applied. ``final_bpm`` is the tempo of the
    fitted clip as measured on it (project units). ``downbeat_confidence`` is 0..1, how clearly
    the chosen downbeat beat the runner-up; below DOWNBEAT_MARGIN the clip was kept on the
    nearest beat rather than moved by whole beats, and ``downbeat_kept_nearest`` says so.
    """

    detected_bpm: float | None
    confidence: float
    confident: bool
    stretch_ratio: float
    offset_s: float
    applied: bool
    reason: str
    map_scale: float = 1.0
    map_offset_s: float = 0.0
    final_bpm: float | None = None
    downbeat_confidence: float = 0.0
    downbeat_kept_nearest: bool = False


def to_sidecar(fit: TempoFit) -> dict[str, Any]:
    """The fields the clip's JSON sidecar records about the tempo lock."""
    return {
        "detected_bpm": None if fit.detected_bpm is None else round(fit.detected_bpm, 3),
        "tempo_confidence": round(fit.confidence, 3),
        "stretch_ratio": round(fit.stretch_ratio, 6),
        "offset_s": round(fit.offset_s, 6),
        "tempo_locked": fit.applied,
        "time_map_scale": round(fit.map_scale, 9),
        "time_map_offset_s": round(fit.map_offset_s, 6),
        "final_bpm": None if fit.final_bpm is None else round(fit.final_bpm, 3),
        "downbeat_confidence": round(fit.downbeat_confidence, 3),
        "downbeat_kept_nearest": fit.downbeat_kept_nearest,
        "tempo_fit_reason": fit.reason,
    }


def extra_seconds(bpm: float, meter: Meter | str, clip_s: float) -> float:
    """Audio the engine should generate past a ``clip_s`` clip so fitting never runs short.

    Up to one bar is dropped before the first downbeat, and slow material loses up to
    MAX_DEVIATION of its length when sped up to the project tempo; any shortfall would be
    padded with silence by the caller, which is audible. At 120 BPM in 4/4: 2.6 s for a
    2-bar clip, 8.6 s for 32 bars. Loop mode needs its crossfade on top of this.
    """
    bar = bar_seconds(check_bpm(bpm), Meter.parse(meter))
    return (1.0 + MAX_DEVIATION) * (clip_s + bar) - clip_s


def warm_up() -> TempoFit:
    """Run one small fit, so the first real clip does not pay for librosa's numba compiling
    (about 3 s, once per process). Call it from a background thread at start-up. Returns the
    fit of its click track (locked, on the beat at 120 BPM)."""
    t = np.arange(6 * ANALYSIS_RATE)
    clicks = np.where(t % (ANALYSIS_RATE // 2) < 50, 0.5, 0.0).astype(np.float32)
    return fit_tempo(clicks[np.newaxis, :], ANALYSIS_RATE, bpm=120, meter=Meter(4, 4),
                     bars=1)[1]


def fit_tempo(audio: np.ndarray, rate: int, *, bpm: float, meter: Meter | str, bars: int,
              min_confidence: float = MIN_CONFIDENCE) -> tuple[np.ndarray, TempoFit]:
    """Stretch ``audio`` (channels, samples) to ``bpm`` and start it on its first downbeat.

    Returns the new audio (float32, not cut to length: the caller's fit_length does that) and
    a ``TempoFit``. When the clip has no clear beat, or its tempo matches no metrical level of
    the project tempo, the audio comes back unchanged with ``applied=False`` and the reason.
    """
    bpm = check_bpm(bpm)
    meter = Meter.parse(meter)
    bars = check_bars(bars)
    rate = check_rate("rate", rate)
    grid_s = beat_seconds(bpm, meter)

    def unchanged(reason: str, confidence: float, detected: float | None,
                  clear: bool | None = None) -> tuple[np.ndarray, TempoFit]:
        log.info("tempo fit skipped: %s", reason)
        clear = confidence >= min_confidence if clear is None else clear
        return audio, TempoFit(detected, confidence, clear, 1.0, 0.0, False, reason)

    problem = _unusable(audio)
    if problem:
        return unchanged(problem + ": timing left as generated", 0.0, None)
    audio = as_audio(audio)
    pulse = _measure(audio.mean(axis=0), rate, bpm)
    if pulse is None:
        return unchanged("too short, quiet or sparse to measure a tempo", 0.0, None)
    period_s, phase_s, confidence, fine = pulse
    level, ratio = _resolve_level(period_s, grid_s, meter)
    detected = bpm / ratio
    log.debug("pulse %.5f s (%.3f BPM) at %.4f s, %s of the grid beat, ratio %.5f, "
              "confidence %.3f", period_s, 60.0 / period_s, phase_s, level, ratio, confidence)
    reasons = []
    envelope = _onset_envelope
    attack = float(np.percentile(fine, 99))
    # A caller asking for more certainty than the default gets no second look.
    second_look = min_confidence <= MIN_CONFIDENCE
    rescued = None
    # A periodic swell is not a beat however regular: its pulse counts only with attacks.
    clear = confidence >= min_confidence and attack >= MIN_ATTACK
    if confidence >= min_confidence and not clear:
        no_beat = (f"a periodic swell without attacks (confidence {confidence:.2f}, attack "
                   f"{attack:.2f} < {MIN_ATTACK:g})")
    else:
        no_beat = f"no clear beat (confidence {confidence:.2f} < {min_confidence:.2f})"
    if not clear:
        # The tracker may have heard a clean groove at 4:3 of its beat (a break's syncopation
        # piles up there) and scored that pulse low: look at the project's own levels first.
        if second_look and _off_level(ratio) and attack >= MIN_ATTACK:
            rescued = _rescue(fine, grid_s, meter)
        legato = None if rescued or not second_look else \
            _legato_pulse(audio.mean(axis=0), rate, grid_s, meter)
        if rescued is not None:
            reasons.append(f"{no_beat} at the tracker's {60.0 / period_s:.1f} BPM; rescued at "
                           f"{60.0 / rescued[0]:.2f} BPM (confidence {rescued[2]:.2f})")
            period_s, phase_s, confidence = rescued
        elif legato is None:
            return unchanged(no_beat + ": timing left as generated", confidence, detected,
                             clear=False)
        elif attack >= MIN_ATTACK and _same_pulse(legato[0], period_s):
            # The notes confirm the pulse the attacks gave (a jazz band's ride and comping at
            # 0.49): the attacks place its beats to the millisecond, the notes' broad onsets
            # only to a few dozen, and a swung ride's triplets pile up off them.
            confidence, why = legato[2], legato[3]
            reasons.append(f"{no_beat}; confirmed by the legato pulse from note onsets at "
                           f"{60.0 / legato[0]:.2f} BPM ({why})")
        else:
            period_s, phase_s, confidence, why = legato
            envelope = _pitched_onsets
            reasons.append(f"{no_beat}; legato pulse from note onsets at "
                           f"{60.0 / period_s:.2f} BPM ({why})")
        level, ratio = _resolve_level(period_s, grid_s, meter)
        detected = bpm / ratio
    if _off_level(ratio):
        missed = (f"pulse at {60.0 / period_s:.1f} BPM matches no metrical level of {bpm:g} "
                  f"BPM within {MAX_DEVIATION:.0%}")
        rescued = _rescue(fine, grid_s, meter) if attack >= MIN_ATTACK else None
        if rescued is None:
            return unchanged(missed + ": timing left as generated", confidence, detected)
        period_s, phase_s, confidence = rescued
        level, ratio = _resolve_level(period_s, grid_s, meter)
        detected = bpm / ratio
        reasons.append(f"{missed}; rescued at {60.0 / period_s:.2f} BPM "
                       f"(confidence {confidence:.2f})")

    reasons.append(f"{_level_name(level)} at {detected:.2f} BPM")
    clip_s = clip_seconds(bars, bpm, meter)
    drift_s = abs(1.0 - 1.0 / ratio) * clip_s
    # The map from the current audio's time to the generated audio's: t_gen = a * t + b.
    scale, shift_s = 1.0, 0.0
    final_bpm = detected
    if drift_s > DRIFT_TOLERANCE_S:
        stretched = _stretch(audio, rate, ratio, period_s, phase_s, level * grid_s, clip_s,
                             envelope)
        if stretched is None:
            return unchanged(f"the stretcher could not reach {bpm:g} BPM within "
                             f"{MAX_VARISPEED_CENTS} cents of pitch: timing left as generated",
                             confidence, detected)
        if envelope is _pitched_onsets:
            stretched = _legato_settle(stretched[0], rate, period_s, phase_s, level * grid_s,
                                       clip_s)
        audio, phase_s, scale, shift_s, realised_s = stretched
        final_bpm = bpm * level * grid_s / realised_s
        reasons.append(f"stretched by {ratio:.4f}")
    else:
        ratio = 1.0
        reasons.append(f"within tempo tolerance ({drift_s * 1000:.1f} ms drift), not stretched")

    offset_s, db_confidence, nearest, between = _first_downbeat(
        audio.mean(axis=0), rate, phase_s, grid_s, level, meter,
        legato=envelope is _pitched_onsets)
    if between:
        reasons.append("the bar lines fall between the loudest hits: beat moved by half")
    offset = int(round(offset_s * rate))
    audio = _shift(audio, offset)
    if nearest:
        reasons.append(f"downbeat unclear (confidence {db_confidence:.2f}): kept on the "
                       f"nearest beat, moved from {offset / rate * 1000:.1f} ms to 0")
    else:
        reasons.append(f"first downbeat moved from {offset / rate * 1000:.1f} ms to 0")
    reason = "; ".join(reasons)
    log.info("tempo fit: %s (confidence %.2f)", reason, confidence)
    return audio, TempoFit(bpm / scale if scale != 1.0 else detected, confidence, True, ratio,
                           offset / rate, True, reason, map_scale=scale,
                           map_offset_s=scale * offset / rate + shift_s, final_bpm=final_bpm,
                           downbeat_confidence=db_confidence, downbeat_kept_nearest=nearest)


def _unusable(audio: object) -> str | None:
    """Why this audio cannot be tempo-fitted (a reason for the sidecar), or None."""
    x = np.asarray(audio)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        return None  # as_audio refuses it with the fix in the message
    if x.shape[0] > 2:
        return f"{x.shape[0]} channels (the fit reads mono or stereo)"
    if x.shape[1] < 2:
        return f"{x.shape[1]} samples"
    if not np.isfinite(x).all():
        return "NaN or infinite samples"
    return None


def _stretch(audio: np.ndarray, rate: int, ratio: float, period_s: float, phase_s: float,
             target_s: float, clip_s: float,
             envelope: Callable[[np.ndarray], np.ndarray] | None = None,
             ) -> tuple[np.ndarray, float, float, float, float] | None:
    """Time-stretch by ``ratio`` so the pulse lasts ``target_s``. Returns (audio, phase of its
    pulse, map scale, map offset, realised pulse period), the map taking the stretched audio's
    time to the input's; None when the pulse cannot be brought within MAX_VARISPEED_CENTS.

    pedalboard runs Rubber Band's R3 engine offline, which realises only ratios on a grid
    about 0.4 % wide (1.0256 comes out as 43/42 = 1.0238) and still returns the requested
    length, the error piling up at the end: up to 0.2 %, 130 ms over a 64 s clip. So the
    pulse of the stretched audio is measured again and the remainder is taken up by
    resampling, a pitch change of at most MAX_VARISPEED_CENTS: below what anyone hears and
    within the model's own tuning scatter. A larger remainder (the grid is coarser at some
    ratios: 1.0256 realised as 1.0232, 4 cents off) is stretched once more with the pitch
    moved down by what the resampling will raise; if even that misses, the clip is left
    alone. ``envelope`` is the onset envelope the pulse was found in (energy by default).
    """
    envelope = envelope or _onset_envelope
    shift_cents, first_cents = 0.0, 0.0
    best: tuple[float, np.ndarray, float, float] | None = None
    for attempt in range(len(PITCH_SPLITS)):
        stretched = pedalboard.time_stretch(np.ascontiguousarray(audio), float(rate),
                                            stretch_factor=ratio,
                                            pitch_shift_in_semitones=shift_cents / 100.0)
        fine = envelope(_to_analysis_rate(stretched.mean(axis=0), rate))
        # The beat is followed from the input, not found afresh: the pile nearest where the
        # stretch puts the input's beat. A fresh look may take another pile (the sixteenth
        # before the beat of a break), and the map would then pair the wrong beats.
        realised_s, new_phase_s, _ = _fold_fit(fine, period_s / ratio, COARSE_SPAN / 2,
                                                near_s=phase_s / ratio,
                                                variance=envelope is _onset_envelope)
        cents = 1200 * math.log2(realised_s / target_s)
        if best is None or abs(cents + shift_cents) < abs(best[0]):
            best = (cents + shift_cents, stretched, realised_s, new_phase_s)
        if abs(best[0]) <= MAX_VARISPEED_CENTS:
            break
        # The stretcher's ratio grid is coarser than the cap at some ratios (1.0256 realised
        # as 1.0232, 4 cents off). Stretch again with the pitch moved by part of what the
        # resampling will take: pitch-shifting moves the stretcher's grid too, but with half
        # the remainder shifted, either grid point it lands on leaves about half to resample.
        log.debug("stretcher left %+.1f cents of pitch; stretching again", cents + shift_cents)
        if attempt == 0:
            first_cents = cents
        if attempt + 1 < len(PITCH_SPLITS):
            shift_cents = -PITCH_SPLITS[attempt + 1] * first_cents
    assert best is not None  # PITCH_SPLITS is not empty
    pitch_cents, stretched, realised_s, new_phase_s = best
    if abs(pitch_cents) > MAX_VARISPEED_CENTS:
        return None
    log.debug("stretcher realised %.5f of %.5f", ratio * target_s / realised_s, ratio)
    return _resample_onto(stretched, rate, period_s, phase_s, new_phase_s, realised_s,
                          target_s, clip_s)


def _resample_onto(audio: np.ndarray, rate: int, period_s: float, phase_s: float,
                   new_phase_s: float, realised_s: float, target_s: float, clip_s: float,
                   max_cents: float | None = None,
                   ) -> tuple[np.ndarray, float, float, float, float]:
    """(audio, phase, map scale, map offset, realised period) once the stretched ``audio``,
    whose pulse lasts ``realised_s`` with a beat at ``new_phase_s``, is resampled so it lasts
    ``target_s`` (when the drift over the clip would be heard and the pitch moves no more
    than ``max_cents``), with the time map to the input, whose pulse is ``period_s`` with a
    beat at ``phase_s``."""
    speed = realised_s / target_s
    cents = 1200 * math.log2(speed)
    if abs(1.0 - 1.0 / speed) * clip_s > DRIFT_TOLERANCE_S \
            and (max_cents is None or abs(cents) <= max_cents):
        log.debug("resampling by %.5f (%+.2f cents)", speed, cents)
        audio = _varispeed(audio, rate, speed)
        new_phase_s /= speed
        realised_s = target_s
    # Beats at new_phase + k * realised play the input's beats at phase + n * period: the
    # map is the line through them, with the beat pairing nearest the nominal (no offset).
    scale = period_s / realised_s
    offset = phase_s - scale * new_phase_s
    offset -= period_s * round(offset / period_s)
    return audio, new_phase_s, scale, offset, realised_s


def _varispeed(audio: np.ndarray, rate: int, speed: float) -> np.ndarray:
    """Play ``audio`` ``speed`` times faster (shorter, higher) by band-limited resampling."""
    out = soxr.resample(np.ascontiguousarray(audio.T), rate * speed, rate, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


# --- measurement -------------------------------------------------------------------------

def _measure(mono: np.ndarray, rate: int, bpm: float
             ) -> tuple[float, float, float, np.ndarray] | None:
    """(period_s, phase_s, confidence, fine onset envelope) of the clip's pulse at the level
    the tracker chose; None if the clip is too short, silent or has too few beats to say."""
    y = _to_analysis_rate(mono, rate)
    if y.size < 2 * ANALYSIS_RATE or not np.any(y):
        return None
    env = librosa.onset.onset_strength(y=y, sr=ANALYSIS_RATE, hop_length=TRACKER_HOP)
    # The prior is centred on the project tempo so that, of the levels a tracker may lock to,
    # the intended one wins when the evidence is even; _resolve_level handles the rest.
    tempo = librosa.feature.tempo(onset_envelope=env, sr=ANALYSIS_RATE,
                                  hop_length=TRACKER_HOP, start_bpm=bpm)
    _, tracked = librosa.beat.beat_track(onset_envelope=env, sr=ANALYSIS_RATE,
                                         hop_length=TRACKER_HOP, bpm=float(tempo[0]),
                                         units="time", trim=False)
    if tracked.size < MIN_TRACKED_BEATS:
        return None
    fine = _onset_envelope(y)
    period_s, phase_s, salience = _fold_fit(fine, _tracked_period(tracked), COARSE_SPAN,
                                            regular=True)
    periodicity = _periodicity(fine, period_s)
    log.debug("tracker %.2f BPM; fit %.3f BPM, periodicity %.3f, salience %.3f",
              float(tempo[0]), 60.0 / period_s, periodicity, salience)
    return period_s, phase_s, math.sqrt(periodicity * salience), fine


def _rescue(fine: np.ndarray, grid_s: float, meter: Meter) -> tuple[float, float, float] | None:
    """(period_s, phase_s, confidence) of a pulse within MAX_DEVIATION of one of the project's
    metrical levels, the grid beat first, found by folding the onset envelope there; None
    unless one clears RESCUE_CONFIDENCE. For grooves whose tracker pulse landed at 4:3 or 4:5
    of the truth, which no level explains."""
    for level in sorted(_levels(meter), key=lambda k: abs(math.log(k))):
        period_s, phase_s, salience = _fold_fit(fine, level * grid_s, MAX_DEVIATION, regular=True)
        confidence = math.sqrt(_periodicity(fine, period_s) * salience)
        log.debug("rescue at %s: %.3f BPM, confidence %.3f", _level_name(level),
                  60.0 / period_s, confidence)
        if confidence >= RESCUE_CONFIDENCE:
            return period_s, phase_s, confidence
    return None


def _legato_pulse(mono: np.ndarray, rate: int, grid_s: float, meter: Meter
                  ) -> tuple[float, float, float, str] | None:
    """(period_s, phase_s, confidence, why) of a pulse in the onsets of pitches, searched
    within MAX_DEVIATION of each metrical level of the project; None unless it clears the
    LEGATO_* gates. The harmonic change (chroma distance from beat to beat) keeps out what
    is periodic without changing notes: a drone's vibrato, a pad's slow swells."""
    y = _to_analysis_rate(mono, rate)
    env = _pitched_onsets(y)
    best: tuple[float, float, float, float, float] | None = None
    for level in _levels(meter):
        period_s, phase_s, salience = _fold_fit(env, level * grid_s, MAX_DEVIATION,
                                                variance=False)
        periodicity = _periodicity(env, period_s)
        confidence = math.sqrt(periodicity * salience)
        if best is None or confidence > best[0]:
            best = (confidence, period_s, phase_s, periodicity, salience)
    assert best is not None
    confidence, period_s, phase_s, periodicity, salience = best
    change = _beat_change(y, period_s, phase_s)
    log.debug("legato pulse %.3f BPM: periodicity %.3f, salience %.3f, harmonic change %.3f",
              60.0 / period_s, periodicity, salience, change)
    # A less regular pulse still counts where the harmony clearly changes on it.
    regular = periodicity >= LEGATO_PERIODICITY or (
        periodicity >= LEGATO_WEAK_PERIODICITY and change >= LEGATO_WEAK_CHANGE)
    if not regular or salience < LEGATO_SALIENCE or change < LEGATO_CHANGE:
        return None
    # The fold's top is flat over the broad onsets of legato notes, so the period it peaks at
    # is only good to about 0.05 % (up to 23 ms over a clip on the corpus); the
    # autocorrelation reads it to about a fifth of that. The phase is then read at it.
    period_s = _acf_period(env, period_s)
    phase_s = _legato_phase(env, period_s)
    return period_s, phase_s, confidence, (f"periodicity {periodicity:.2f}, salience "
                                           f"{salience:.2f}, harmonic change {change:.2f}")


# Two pulses are one when their periods are in a ratio of 1, 2, 3 or 4 within this. The
# energy and legato readings of the same music agree to 0.01 % (the jazz band of corpus
# draw 3, which needed it); a 1 % slack still tells apart tempos 1.5 BPM apart at 150 BPM.
SAME_PULSE = 0.01


def _same_pulse(a_s: float, b_s: float) -> bool:
    ratio = max(a_s, b_s) / min(a_s, b_s)  # 1 or more, so its nearest whole number is too
    return round(ratio) <= 4 and abs(ratio / round(ratio) - 1.0) <= SAME_PULSE


def _acf_period(env: np.ndarray, period_s: float) -> float:
    """The period near ``period_s`` at which the onset envelope repeats, read from its
    autocorrelation: the peak near each multiple of the period up to half the clip, and the
    slope of a line through them (through the origin, each peak weighted by its height).

    Unlike the fold's peak, an autocorrelation peak is symmetric whatever the shape of the
    onsets, so broad, lopsided ones (a bowed note's rise) do not blur where it is; and the
    long lags, many periods away, pin the period down to a small fraction of a millisecond.
    """
    ac = _autocorrelation(env)
    n = ac.size
    period = period_s / FINE_HOP_S
    reach = int(LEGATO_ACF_REACH * period) + 3
    multiples, lags, weights = [], [], []
    for multiple in range(1, n):
        lo = int(round(multiple * period)) - reach
        if lo + 2 * reach >= n // 2:
            break
        window = ac[lo:lo + 2 * reach + 1]
        i = int(np.argmax(window))
        if not 0 < i < window.size - 1 or window[i] <= 0:
            continue
        lag = lo + _peak_time(window, i) / FINE_HOP_S
        multiples.append(multiple)
        lags.append(lag)
        weights.append(float(window[i]))
        # Follow the peaks: the next multiple is looked for where this one says.
        period = lag / multiple
    if not multiples:
        return period_s
    m, lag_bins, w = np.array(multiples), np.array(lags), np.array(weights)
    return float(np.sum(w * m * lag_bins) / np.sum(w * m * m)) * FINE_HOP_S


def _legato_phase(env: np.ndarray, period_s: float) -> float:
    """Where the notes of the legato pulse start: the pitched-onset envelope folded at
    exactly ``period_s``, the time its pile rises through half its height, plus
    LEGATO_ONSET_LAG_S.

    The top of the pile says less: a slow bow or organ attack spreads a note's rise over
    tens of ms and moves the top late, a fiddle's quick one early (on the corpus the top
    lies 8 ms before to 13 ms after the note starts; the half-height point 12 to 26 ms
    before it, both spreads over the same 27 legato pieces).
    """
    _, fold, profile = _fold_search(env, period_s, 0.0, 1.0)
    n = profile.size
    top = int(np.argmax(profile))
    # The pile's foot: the lowest point in the stretch before the top where it can rise.
    span = min(int(LEGATO_RISE_S / FINE_HOP_S), n // 2)
    before = (top - np.arange(span + 1)) % n
    half = profile[before].min() + 0.5 * (profile[top] - profile[before].min())
    k = int(np.argmax(profile[before] <= half))  # steps back from the top to the crossing
    if k == 0:
        return _pile_phase(fold, profile) + LEGATO_ONSET_LAG_S
    below, above = float(profile[before[k]]), float(profile[before[k - 1]])
    crossing = top - k + (half - below) / (above - below) if above > below else top - k + 1
    return (crossing * FINE_HOP_S + LEGATO_ONSET_LAG_S) % period_s


def _legato_settle(audio: np.ndarray, rate: int, period_s: float, phase_s: float,
                   target_s: float, clip_s: float
                   ) -> tuple[np.ndarray, float, float, float, float]:
    """(audio, phase, map scale, map offset, realised period) as ``_stretch`` gives them, for
    a legato clip it stretched: the pulse of the stretched audio is measured again by
    autocorrelation (``_stretch`` folds, good to only about 0.05 % on legato onsets), the
    remainder resampled away up to LEGATO_SETTLE_CENTS, and the time map rebuilt from the
    input's pulse (``period_s``, ``phase_s``) and the result's.
    """
    env = _pitched_onsets(_to_analysis_rate(audio.mean(axis=0), rate))
    realised_s = _acf_period(env, target_s)
    new_phase_s = _legato_phase(env, realised_s)
    log.debug("legato pulse of the stretched clip %.5f s", realised_s)
    return _resample_onto(audio, rate, period_s, phase_s, new_phase_s, realised_s, target_s,
                          clip_s, max_cents=LEGATO_SETTLE_CENTS)


def _pitched_onsets(y: np.ndarray) -> np.ndarray:
    """Onset strength every FINE_HOP_S from new pitches: the rise of each log-magnitude
    spectrogram bin (80 Hz-5 kHz) over two frames, summed. A bowed or organ note has no
    burst of energy, but the bins of its pitch rise where it starts; log magnitudes weigh a
    quiet voice's new note like a loud one's."""
    spectrum = np.abs(librosa.stft(y, n_fft=PITCH_FFT, hop_length=PITCH_HOP))
    freqs = librosa.fft_frequencies(sr=ANALYSIS_RATE, n_fft=PITCH_FFT)
    band = spectrum[(freqs > 80.0) & (freqs < 5000.0)]
    level = np.log1p(100.0 * band / max(float(spectrum.max()), 1e-9))
    rise = np.maximum(level[:, 2:] - level[:, :-2], 0.0).sum(axis=0)
    rise = np.concatenate(([0.0, 0.0], rise))
    frames_s = np.arange(rise.size) * PITCH_HOP / ANALYSIS_RATE
    grid_s = np.arange(int(y.size / ANALYSIS_RATE / FINE_HOP_S)) * FINE_HOP_S
    out: np.ndarray = np.interp(grid_s, frames_s, rise)
    return out


def _beat_change(y: np.ndarray, period_s: float, phase_s: float) -> float:
    """Mean chroma distance (1 - cosine) from each beat of this pulse to the next."""
    chroma = librosa.feature.chroma_stft(y=y, sr=ANALYSIS_RATE, n_fft=EVIDENCE_FFT,
                                         hop_length=EVIDENCE_HOP, tuning=0.0)
    frame_s = EVIDENCE_HOP / ANALYSIS_RATE
    edges = np.round(np.arange(phase_s % period_s, y.size / ANALYSIS_RATE, period_s)
                     / frame_s).astype(np.int64)
    edges = edges[edges < chroma.shape[1]]
    if edges.size < 3:
        return 0.0
    beats = np.stack([chroma[:, a:b].mean(axis=1) for a, b in
                      zip(edges[:-1], edges[1:], strict=True)], axis=1)
    beats = beats / np.maximum(np.linalg.norm(beats, axis=0, keepdims=True), 1e-9)
    return float(np.mean(1.0 - (beats[:, 1:] * beats[:, :-1]).sum(axis=0)))


def _tracked_period(tracked_s: np.ndarray) -> float:
    """Mean beat period of the tracker's beats: the slope of a line through them.

    Beats are numbered by their gaps, so a skipped or doubled beat does not bend the line;
    the tracker's constant lag and its occasional jumps back average out over the clip.
    """
    gaps = np.diff(tracked_s)
    step = float(np.median(gaps))
    index = np.concatenate(([0.0], np.cumsum(np.maximum(np.round(gaps / step), 1.0))))
    return float(np.polyfit(index, tracked_s, 1)[0])


def _fold_fit(fine: np.ndarray, period_s: float, span: float, *, regular: bool = False,
              near_s: float | None = None, variance: bool = True) -> tuple[float, float, float]:
    """(period_s, phase_s, salience): the period within ``span`` (a fraction) of the given
    one whose fold of the onset envelope peaks highest, coarse pass then fine.

    With ``regular`` the beat is the pile of the envelope's square root: the position that
    has an onset in most periods (the ride or hi-hat keeping time), not the one with the
    loudest hits. In a syncopated break the snares on the sixteenth before the beat pile up
    higher than the beat itself (a sixteenth off in 1 of 56 grooves at the true tempo), and
    the root's pile is on the beat in all of them. With ``near_s`` the beat is the highest
    pile within an eighth of the period of that time. ``variance`` picks the criterion of
    ``_fold_search``: off, the highest pile wins, which suits the pitched-onset envelope of
    legato material (its piles are broad; on the corpus the variance put a chorale's beats
    12 ms off).
    """
    period, _, _ = _fold_search(fine, period_s, span, COARSE_STEP, variance)
    period, fold, profile = _fold_search(fine, period, FINE_SPAN, FINE_STEP, variance)
    peak, mean = float(profile.max()), float(profile.mean())
    salience = (peak - mean) / (peak + mean) if peak > 0 else 0.0
    pile = int(np.argmax(profile))
    if regular:
        _, _, rooted = _fold_search(np.sqrt(fine), period, 0.0, 1.0)
        pile = int(np.argmax(rooted))
    if near_s is not None:
        centre = int(round((near_s % period) / FINE_HOP_S))
        window = (centre + np.arange(-int(period / 8 / FINE_HOP_S),
                                     int(period / 8 / FINE_HOP_S) + 1)) % profile.size
        pile = int(window[np.argmax(profile[window])])
    return period, _pile_phase(fold, profile, pile), salience


def _pile_phase(fold: np.ndarray, profile: np.ndarray, pile: int | None = None) -> float:
    """Phase (seconds into the period) of the pile in a fold and its smoothed profile; the
    highest unless ``pile`` (a bin of the profile) says which."""
    if pile is None:
        pile = int(np.argmax(profile))
    # The smoothed pile finds the beat; its top sits early, because an onset's envelope ramps
    # up over the whole rise window and drops fast after it. The raw fold's top near it does
    # not, so the phase is read there.
    reach = int(round(2 * FOLD_SMOOTH_S / FINE_HOP_S))
    near = (pile + np.arange(-reach, reach + 1)) % fold.size
    raw = np.convolve(np.concatenate((fold[-1:], fold, fold[:1])), np.ones(3) / 3, "valid")
    top = int(near[np.argmax(raw[near])])
    return _peak_time(raw, top)


def _fold_search(fine: np.ndarray, centre_s: float, span: float, step: float,
                 variance: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """(period, fold, smoothed fold) for the period in ``centre_s * (1 +- span)`` whose
    smoothed fold varies most (or, without ``variance``, peaks highest). The fold sums the
    envelope by phase in the period.

    The variance (epoch folding, as pulsar timing does it) rewards a period at which every
    pile is sharp: the loudest pile alone (the earlier criterion) let a break's snares on
    the sixteenth before the beat pull the period 0.03 % off, 7 ms over the clip, and
    their pile then passed the beat's."""
    times = np.arange(fine.size) * FINE_HOP_S
    sigma = FOLD_SMOOTH_S / FINE_HOP_S
    taps = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    pad = int(taps[-1])
    best_score = -1.0
    best: tuple[float, np.ndarray, np.ndarray] = (centre_s, np.zeros(1), np.zeros(1))
    for period in centre_s * (1.0 + np.arange(-span, span + step / 2, step)):
        bins = int(math.ceil(period / FINE_HOP_S))
        index = np.minimum((np.mod(times, period) / FINE_HOP_S).astype(np.int64), bins - 1)
        fold = np.bincount(index, weights=fine, minlength=bins)
        # Circular smoothing: the fold wraps around at the beat.
        profile = np.convolve(np.concatenate((fold[-pad:], fold, fold[:pad])), kernel, "valid")
        score = float(np.var(profile)) if variance else float(profile.max())
        if score > best_score:
            best_score, best = score, (float(period), fold, profile)
    return best


def _peak_time(profile: np.ndarray, i: int) -> float:
    """Time of the circular profile's peak at bin i, refined by a parabola through 3 bins."""
    a, b, c = profile[i - 1], profile[i], profile[(i + 1) % profile.size]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return (i + shift) * FINE_HOP_S


def _periodicity(fine: np.ndarray, period_s: float) -> float:
    """Normalised autocorrelation of the onset envelope at the period or a small multiple of
    it, 0..1. Multiples count because an accent on beat 1 makes the bar, not the beat, the
    lag at which the envelope repeats most exactly.

    See ``_autocorrelation`` for how the envelope is prepared.
    """
    ac = _autocorrelation(fine)
    n = ac.size
    if ac[0] <= 0:
        return 0.0
    best = 0.0
    for multiple in (1, 2, 3, 4):
        lag = multiple * period_s / FINE_HOP_S
        lo, hi = int(lag) - 1, int(lag) + 3
        # Past half the clip too few beat pairs overlap to say anything.
        if hi > n // 2:
            break
        # Unbiased: a lag of L sums over n - L products, not n.
        value = float(np.max(ac[lo:hi] * n / (n - np.arange(lo, hi))))
        best = max(best, value / ac[0])
    return float(np.clip(best, 0.0, 1.0))


def _autocorrelation(env: np.ndarray) -> np.ndarray:
    """Autocorrelation of an onset envelope at lags 0 .. size-1 (in FINE_HOP_S), not
    normalised. The envelope is smoothed (timing jitter) and its slow part removed first: a
    swell is not a beat, and its slow rise would otherwise correlate with itself at every
    short lag."""
    x = _smooth(env)
    x = x - np.convolve(x, np.ones(201) / 201, "same")
    n = x.size
    ac: np.ndarray = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * n)) ** 2)[:n]
    return ac


def _smooth(env: np.ndarray) -> np.ndarray:
    """Gaussian smoothing over FOLD_SMOOTH_S, so onsets a few ms apart still coincide."""
    sigma = FOLD_SMOOTH_S / FINE_HOP_S
    taps = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    smoothed: np.ndarray = np.convolve(env, kernel / kernel.sum(), "same")
    return smoothed


def _onset_envelope(y: np.ndarray) -> np.ndarray:
    """Onset strength every FINE_HOP_S: the full band plus the band above 2 kHz, so a hi-hat
    is not drowned by a bass note. Each band is scaled to its mean power first."""
    envelope: np.ndarray = _energy_rise(y) + _energy_rise(signal.sosfilt(_HIGHPASS, y))
    return envelope


def _energy_rise(band: np.ndarray) -> np.ndarray:
    """Energy in the RISE_WINDOW_S after each instant minus the energy before it, clipped at
    0 and in units of the band's mean power; index i is the instant i * FINE_HOP_S.

    For an abrupt onset this peaks exactly on the onset: spectral flux over a centred window
    peaks up to half a window early, and a log ratio fires on the faintest lead-in (filter
    pre-ringing, reverb of the previous hit) rather than on the attack. A difference of
    energies also scores a louder hit higher, which is what accents are made of.
    """
    hop = FINE_HOP_S * ANALYSIS_RATE
    width = int(round(RISE_WINDOW_S * ANALYSIS_RATE))
    out = np.zeros(int(band.size / hop))
    # The first and last RISE_WINDOW_S have no "before" or "after" and stay zero.
    first, last = int(math.ceil(width / hop)), int((band.size - width) / hop)
    if last <= first:
        return out
    centres = np.round(np.arange(first, last) * hop).astype(np.int64)
    power = band.astype(np.float64) ** 2
    cum = np.concatenate(([0.0], np.cumsum(power)))
    after = cum[centres + width] - cum[centres]
    before = cum[centres] - cum[centres - width]
    scale = max(float(power.mean()) * width, 1e-30)
    out[first:last] = np.maximum(after - before, 0.0) / scale
    return out


# Causal filters: zero-phase ones ring before an attack and pull onsets early.
_HIGHPASS = signal.butter(4, 2000.0, "highpass", fs=ANALYSIS_RATE, output="sos")
# Kicks sit at 40-90 Hz; a steep filter well under 100 Hz keeps bass notes and toms out.
_KICK_LOWPASS = signal.butter(8, 80.0, "lowpass", fs=ANALYSIS_RATE, output="sos")
# A snare's body: above the kick, below the cymbals.
_SNARE_BAND = signal.butter(4, (150.0, 400.0), "bandpass", fs=ANALYSIS_RATE, output="sos")
# The STFT the bass and chroma evidence read: 186 ms windows resolve bass notes a semitone
# apart; 11.6 ms hops.
EVIDENCE_FFT, EVIDENCE_HOP = 4096, 256


# --- metrical level and downbeat -------------------------------------------------------------

def _levels(meter: Meter) -> tuple[float, ...]:
    """Pulse periods, in grid beats, a tracker may lock to in this meter.

    Half and double time always. The 3:2 levels only in triple and compound meters, where the
    dotted pulse (the dotted quarter of 6/8) or the whole bar of 3/4 is a real beat; in duple
    meters a 3:2 reading is a tracker error on a different tempo, and stretching by 1.5 would
    be wrong.
    """
    levels: tuple[float, ...] = (0.5, 1.0, 2.0)
    if meter.numerator % 3 == 0:
        levels += (1.5, 3.0)
    return levels


def _level_name(level: float) -> str:
    return {0.5: "double time", 1.0: "on the beat", 2.0: "half time", 1.5: "dotted beat",
            3.0: "dotted pulse"}.get(level, f"level {level:g}")


def _off_level(ratio: float) -> bool:
    """Whether a pulse this far (measured over matched level) is a different tempo."""
    return abs(math.log(ratio)) > math.log1p(MAX_DEVIATION)


def _resolve_level(period_s: float, grid_s: float, meter: Meter) -> tuple[float, float]:
    """(level, ratio): the level whose period is nearest the measured one in log distance, and
    the measured period over that level's, which is the stretch factor to the project tempo."""
    level = min(_levels(meter), key=lambda k: abs(math.log(period_s / (k * grid_s))))
    return level, period_s / (level * grid_s)


def _first_downbeat(mono: np.ndarray, rate: int, phase_s: float, grid_s: float, level: float,
                    meter: Meter, legato: bool = False) -> tuple[float, float, bool, bool]:
    """(time in seconds of the first downbeat, downbeat confidence, kept on nearest beat,
    beat moved by half) for the on-tempo clip whose pulse (``level`` grid beats long) has a
    beat at ``phase_s``.

    Candidates are every position of the finer of the grid beat and the pulse in one bar; the
    downbeat is the one the bar-line evidence (``_raw_evidence``) favours across all bars.
    When the runner-up is within DOWNBEAT_MARGIN, moving by whole beats is a guess: the
    clip starts on its nearest beat instead. The cut falls PRE_ATTACK_S before the onset, so
    the fade-in passes before the transient; on the onset for a ``legato`` clip (its pulse
    from the onsets of pitches, ``_legato_pulse``), whose notes have no transient.
    """
    y = _to_analysis_rate(mono, rate)
    pulse = grid_s * min(level, 1.0)
    bar = grid_s * meter.numerator
    first = phase_s - pulse * math.floor(phase_s / pulse)
    count = max(1, int(round(bar / pulse)))
    candidates = first + pulse * np.arange(count)
    between = (first + pulse / 2) % pulse + pulse * np.arange(count)
    raw = _raw_evidence(y, np.concatenate((candidates, between)), bar, pulse, phrase=not legato)
    # Legato pulses come from where notes start, never from a loud backbeat between beats.
    moved = not legato and _beat_is_between(y, raw, candidates, between, pulse)
    if moved:
        log.debug("the bar lines fall between the pulse's beats: moving the beat by half")
        candidates = between
        raw = {name: values[count:] for name, values in raw.items()}
    else:
        raw = {name: values[:count] for name, values in raw.items()}
    score = combined_evidence(_contrasts(raw))
    order = np.argsort(-score, kind="stable")
    if score.size < 2:
        confidence = 1.0
    else:
        spread = float(score[order[0]] - score.min())
        confidence = float(score[order[0]] - score[order[1]]) / spread if spread > 0 else 0.0
    log.debug("downbeat candidates %s s, scores %s, confidence %.2f",
              np.round(candidates, 4), np.round(score, 3), confidence)
    nearest = confidence < DOWNBEAT_MARGIN
    if nearest:
        chosen, span = float(candidates[0]), pulse
    else:
        chosen, span = float(candidates[order[0]]), bar
    if chosen > span - PREROLL_TOLERANCE_S:
        chosen -= span
    return chosen - (0.0 if legato else PRE_ATTACK_S), confidence, nearest, moved


# How much each kind of bar-line evidence counts. Equal weights: on the rendered corpus
# (tests/corpus) at the true beats the first three pick the downbeat in 36 of 42 clips; the
# best weights found by a grid search reached 37, not worth fitting to 42 clips. The crash
# at equal weight took the drums-only grooves from 37 to 40 of 42 over three corpus draws,
# the arrangements staying at 42 of 42; the turn of the phrase then took them to 41 of 42 at
# the true beats, and end to end from 39 to 41 (half its weight did the same). Legato pieces
# do without it: their phrases turn wherever the text does (bwv7.7's on beat 3), and with it
# 22 of 42 chose right at the true beats instead of 27.
EVIDENCE_WEIGHTS = {"kick_minus_snare": 1.0, "bass": 1.0, "harmony": 1.0, "crash": 1.0,
                    "phrase": 1.0}


def combined_evidence(evidence: dict[str, np.ndarray]) -> np.ndarray:
    total = np.zeros_like(next(iter(evidence.values())))
    for name, scores in evidence.items():
        total += EVIDENCE_WEIGHTS.get(name, 0.0) * scores
    return total


# The pulse's beats are moved by half a beat only when the best bar line between them beats
# the best one on them by this fraction of the candidates' spread of evidence, and something
# is played there. On the rendered corpus at the true beats (56 grooves and arrangements):
# a punk beat (kick on the beat, a louder snare and crash between) 0.55-0.71 the right way;
# where the beat is right, between-beat candidates came within 0.25 of the spread (a kick
# on the "and" of 3 in drum and bass, 2 ms swing in jazz) and never ahead by more.
BETWEEN_MARGIN = 0.40
BETWEEN_MIN_PILE = 0.25


def _beat_is_between(y: np.ndarray, raw: dict[str, np.ndarray], on: np.ndarray,
                     between: np.ndarray, pulse_s: float) -> bool:
    """Whether the bar lines fall halfway between the pulse's beats (``on``) rather than on
    them: the fold put the beat on the loudest pile, which in punk is the snare and crash
    on the off-beats, while the kicks, the bass and the chord changes mark the beat."""
    score = combined_evidence(_contrasts(raw))
    spread = float(score.max() - score.min())
    margin = float(score[on.size:].max() - score[:on.size].max())
    if spread <= 0 or margin < BETWEEN_MARGIN * spread:
        return False
    duration = y.size / ANALYSIS_RATE
    piles = _bar_means(_onset_envelope(y), np.array([on[0], between[0]]), pulse_s, duration)
    return bool(piles[1] >= BETWEEN_MIN_PILE * piles[0])


def _contrasts(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"kick_minus_snare": _contrast(raw["kick"]) - _contrast(raw["snare"]),
            "bass": _contrast(raw["bass"]), "harmony": _contrast(raw["harmony"]),
            "crash": raw["crash"] - float(raw["crash"].mean()),
            "phrase": raw["phrase"] - float(raw["phrase"].mean())}


def _raw_evidence(y: np.ndarray, candidates: np.ndarray, bar_s: float, pulse_s: float,
                  phrase: bool = True) -> dict[str, np.ndarray]:
    """Per candidate downbeat (times in the first bar of ``y`` at ANALYSIS_RATE), how much
    each kind of bar-line evidence it carries, averaged over all bars (``_contrasts`` puts
    them on one scale):

    - kick and snare: the energy rise below 80 Hz (a steep filter: bass notes and toms stay
      out) and in the snare band; their contrasts are subtracted, since in backbeat music the
      snare is the loudest full-band onset and sits on 2 and 4;
    - bass: spectral flux of the bass register (a new bass note starts the bar);
    - harmony: chroma change across the candidate (chords change at bar lines);
    - crash: a cymbal burst standing out at that position in some bar (``_crash``);
    - phrase: the sound changing across that position in some bar far more than usual
      (``_phrase_turn``), left at zero when ``phrase`` is false (legato pieces).

    The kick alone is not a kind of its own: where it differs from kick minus snare (a snare
    bleeding below 80 Hz) it was wrong more often on the corpus.
    """
    duration = y.size / ANALYSIS_RATE
    kick = _bar_means(_energy_rise(signal.sosfilt(_KICK_LOWPASS, y)), candidates, bar_s,
                      duration)
    snare = _bar_means(_energy_rise(signal.sosfilt(_SNARE_BAND, y)), candidates, bar_s,
                       duration)
    spectrum = np.abs(librosa.stft(y, n_fft=EVIDENCE_FFT, hop_length=EVIDENCE_HOP)) ** 2
    freqs = librosa.fft_frequencies(sr=ANALYSIS_RATE, n_fft=EVIDENCE_FFT)
    low = np.log1p(1e4 * spectrum[(freqs >= 35) & (freqs <= 300)] / max(spectrum.max(), 1e-30))
    bass_flux = np.concatenate(([0.0], np.maximum(np.diff(low, axis=1), 0.0).sum(axis=0)))
    frame_s = EVIDENCE_HOP / ANALYSIS_RATE
    bass = _bar_means(bass_flux, candidates, bar_s, duration, hop_s=frame_s, reach=1)
    # Tuning 0: estimating it costs time and only shifts all bins alike.
    chroma = librosa.feature.chroma_stft(S=spectrum, sr=ANALYSIS_RATE, n_fft=EVIDENCE_FFT,
                                         tuning=0.0)
    harmony = _chroma_change(chroma, candidates, bar_s, pulse_s, duration, frame_s)
    crash = _crash(y, candidates, bar_s, pulse_s)
    turn = (_phrase_turn(spectrum, candidates, bar_s, pulse_s, duration, frame_s) if phrase
            else np.zeros(candidates.size))
    return {"kick": kick, "snare": snare, "bass": bass, "harmony": harmony, "crash": crash,
            "phrase": turn}


# Cymbals: above 4 kHz, where a crash outlasts the hats; its burst is read from just before
# the candidate (the player's scatter) for up to a quarter second.
_CYMBAL_HIGHPASS = signal.butter(4, 4000.0, "highpass", fs=ANALYSIS_RATE, output="sos")
CRASH_LEAD_S, CRASH_WINDOW_S = 0.020, 0.250


def _crash(y: np.ndarray, candidates: np.ndarray, bar_s: float, pulse_s: float) -> np.ndarray:
    """Per candidate: how far the loudest cymbal burst at that position of any bar stands
    out of the usual one there (the log of the maximum over the median). A drummer marks the
    start of a phrase with a crash on its downbeat, once every few bars, which is what tells
    beat 1 from beat 3 when kick, snare and hats repeat every half bar. Zero without three
    bars to compare."""
    power = signal.sosfilt(_CYMBAL_HIGHPASS, y).astype(np.float64) ** 2
    cum = np.concatenate(([0.0], np.cumsum(power)))
    duration = y.size / ANALYSIS_RATE
    width = min(0.9 * pulse_s, CRASH_WINDOW_S)
    out = np.zeros(candidates.size)
    for i, c in enumerate(candidates):
        starts = np.arange(c, duration - width, bar_s)
        if starts.size < 3:
            return np.zeros(candidates.size)
        lo = np.round(np.maximum(starts - CRASH_LEAD_S, 0.0) * ANALYSIS_RATE).astype(np.int64)
        hi = np.round((starts + width) * ANALYSIS_RATE).astype(np.int64)
        energy = cum[hi] - cum[lo]
        out[i] = math.log(max(float(energy.max()), 1e-30) / max(float(np.median(energy)), 1e-30))
    return out


@functools.cache
def _mel_basis() -> np.ndarray:
    # Built on first use, not at import: librosa's filters take 0.15 s to load.
    basis: np.ndarray = librosa.filters.mel(sr=ANALYSIS_RATE, n_fft=EVIDENCE_FFT, n_mels=40)
    return basis


def _phrase_turn(spectrum: np.ndarray, candidates: np.ndarray, bar_s: float, pulse_s: float,
                 duration: float, frame_s: float) -> np.ndarray:
    """Per candidate: how far the largest change of sound across that position in any bar
    (the mean log-mel spectrum of the pulse after against the pulse before) exceeds the
    usual change there (the median over bars). Phrases turn on bar lines: a fill and then a
    crash, a break, a new part, once every few bars. Zero without three bars to compare."""
    mel = np.log(1e-6 + _mel_basis() @ spectrum / max(float(spectrum.max()), 1e-30))
    out = np.zeros(candidates.size)
    for i, (before, after) in enumerate(_either_side(mel, candidates, bar_s, pulse_s,
                                                     duration, frame_s)):
        if before.shape[1] < 3:
            return np.zeros(candidates.size)
        change = np.sqrt(((after - before) ** 2).mean(axis=0))
        out[i] = float(change.max() - np.median(change))
    return out


def _either_side(feature: np.ndarray, candidates: np.ndarray, bar_s: float, pulse_s: float,
                 duration: float, frame_s: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per candidate: the means of ``feature``'s frames over the pulse before and the pulse
    after that time of every bar, one column per bar (bars too near either end left out)."""
    width = max(1, int(round(pulse_s / frame_s)))
    cum = np.concatenate((np.zeros((feature.shape[0], 1)), np.cumsum(feature, axis=1)), axis=1)
    sides = []
    for c in candidates:
        frames = np.round(np.arange(c, duration, bar_s) / frame_s).astype(np.int64)
        frames = frames[(frames >= width) & (frames + width <= feature.shape[1])]
        sides.append(((cum[:, frames] - cum[:, frames - width]) / width,
                      (cum[:, frames + width] - cum[:, frames]) / width))
    return sides


def _contrast(x: np.ndarray) -> np.ndarray:
    """Each candidate's evidence relative to the candidates' mean: +0.5 is half again as much
    as the average position. A kind that is alike on every beat (a kick on all four) then
    votes next to nothing, rather than having its noise blown up to a full vote."""
    mean = float(x.mean()) if x.size else 0.0
    if mean <= 1e-12:
        return np.zeros_like(x)
    return (x - mean) / mean


def _bar_means(env: np.ndarray, candidates: np.ndarray, bar_s: float, duration: float,
               hop_s: float = FINE_HOP_S, reach: int | None = None) -> np.ndarray:
    """Per candidate: mean over all bars of the envelope's peak near that position."""
    if reach is None:
        reach = int(round(ACCENT_WINDOW_S / hop_s))
    out = np.zeros(candidates.size)
    for i, c in enumerate(candidates):
        centres = np.round(np.arange(c, duration, bar_s) / hop_s).astype(np.int64)
        centres = centres[(centres >= reach) & (centres < env.size - reach)]
        if centres.size:
            out[i] = env[centres[:, None] + np.arange(-reach, reach + 1)].max(axis=1).mean()
    return out


def _chroma_change(chroma: np.ndarray, candidates: np.ndarray, bar_s: float, pulse_s: float,
                   duration: float, frame_s: float) -> np.ndarray:
    """Per candidate: mean over bars of the cosine distance between the chroma of the pulse
    before it and the pulse after it."""
    norm = chroma / np.maximum(np.linalg.norm(chroma, axis=0, keepdims=True), 1e-9)
    out = np.zeros(candidates.size)
    for i, (before, after) in enumerate(_either_side(norm, candidates, bar_s, pulse_s,
                                                     duration, frame_s)):
        if before.shape[1] == 0:
            continue
        cos = (before * after).sum(axis=0) / np.maximum(
            np.linalg.norm(before, axis=0) * np.linalg.norm(after, axis=0), 1e-9)
        out[i] = float(np.mean(1.0 - cos))
    return out


# --- plumbing ---------------------------------------------------------------------------------

def _to_analysis_rate(mono: np.ndarray, rate: int) -> np.ndarray:
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    return mono if rate == ANALYSIS_RATE else soxr.resample(mono, rate, ANALYSIS_RATE)


def _shift(audio: np.ndarray, offset: int) -> np.ndarray:
    """Drop ``offset`` samples from the front, or add silence there when it is negative."""
    if offset >= 0:
        return np.ascontiguousarray(audio[:, offset:])
    pad = np.zeros((audio.shape[0], -offset), dtype=audio.dtype)
    return np.concatenate((pad, audio), axis=1)


