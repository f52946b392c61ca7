"""Long clips in windows, on the real tiny model: codes carried over exactly, seams decoded as one.

The windows here are 1 s with 0.4 s carried over (the real default is the model's 30 s window
with 12 s), so a clip of a few seconds crosses several seams in well under a second.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from bridge.engine.base import Cancelled, EngineError, GenerationSpec
from bridge.engine.windows import Window, WindowedEngine, can_window, plan_windows
from tests.support import OneWindowEngine

HOP = 640  # samples per codec frame at 32 kHz / 50 Hz
SPEC = GenerationSpec(text="dusty funk drums", seconds=2.2, top_k=250, top_p=0.0,
                      temperature=1.0, cfg=3.0, seed=1234, variations=2)


def quiet(_: float) -> None:
    pass


@pytest.fixture
def calls(tiny_engine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[GenerationSpec, object]]:
    """Every tiny_engine.generate call: (spec, result)."""
    seen: list[tuple[GenerationSpec, object]] = []
    real = tiny_engine.generate

    def spy(spec, progress, cancel):
        result = real(spec, progress, cancel)
        seen.append((spec, result))
        return result

    monkeypatch.setattr(tiny_engine, "generate", spy)
    return seen


def windowed(engine) -> WindowedEngine:
    return WindowedEngine(engine, window_s=1.0, context_s=0.4)


@pytest.mark.parametrize("total, history", [(1, 0), (50, 0), (51, 0), (110, 0), (333, 0),
                                            (60, 30), (5, 7)])
def test_plan_covers_the_clip_and_keeps_every_window_in_the_model_window(total, history):
    windows = plan_windows(total, 50, 20, history=history)
    assert sum(w.frames for w in windows) == total
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.start == before.start + before.frames
    for w in windows:
        assert 1 <= w.frames and w.context + w.frames <= 50
        assert w.context == min(20, history + w.start)
    assert [w.index for w in windows] == list(range(len(windows)))


def test_plan_is_audiocrafts_extend_stride():
    # 30 s windows, 12 s carried: 30 s, then 18 s per window.
    assert plan_windows(6000, 1500, 600) == (
        Window(0, 0, 1500, 0), Window(1, 1500, 900, 600), Window(2, 2400, 900, 600),
        Window(3, 3300, 900, 600), Window(4, 4200, 900, 600), Window(5, 5100, 900, 600))


def test_prefix_codes_reach_the_model_exactly_in_the_delay_pattern(tiny_engine):
    """What the decoder is fed, undelayed, is the prefix followed by the new codes."""
    prefix = np.random.default_rng(0).integers(0, 2048, (2, 4, 10))
    fed: list[torch.Tensor] = []
    hook = tiny_engine.model.decoder.register_forward_pre_hook(
        lambda module, args, kwargs: fed.append(kwargs["input_ids"].clone()), with_kwargs=True)
    try:
        result = tiny_engine.generate(replace(SPEC, seconds=0.3, prefix_codes=prefix), quiet,
                                      threading.Event())
    finally:
        hook.remove()
    ids = tiny_engine.last_generate_kwargs["decoder_input_ids"]
    assert ids.shape == (2 * 4, 10)  # (variations * codebooks, frames)
    assert result.codes.shape == (2, 4, 15) and result.audio.shape == (2, 1, 15 * HOP)
    # The last prefill plus every step after it: the decoder's whole input grid, CFG rows first.
    start = max(i for i, x in enumerate(fed) if x.shape[-1] > 1)
    grid = torch.cat(fed[start:], dim=-1)[:8].reshape(2, 4, -1).numpy()
    joined = np.concatenate([prefix, result.codes], axis=-1)
    for k in range(4):  # codebook k runs k steps late, after the start token
        assert (grid[:, k, :k + 1] == 2048).all()
        n = min(grid.shape[-1] - k - 1, joined.shape[-1])
        np.testing.assert_array_equal(grid[:, k, k + 1:k + 1 + n], joined[:, k, :n])
    # The audio is the new frames' part of the joined codes decoded together.
    np.testing.assert_array_equal(result.audio,
                                  tiny_engine.decode_codes(joined)[..., 10 * HOP:])


@pytest.mark.parametrize("prefix, message", [
    (np.zeros((1, 4, 10), np.int64), r"shaped \(variations, codebooks, frames\)"),
    (np.zeros((2, 3, 10), np.int64), r"= \(2, 4, 1 or more\), got int64 \(2, 3, 10\)"),
    (np.zeros((2, 4, 10), np.float32), "must be integers"),
    (np.full((2, 4, 10), 2048), r"must lie in 0\.\.2047, got 2048\.\.2048"),
    (np.zeros((2, 4, 1400), np.int64), r"28\.00 s of prefix codes plus 2\.20 s of new audio "
                                       r"is longer than .* window of 30 s"),
])
def test_bad_prefix_codes_are_refused_with_the_reason(tiny_engine, prefix, message):
    with pytest.raises(EngineError, match=message):
        tiny_engine.generate(replace(SPEC, prefix_codes=prefix), quiet, threading.Event())


def test_windows_carry_codes_over_exactly_and_decode_as_one(tiny_engine, calls):
    engine = windowed(tiny_engine)
    result = engine.generate(SPEC, quiet, threading.Event())
    # 110 frames: 50 from the text, then 30 new after 20 carried over, twice.
    assert [(s.seconds, None if s.prefix_codes is None else s.prefix_codes.shape[-1])
            for s, _ in calls] == [(1.0, None), (0.6, 20), (0.6, 20)]
    made = [r.codes for _, r in calls]
    for k, (spec, _) in enumerate(calls[1:], start=1):
        assert spec.variations == 2  # every variation in one batched call per window
        np.testing.assert_array_equal(spec.prefix_codes,
                                      np.concatenate(made[:k], axis=-1)[..., -20:])
    np.testing.assert_array_equal(result.codes, np.concatenate(made, axis=-1))
    assert result.codes.shape == (2, 4, 110) and result.audio.shape == (2, 1, 110 * HOP)
    assert result.sample_rate == 32_000 and result.audio.dtype == np.float32
    # No seam to hide: the joined codes are decoded in one piece (one variation at a time,
    # which changes float rounding only).
    np.testing.assert_allclose(result.audio, tiny_engine.decode_codes(result.codes),
                               rtol=0, atol=1e-6)
    assert len({s.seed for s, _ in calls}) == 3
    again = engine.generate(SPEC, quiet, threading.Event())
    np.testing.assert_array_equal(again.codes, result.codes)  # seeded: reproducible


def test_progress_covers_the_whole_clip_and_only_goes_up(tiny_engine, calls):
    seen: list[float] = []
    windowed(tiny_engine).generate(SPEC, seen.append, threading.Event())
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[0] < 0.05
    # Window 1 of 3 makes 50 of the 110 frames: its end is 50/110 of the way.
    during_first = [f for f in seen if f <= 50 / 110 + 1e-9]
    assert during_first[-1] == pytest.approx(50 / 110)
    assert len(during_first) == 53  # one report per decoding step (50 frames + 3)


def test_cancel_between_windows_stops_before_the_next(tiny_engine, calls):
    cancel = threading.Event()

    def progress(fraction: float) -> None:
        if fraction >= 50 / 110 - 1e-9:  # the first window's last step
            cancel.set()

    with pytest.raises(Cancelled):
        windowed(tiny_engine).generate(SPEC, progress, cancel)
    assert len(calls) == 1


def test_cancel_within_a_window_stops_it(tiny_engine, calls):
    cancel = threading.Event()

    def progress(fraction: float) -> None:
        if fraction > 0.6:  # inside the second window (50/110 .. 80/110)
            cancel.set()

    with pytest.raises(Cancelled):
        windowed(tiny_engine).generate(SPEC, progress, cancel)
    assert len(calls) == 1  # the second call raised: it returned nothing


def test_a_clip_that_fits_one_window_goes_straight_through(tiny_engine, calls):
    spec = replace(SPEC, seconds=0.8)
    result = windowed(tiny_engine).generate(spec, quiet, threading.Event())
    assert len(calls) == 1 and calls[0][0] == spec
    assert result is calls[0][1]


def test_a_callers_own_prefix_is_continued_and_left_out_of_the_result(tiny_engine, calls):
    prefix = np.random.default_rng(1).integers(0, 2048, (2, 4, 30))
    result = windowed(tiny_engine).generate(replace(SPEC, seconds=1.2, prefix_codes=prefix),
                                            quiet, threading.Event())
    np.testing.assert_array_equal(calls[0][0].prefix_codes, prefix[..., -20:])
    assert [s.seconds for s, _ in calls] == [0.6, 0.6]
    assert result.codes.shape == (2, 4, 60) and result.audio.shape == (2, 1, 60 * HOP)
    joined = np.concatenate([prefix[..., -20:], result.codes], axis=-1)
    np.testing.assert_allclose(result.audio, tiny_engine.decode_codes(joined)[..., 20 * HOP:],
                               rtol=0, atol=1e-6)


def test_conditioning_on_audio_is_refused_across_windows(tiny_engine):
    melody = replace(SPEC, melody=np.zeros(32_000, np.float32), melody_rate=32_000)
    with pytest.raises(EngineError, match=r"a melody can condition one window \(1 s\) only, and "
                                          r"2\.2 s needs more; ask for fewer bars"):
        windowed(tiny_engine).generate(melody, quiet, threading.Event())


def test_only_engines_that_keep_the_contract_are_windowed(tiny_engine):
    assert can_window(tiny_engine)
    assert not can_window(OneWindowEngine())
    with pytest.raises(EngineError, match="cannot generate past its 30 s window"):
        WindowedEngine(OneWindowEngine())
    with pytest.raises(ValueError, match="context_s must be more than 0 and less than"):
        WindowedEngine(tiny_engine, window_s=1.0, context_s=1.0)
    with pytest.raises(ValueError, match=r"window_s must be in \(0, 30\]"):
        WindowedEngine(tiny_engine, window_s=31.0)
    default = WindowedEngine(tiny_engine)
    assert (default.window, default.context) == (1500, 600)
    short = WindowedEngine(tiny_engine, window_s=10.0)  # a model with a shorter window
    assert (short.window, short.context) == (500, 200)
