"""The clock follower: tempo from 24-ppqn ticks with jitter, tempo changes, transport, SPP."""

from __future__ import annotations

import random

import mido
import pytest

from bridge.midi.clock import GAP_S, PPQN, ClockFollower, simplest
from bridge.midi.events import Transport


def clock_times(segments: list[tuple[float, int]], jitter_s: float, seed: int,
                start: float = 100.0) -> list[float]:
    """Arrival times of a clock running ``ticks`` at each ``bpm``, each tick off by up to
    +-jitter_s (uniform), the way scheduling and driver buffers shift them."""
    rng = random.Random(seed)
    t, out = start, []
    for bpm, ticks in segments:
        for _ in range(ticks):
            t += 60.0 / (bpm * PPQN)
            out.append(t + rng.uniform(-jitter_s, jitter_s))
    return out


def follow(times: list[float], follower: ClockFollower | None = None
           ) -> tuple[ClockFollower, list[tuple[int, float]]]:
    follower = follower or ClockFollower()
    published = []
    for i, t in enumerate(times):
        bpm = follower.tick(t)
        if bpm is not None:
            published.append((i, bpm))
    return follower, published


@pytest.mark.parametrize("seed", range(40))
def test_120_bpm_with_1ms_jitter_reads_exactly_120(seed):
    follower, published = follow(clock_times([(120.0, 16 * PPQN)], 0.001, seed))
    assert [bpm for _, bpm in published] == [120.0]  # one value, never a flicker
    assert published[0][0] <= 2 * PPQN  # settled within two beats
    assert follower.bpm == 120.0


@pytest.mark.parametrize("bpm", [60.0, 128.5, 174.0])
def test_other_tempos_and_tenths_settle_on_the_value(bpm):
    follower, published = follow(clock_times([(bpm, 16 * PPQN)], 0.001, 7))
    assert [value for _, value in published] == [bpm]


def test_a_hundredths_tempo_reads_as_close_as_the_jitter_allows():
    follower, _ = follow(clock_times([(93.75, 16 * PPQN)], 0.001, 7))
    assert follower.bpm == pytest.approx(93.75, abs=0.015)
    follower, _ = follow(clock_times([(93.75, 16 * PPQN)], 0.0, 7))  # a sample-exact clock
    assert follower.bpm == 93.75


def test_jack_period_bursts_are_jitter_too():
    """JACK delivers MIDI once per period (256 frames at 48 kHz = 5.3 ms): ticks arrive
    quantized to period boundaries."""
    period = 256 / 48000
    times = [(int(t / period) + 1) * period for t in clock_times([(128.0, 16 * PPQN)], 0, 0)]
    follower, published = follow(times)
    assert [bpm for _, bpm in published] == [128.0]


@pytest.mark.parametrize("new_bpm", [130.0, 121.0, 60.0, 150.0, 180.0])
@pytest.mark.parametrize("seed", range(6))
def test_a_real_tempo_change_is_followed_within_about_a_beat(new_bpm, seed):
    before = 8 * PPQN
    times = clock_times([(120.0, before), (new_bpm, 8 * PPQN)], 0.001, seed)
    follower, published = follow(times)
    after = [(i - before + 1, bpm) for i, bpm in published if i >= before]
    reacted_at, first = after[0]
    assert reacted_at <= 1.5 * PPQN  # ticks of the new tempo until the tempo moved
    assert abs(first - new_bpm) <= 1.0  # near the new tempo at once ...
    assert follower.bpm == new_bpm  # ... and exact once settled


def test_a_single_late_tick_is_no_tempo_change():
    times = clock_times([(120.0, 12 * PPQN)], 0.001, 3)
    times[6 * PPQN] += 0.004  # one tick 4 ms late (a scheduling hiccup)
    assert [bpm for _, bpm in follow(times)[1]] == [120.0]


def test_out_of_order_and_duplicate_times_are_ignored():
    times = clock_times([(120.0, 4 * PPQN)], 0.0, 0)
    times[50] = times[49]  # duplicate
    times[70] = times[60]  # backwards
    follower, published = follow(times)
    assert follower.bpm == 120.0


def test_clock_with_no_start_still_gives_tempo_but_no_position():
    follower, _ = follow(clock_times([(100.0, 4 * PPQN)], 0.0005, 1))
    assert follower.bpm == 100.0
    assert follower.transport() == Transport(playing=False, position_beats=0.0, started=False)


def test_start_stop_continue_and_song_position():
    f = ClockFollower()
    times = iter(clock_times([(120.0, 20 * PPQN)], 0.0, 0))
    assert f.start() == Transport(True, 0.0, True)
    for _ in range(2 * PPQN):
        f.tick(next(times))
    assert f.stop() == Transport(False, 2.0, True)
    for _ in range(PPQN):  # DAWs keep the clock running while stopped: position holds
        f.tick(next(times))
    assert f.transport().position_beats == 2.0
    assert f.song_position(16) == Transport(False, 4.0, True)  # 16 sixteenths = 4 beats
    assert f.continue_() == Transport(True, 4.0, True)
    for _ in range(6):
        f.tick(next(times))
    assert f.transport().position_beats == 4.25
    assert f.start().position_beats == 0.0  # Start always means the song's beginning


def test_a_stopped_clock_restarts_the_estimate_and_offers_the_tempo_again():
    f, published = follow(clock_times([(120.0, 4 * PPQN)], 0.0005, 2))
    assert published[-1][1] == 120.0
    later = clock_times([(120.0, 4 * PPQN)], 0.0005, 3, start=f._times[-1] + GAP_S + 1)
    _, again = follow(later, f)
    assert [bpm for _, bpm in again] == [120.0]  # re-offered: OSC may have changed it meanwhile


def test_spp_from_mido_message_bytes():
    msg = mido.Message.from_bytes([0xF2, 0x10, 0x01])  # LSB first: 0x10 + (1 << 7) = 144
    assert msg.type == "songpos" and msg.pos == 144
    assert ClockFollower().song_position(msg.pos).position_beats == 36.0


@pytest.mark.parametrize("value, tolerance, expected", [
    (120.02, 0.05, 120.0), (128.46, 0.05, 128.5), (93.752, 0.004, 93.75), (99.987, 0.001, 99.99),
    (120.3, 0.8, None), (128.46, 0.2, None),
])
def test_simplest_prefers_the_coarsest_grid_and_waits_when_ambiguous(value, tolerance, expected):
    assert simplest(value, tolerance) == expected
