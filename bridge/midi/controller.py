"""What MIDI messages do to the daemon: knobs, triggers, presets, clock and learn.

No ports and no threads: the service's handler thread calls ``handle`` for each message (with
the time it arrived) and ``poll`` when idle. Everything runs on that one thread, so the knob
states, the clock follower and the learner need no locks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import mido

from bridge.engine.base import EngineError
from bridge.errors import reason_of
from bridge.events import QUEUED, ErrorReport, JobEvent, Learned
from bridge.midi.clock import PPQN, ClockFollower
from bridge.midi.events import LearnFailed
from bridge.midi.learn import TIMEOUT_S, ConfigFile, Learner, save_binding
from bridge.midi.mapping import (
    MAX_CC,
    VALUE,
    Binding,
    Knob,
    index_bindings,
    lookup,
    move,
    with_binding,
)
from bridge.midi.settings import MidiSettings
from bridge.midi.triggers import (
    CANCEL,
    GENERATE,
    VARIATIONS,
    index_triggers,
    preset_for,
    trigger_for,
)
from bridge.request import GenerationRequest
from bridge.session.control import Control
from bridge.session.tempo_source import TempoArbiter

log = logging.getLogger(__name__)

SOURCE = "midi"


class Controller:
    def __init__(self, daemon: Control, settings: MidiSettings, *, tempo: TempoArbiter,
                 config_file: ConfigFile | None, learn_timeout_s: float = TIMEOUT_S) -> None:
        self._daemon = daemon
        self._state = daemon.state
        self._publish: Callable[[object], None] = daemon.bus.publish
        self._tempo = tempo
        self._config_file = config_file
        self._learn_timeout_s = learn_timeout_s
        self._bindings = settings.bindings
        self._index = index_bindings(settings.bindings)
        self._knobs: dict[str, Knob] = {}
        self._triggers = index_triggers(settings.triggers)
        self._presets = settings.presets
        self.clock = ClockFollower()
        self._learner: Learner | None = None
        # The last job anyone queued (OSC, inbox, MIDI): what "variations" re-runs. Written by
        # the bus on the submitting thread; a tuple swap is atomic, so no lock.
        self._last_queued: tuple[int, GenerationRequest] | None = None
        self._unsubscribe = daemon.bus.subscribe(self._on_bus_event)
        self._handlers: dict[str, Callable[[mido.Message, float], None]] = {
            "control_change": self._control_change,
            "note_on": self._note_on,
            "program_change": self._program_change,
            "clock": self._clock,
            "start": lambda msg, t: self._publish(self.clock.start()),
            "stop": lambda msg, t: self._publish(self.clock.stop()),
            "continue": lambda msg, t: self._publish(self.clock.continue_()),
            "songpos": lambda msg, t: self._publish(self.clock.song_position(msg.pos)),
        }

    @property
    def bindings(self) -> tuple[Binding, ...]:
        """The live mapping (config plus whatever was learned); read by MIDI feedback."""
        return self._bindings

    @property
    def index(self) -> dict:
        """(channel, cc) -> (binding, role) for the live mapping."""
        return self._index

    def coalescible(self, channel: int, cc: int) -> bool:
        """True when only the latest of several queued moves of this control matters: an
        absolute 7-bit knob that jumps, or one soft takeover already picked up."""
        found = lookup(self._index, channel, cc)
        if found is None or found[1] != VALUE or found[0].mode != "absolute":
            return False
        binding = found[0]
        if not binding.takeover:
            return True
        knob = self._knobs.get(binding.param)
        return knob is not None and knob.engaged and knob.applied == self._state.get(binding.param)

    @property
    def learning(self) -> bool:
        return self._learner is not None

    def close(self) -> None:
        self._unsubscribe()

    # ---- entry points (handler thread) ----

    def handle(self, msg: mido.Message, t: float) -> None:
        handler = self._handlers.get(msg.type)
        if handler is not None:
            handler(msg, t)

    def start_learn(self, param: str, now: float) -> None:
        if self._learner is not None:
            self._publish(LearnFailed.of(self._learner.param, f"replaced by learning {param}"))
        self._learner = Learner(param, now, timeout_s=self._learn_timeout_s)
        log.info("MIDI learn %s: move the control to bind (turn encoders both ways)", param)

    def poll(self, now: float) -> None:
        learner = self._learner
        if learner is None or not learner.done(now):
            return
        self._learner = None
        previous = next((b for b in self._bindings if b.param == learner.param), None)
        binding = learner.result(previous)
        if binding is None:
            reason = f"no MIDI control moved within {self._learn_timeout_s:.0f} s"
            log.warning("MIDI learn %s: %s", learner.param, reason)
            self._publish(LearnFailed.of(learner.param, reason))
            return
        self._bind(binding)

    # ---- messages ----

    def _control_change(self, msg: mido.Message, t: float) -> None:
        if msg.control > MAX_CC:
            return  # channel mode messages (all notes off, ...): not ours to act on
        if self._learner is not None:
            self._learner.feed(msg.channel, msg.control, msg.value, t)
            return
        found = lookup(self._index, msg.channel, msg.control)
        if found is None:
            return
        binding, role = found
        current = self._state.get(binding.param)
        knob, value = move(binding, self._knobs.get(binding.param, Knob()), role, msg.value,
                           current)
        if value is not None:
            try:
                applied = self._state.set(binding.param, value, source=SOURCE)
            except ValueError as err:
                log.warning("MIDI CC %d -> %s refused: %s", msg.control, binding.param, err)
            else:
                knob = replace(knob, applied=applied)
        self._knobs[binding.param] = knob

    def _note_on(self, msg: mido.Message, t: float) -> None:
        action = trigger_for(self._triggers, msg.channel, msg.note, msg.velocity)
        if action == GENERATE:
            self._submit(None, GENERATE)
        elif action == CANCEL:
            cancelled = self._daemon.cancel(None)
            log.info("MIDI cancel: %s", "the running job" if cancelled else "nothing was running")
        elif action == VARIATIONS:
            self._submit(self._variations_request(), VARIATIONS)

    def _program_change(self, msg: mido.Message, t: float) -> None:
        text = preset_for(self._presets, msg.program)
        if text is None:
            log.warning("MIDI program change %d: no such preset (%d in [midi] presets; program "
                        "changes count from 0)", msg.program, len(self._presets))
            return
        # The StateChanged this publishes is what OSC feedback echoes as /musicgen/prompt.
        self._state.set("prompt", text, source=SOURCE)
        log.info("MIDI program %d: prompt %r", msg.program, text)

    def _clock(self, msg: mido.Message, t: float) -> None:
        bpm = self.clock.tick(t)
        if bpm is not None:
            try:
                self._tempo.offer(bpm, "clock")
            except ValueError as err:
                log.warning("MIDI clock tempo refused: %s", err)
        elif self.clock.ticks % PPQN == 0:
            # Once a beat: lets tempo_source = "clock" keep winning while the clock runs.
            self._tempo.heartbeat("clock")

    # ---- actions ----

    def _submit(self, request: GenerationRequest | None, about: str) -> None:
        try:
            job = self._daemon.submit(request)
        except (ValueError, EngineError) as err:  # the engine's refusal too (too long a clip)
            log.warning("MIDI %s refused: %s", about, reason_of(err))
            self._publish(ErrorReport(f"midi {about}", reason_of(err)))
            return
        except Exception as err:  # a note must never raise out of the MIDI handler
            log.exception("MIDI %s failed", about)
            self._publish(ErrorReport(f"midi {about}", f"the daemon failed on this request "
                                                       f"({type(err).__name__}); its log has "
                                                       f"the details"))
            return
        log.info("MIDI %s: job %d queued", about, job)

    def _variations_request(self) -> GenerationRequest:
        """The last queued request again, with new seeds, as many clips as the state's
        variations; the current state when nothing was queued yet."""
        last = self._last_queued
        variations = self._state.get("variations")
        if last is None:
            return self._state.snapshot().with_changes(seed=None)
        job_id, request = last
        return request.with_changes(seed=None, variations=variations, parent_job=job_id)

    def _on_bus_event(self, event: object) -> None:
        if isinstance(event, JobEvent) and event.kind == QUEUED:
            self._last_queued = (event.job_id, event.request)

    # ---- learn ----

    def _bind(self, binding: Binding) -> None:
        self._bindings = with_binding(self._bindings, binding)
        self._index = index_bindings(self._bindings)
        self._knobs.pop(binding.param, None)
        channel = binding.channel + 1 if binding.channel is not None else 0
        where = "for this session only"
        if self._config_file is not None:
            try:
                saved = save_binding(self._config_file, binding)
                where = f"saved to {saved}"
            except (OSError, ValueError) as err:
                log.error("MIDI learn %s: bound for this session, but not saved (%s); check "
                          "that the config file is writable and valid", binding.param, err)
        log.info("MIDI learn: %s <- channel %d CC %d (%s), %s", binding.param, channel,
                 binding.cc, binding.mode, where)
        self._publish(Learned(binding.param, channel, binding.cc, binding.mode))
