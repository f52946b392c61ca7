"""Several specs in one decode (bridge.engine.batch), on the tiny model's fast engine."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bridge.engine.base import Cancelled, GenerationSpec
from bridge.engine.batch import batch_key, generate_batch
from bridge.engine.fast import load_fast_engine

SPEC = GenerationSpec(text="dusty funk drums", seconds=0.2, top_k=50, top_p=0.0,
                      temperature=1.0, cfg=3.0, seed=7)


@pytest.fixture(scope="module")
def fast(tiny_engine):
    return load_fast_engine(tiny_engine)


def _run(engine, specs, cancels=None):
    cancels = cancels or [threading.Event() for _ in specs]
    seen: list[list[float]] = [[] for _ in specs]
    results = generate_batch(engine, specs, [s.append for s in seen], cancels)
    return results, seen


def test_two_requests_batched_are_the_rows_of_one_decode(fast) -> None:
    # Two one-clip requests of the same shape: the same rows as one request for two variations
    # (the engine's own batched call), so the batch decodes them together, guidance paired.
    other = GenerationSpec(**{**SPEC.__dict__, "seed": 99})
    results, seen = _run(fast, [SPEC, other])
    expected = fast.generate(GenerationSpec(**{**SPEC.__dict__, "variations": 2}),
                             lambda f: None, threading.Event())
    assert results[0].audio.shape == (1, *expected.audio.shape[1:])
    np.testing.assert_array_equal(results[0].audio[0], expected.audio[0])
    np.testing.assert_array_equal(results[1].audio[0], expected.audio[1])
    assert seen[0][-1] == seen[1][-1] == 1.0


def test_a_lone_request_is_what_the_engine_makes_from_its_seed(fast) -> None:
    results, _ = _run(fast, [SPEC])
    expected = fast.generate(SPEC, lambda f: None, threading.Event())
    np.testing.assert_array_equal(results[0].audio, expected.audio)


def test_different_lengths_or_knobs_do_not_share_a_decode(fast) -> None:
    longer = GenerationSpec(**{**SPEC.__dict__, "seconds": 0.3})
    hotter = GenerationSpec(**{**SPEC.__dict__, "temperature": 1.5})
    negative = GenerationSpec(**{**SPEC.__dict__, "negative_prompt": "vocals"})
    keys = {batch_key(s, fast) for s in (SPEC, longer, hotter)}
    assert len(keys) == 3
    assert batch_key(negative, fast) is None
    results, _ = _run(fast, [SPEC, longer])
    assert results[1].audio.shape[-1] > results[0].audio.shape[-1]
    np.testing.assert_array_equal(
        results[0].audio, fast.generate(SPEC, lambda f: None, threading.Event()).audio)


def test_cancelled_members_are_cancelled_and_the_rest_still_made(fast) -> None:
    cancels = [threading.Event(), threading.Event()]
    cancels[0].set()
    results, _ = _run(fast, [SPEC, GenerationSpec(**{**SPEC.__dict__, "seed": 3})], cancels)
    assert isinstance(results[0], Cancelled)
    assert results[1].audio.shape[0] == 1
    cancels[1].set()
    results, _ = _run(fast, [SPEC, SPEC], cancels)
    assert all(isinstance(r, Cancelled) for r in results)


def test_an_engine_without_a_multi_prompt_call_runs_specs_one_by_one(tiny_engine) -> None:
    results, _ = _run(tiny_engine, [SPEC, SPEC])
    assert batch_key(SPEC, tiny_engine) is None
    expected = tiny_engine.generate(SPEC, lambda f: None, threading.Event())
    for result in results:
        np.testing.assert_array_equal(result.audio, expected.audio)
