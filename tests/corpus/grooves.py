"""Drum grooves, bass lines and chord parts written as General MIDI, one bar at a time.

A pattern is a string per drum, one character per step of the bar: ``X`` an accent, ``x`` a
normal hit, ``g`` a ghost note, ``.`` a rest. Steps are sixteenths unless the groove says
otherwise (a shuffle runs on triplet eighths). The bar line is step 0, so the ground truth of
every clip is where the MIDI put step 0 of a bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# General MIDI percussion keys (channel 10).
KICK, SIDE_STICK, SNARE, CLAP = 36, 37, 38, 39
CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 42, 44, 46
LOW_TOM, CRASH, RIDE, RIDE_BELL, COWBELL = 45, 49, 51, 53, 56
VELOCITY = {"X": 118, "x": 88, "g": 34}


@dataclass(frozen=True)
class Groove:
    """One drum groove: its meter, steps per bar, patterns, the tempo range it is played at,
    how late the off-steps are swung (fraction of a step), and the bass rhythm (steps)."""

    name: str
    meter: str
    steps: int
    drums: dict[int, str]
    bpm: tuple[float, float]
    swing: float = 0.0
    bass: tuple[int, ...] = (0,)
    bass_program: int = 33
    chord_program: int = 4
    chord_steps: tuple[int, ...] = (0,)
    tags: tuple[str, ...] = field(default=())


GROOVES: tuple[Groove, ...] = (
    Groove("rock", "4/4", 16, {
        KICK: "X.......X.x.....", SNARE: "....X.......X...",
        CLOSED_HAT: "x.x.x.x.x.x.x.x."}, (96, 132), bass=(0, 8, 10), chord_program=29),
    Groove("punk", "4/4", 16, {
        KICK: "X...X...X...X...", SNARE: "..X...X...X...X.",
        CRASH: "x.x.x.x.x.x.x.x."}, (160, 178), bass=(0, 2, 4, 6, 8, 10, 12, 14),
        chord_program=30),
    Groove("funk", "4/4", 16, {
        KICK: "X..x......X..x..", SNARE: "....X..g.g..X.g.",
        CLOSED_HAT: "xgxgxgxgxgxgxgxg"}, (96, 112), bass=(0, 3, 6, 10, 13),
        bass_program=36, chord_program=4, chord_steps=(2, 6, 14)),
    Groove("shuffle", "4/4", 12, {
        KICK: "X.....X.....", SNARE: "...X.....X..",
        CLOSED_HAT: "x.xx.xx.xx.x"}, (100, 126), bass=(0, 2, 3, 5, 6, 8, 9, 11),
        chord_program=0, chord_steps=(0, 6)),
    Groove("jazz ride", "4/4", 12, {
        RIDE: "x..x.xx..x.x", PEDAL_HAT: "...x.....x..", KICK: "g..g..g..g.."},
        (120, 160), bass=(0, 3, 6, 9), bass_program=32, chord_program=0, chord_steps=(2, 8)),
    Groove("half-time", "4/4", 16, {
        KICK: "X.....x...x.....", SNARE: "........X.......",
        CLOSED_HAT: "x.x.x.x.x.x.x.x."}, (136, 150), bass=(0, 6, 10), bass_program=38),
    Groove("boom-bap", "4/4", 16, {
        KICK: "X......x..X.....", SNARE: "....X.......X...",
        CLOSED_HAT: "x.x.x.x.x.x.x.x."}, (84, 96), swing=0.25, bass=(0, 7, 10),
        bass_program=33, chord_program=4),
    Groove("breakbeat", "4/4", 16, {
        KICK: "X.X.......XX....", SNARE: "....X..X.X..X..X",
        RIDE: "x.x.x.x.x.x.x.x."}, (128, 140), bass=(0, 2, 10, 11), bass_program=38),
    Groove("drum and bass", "4/4", 16, {
        KICK: "X.........X.....", SNARE: "....X.......X...",
        CLOSED_HAT: "xxxxxxxxxxxxxxxx"}, (170, 176), bass=(0, 10), bass_program=38,
        chord_program=89),
    Groove("house", "4/4", 16, {
        KICK: "X...X...X...X...", CLAP: "....x.......x...",
        OPEN_HAT: "..x...x...x...x.", CLOSED_HAT: "x.g.x.g.x.g.x.g."}, (120, 128),
        bass=(2, 6, 10, 14), bass_program=38, chord_program=81, chord_steps=(0,)),
    Groove("reggae one-drop", "4/4", 12, {
        KICK: "......X.....", SIDE_STICK: "......X.....",
        CLOSED_HAT: "x.xx.xx.xx.x"}, (72, 84), bass=(0, 3, 8), chord_program=16,
        chord_steps=(3, 9)),
    Groove("waltz", "3/4", 12, {
        KICK: "X...........", SNARE: "....x...x...", CLOSED_HAT: "x.x.x.x.x.x."},
        (100, 150), bass=(0,), chord_program=21, chord_steps=(4, 8)),
    Groove("six-eight", "6/8", 12, {
        KICK: "X...........", SNARE: "......X.....", CLOSED_HAT: "x.x.x.x.x.x."},
        (100, 130), bass=(0, 6), chord_program=0, chord_steps=(0, 6)),
    Groove("seven-eight", "7/8", 14, {
        KICK: "X.......X.....", SNARE: "....X.......X.", CLOSED_HAT: "x.x.x.x.x.x.x."},
        (110, 140), bass=(0, 4, 8), chord_program=4),
)

# I-vi-IV-V style progressions as (root, minor?) pairs in semitones above the key.
PROGRESSIONS = (((0, False), (9, True), (5, False), (7, False)),
                ((0, True), (8, False), (3, False), (10, False)),
                ((0, False), (5, False), (7, False), (5, False)))
