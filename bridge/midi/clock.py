"""MIDI clock follower: tempo from 24-ppqn ticks, plus Start/Stop/Continue and Song Position.

Pure: it is fed arrival times (seconds, any monotonic clock) and says when the settled tempo
changed. Why a line fit and not the mean interval: arrival jitter (scheduling, JACK or USB
buffers) is on each tick's time, not on the intervals, so the slope of tick time against tick
number over a few beats cancels it; the mean of the intervals would not.

Settling: the fit gives a tempo and its standard error. A published tempo is kept while the
data are consistent with it (within ``KEEP_SIGMAS``); otherwise the simplest value the data
single out (the one whole BPM within ``CHOOSE_SIGMAS``, else the one tenth, else the estimate
to hundredths) is published, and nothing while two candidates still fit. So a 120.00 BPM clock
with +-1 ms jitter reads 120, never 119 first or a 119.98 / 120.03 flicker, and a DAW at 128.5
reads 128.5. A real tempo change shows up as a run of ticks landing early (or late)
against the fit; a CUSUM of those residuals spots the run, and the window restarts at the
tick where it began, which is what makes the follower react within about a beat.
"""

from __future__ import annotations

import math
from collections import deque

from bridge.midi.events import Transport

PPQN = 24
SPP_TICKS = 6  # a Song Position Pointer unit is a sixteenth note = 6 clocks
WINDOW = 96  # ticks in the fit at most: 4 beats
MIN_TICKS = 13  # 12 intervals (half a beat): the least a tempo is estimated from
FIRST_TICKS = PPQN + 1  # a first tempo waits a beat: the jitter is measured by then
# Change detection: a two-sided CUSUM of the new ticks' residuals (in jitter sds) against the
# fit. Each residual counts at most CUSUM_CAP, so one late tick is no change but a run is.
CUSUM_SLACK = 0.5
CUSUM_LIMIT = 6.0
CUSUM_CAP = 3.0
GAP_S = 0.3  # longer than a tick at 20 BPM (0.125 s) with margin: the clock stopped
JITTER_FLOOR_S = 0.0002  # no OS delivers ticks more evenly; keeps the error band honest
JITTER_TICKS = PPQN  # a fit this long measures the jitter; shorter fits borrow it
JITTER_SMOOTHING = 0.05  # per tick: the jitter estimate follows over a few beats
KEEP_SIGMAS = 5.0
# A published tempo this far off, with an estimate this good, is replaced at once by the
# nearest whole BPM (reacting within about a beat) before the exact value is settled on.
REACT_BPM = 1.0
REACT_SIGMA = 0.0015
CHOOSE_SIGMAS = 3.0
# (grid, the largest tolerance that decides it): a quarter of the spacing tells 128 from
# 128.5; half of a tenth tells 128.5 from 128.6. Below tenths the estimate stands.
GRIDS = ((1.0, 0.25), (0.1, 0.05))


class ClockFollower:
    def __init__(self) -> None:
        self._times: deque[float] = deque(maxlen=WINDOW)
        self._ticks: deque[int] = deque(maxlen=WINDOW)  # tick numbers, for the fit
        self._count = 0
        self._up = self._down = 0.0  # CUSUM sums
        self._up_since = self._down_since = 0  # ticks in the window since each sum was 0
        self._jitter: float | None = None  # smoothed residual sd of long fits
        self.bpm: float | None = None  # the published tempo
        self.playing = False
        self.started = False
        self.position_ticks = 0

    @property
    def ticks(self) -> int:
        """Clock ticks received so far."""
        return self._count

    # ---- transport ----

    def start(self) -> Transport:
        self.playing, self.started, self.position_ticks = True, True, 0
        return self.transport()

    def stop(self) -> Transport:
        self.playing = False
        return self.transport()

    def continue_(self) -> Transport:
        self.playing, self.started = True, True
        return self.transport()

    def song_position(self, sixteenths: int) -> Transport:
        self.position_ticks = max(0, int(sixteenths)) * SPP_TICKS
        return self.transport()

    def transport(self) -> Transport:
        return Transport(self.playing, self.position_ticks / PPQN, self.started)

    # ---- tempo ----

    def tick(self, t: float) -> float | None:
        """One clock tick arrived at ``t``; returns a newly settled tempo, or None."""
        times = self._times
        if times:
            gap = t - times[-1]
            if gap <= 0:
                return None  # out of order or duplicate timestamp: no information
            if gap > GAP_S:
                self._restart()
        if self.playing:
            self.position_ticks += 1
        self._count += 1
        changed_since = self._changed(t) if times else 0
        times.append(t)
        self._ticks.append(self._count)
        if changed_since:
            self._keep_last(changed_since)
        if len(times) < MIN_TICKS:
            return None
        return self._settle()

    def _keep_last(self, n: int) -> None:
        """The tempo changed: estimate from the last ``n`` ticks on, keep the published value
        until the new estimate contradicts it."""
        recent = list(zip(self._ticks, self._times, strict=True))[-n:]
        self._restart(keep_published=True)
        for tick, t in recent:
            self._ticks.append(tick)
            self._times.append(t)

    def _restart(self, keep_published: bool = False) -> None:
        self._times.clear()
        self._ticks.clear()
        self._up = self._down = 0.0
        self._up_since = self._down_since = 0
        if not keep_published:
            # After the clock stopped, offer the tempo again: another source may have set it.
            self.bpm = None
            self._jitter = None

    def _fit(self) -> tuple[float, float, float, float] | None:
        """Least squares t = a + s*n over the window: slope s, intercept a, residual sd (never
        below the measured jitter), sqrt(Sxx)."""
        xs, ys = self._ticks, self._times
        n = len(xs)
        if n < 3:
            return None
        mx = sum(xs) / n
        my = sum(ys) / n
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx <= 0:
            return None
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        if slope <= 0:
            return None
        a = my - slope * mx
        ss = sum((y - a - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
        sd = math.sqrt(ss / (n - 2))
        if n >= JITTER_TICKS and self._up == self._down == 0.0:
            # Measured only while no change is building up (a tempo step inside the window
            # would pass for jitter and blunt the change detection), and smoothed: one
            # window's estimate is too noisy to judge the next tick by.
            measured = max(sd, JITTER_FLOOR_S)
            self._jitter = measured if self._jitter is None else (
                self._jitter + JITTER_SMOOTHING * (measured - self._jitter))
        # A dozen residuals under-estimate the jitter too often to be trusted on their own.
        return slope, a, max(sd, self._jitter or JITTER_FLOOR_S), math.sqrt(sxx)

    def _changed(self, t: float) -> int:
        """How many of the newest ticks (this one included) follow a tempo change; 0: none."""
        fit = self._fit()
        if fit is None or len(self._times) < MIN_TICKS // 2:
            return 0
        slope, a, sd, _ = fit
        z = (t - (a + slope * self._count)) / sd
        z = max(-CUSUM_CAP, min(CUSUM_CAP, z))
        self._up = max(0.0, self._up + z - CUSUM_SLACK)
        self._down = max(0.0, self._down - z - CUSUM_SLACK)
        self._up_since = self._up_since + 1 if self._up > 0 else 0
        self._down_since = self._down_since + 1 if self._down > 0 else 0
        if self._up > CUSUM_LIMIT:
            return self._up_since
        if self._down > CUSUM_LIMIT:
            return self._down_since
        return 0

    def _settle(self) -> float | None:
        if max(self._up, self._down) > CUSUM_LIMIT / 2:
            return None  # a change may be under way: a fit across it would publish a blend
        estimate = _tempo(self._fit())
        if estimate is None:
            return None
        bpm, sigma = estimate
        if self.bpm is None and len(self._times) < FIRST_TICKS:
            return None
        if self.bpm is not None and abs(self.bpm - bpm) <= KEEP_SIGMAS * sigma:
            return None
        chosen = simplest(bpm, CHOOSE_SIGMAS * sigma)
        if chosen is None and self.bpm is not None and abs(self.bpm - bpm) >= REACT_BPM \
                and sigma <= REACT_SIGMA * bpm:
            chosen = float(round(bpm))  # the tempo clearly moved: follow now, settle later
        if chosen is None or chosen == self.bpm:
            return None
        self.bpm = chosen
        return chosen


def _tempo(fit: tuple[float, float, float, float] | None) -> tuple[float, float] | None:
    """A fit -> (BPM, its standard error in BPM)."""
    if fit is None:
        return None
    slope, _, sd, root_sxx = fit
    bpm = 60.0 / (PPQN * slope)
    return bpm, bpm * (sd / root_sxx) / slope


def simplest(value: float, tolerance: float) -> float | None:
    """The simplest tempo the estimate ``value`` +- ``tolerance`` singles out: a whole BPM,
    else a tenth, else hundredths; None while the data cannot tell yet.

    A grid is only decided on once the tolerance is small against its spacing (``GRIDS``): a
    loose estimate of 128.4 must not publish 128 when the DAW is at 128.5.
    """
    for grid, decisive in GRIDS:
        if tolerance > decisive:
            return None
        nearest = round(value / grid) * grid
        if abs(nearest - value) <= tolerance:
            return round(nearest, 2)
    return round(value, 2)
