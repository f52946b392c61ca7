"""The Ardour round trip in the real Ardour 7: a session at 97 BPM in 7/8 that changes to 120
BPM in 4/4 at bar 5, the project's own scripts (installed by `musicgen-bridge ardour install`),
the daemon on the tiny model, and the editor (under Xvfb) importing the clips.

One session serves every check, so Ardour starts twice in all (headless, then the editor).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import soundfile

from bridge.events import DONE, FAILED
from bridge.inbox.folder import Inbox, request_folder
from bridge.install.ardour import install_ardour_scripts
from bridge.request import GenerationRequest
from tests.ardour.ardour_support import prepare_editor, run_editor, run_headless, scripts_dir
from tests.support import make_daemon

RATE = 48_000
# 7/8 at 97 quarter notes per minute: a bar is 7 * (4/8) = 3.5 quarters; 2 bars last
# 2 * 7 * (4/8) * 60 / 97 s. Written out, not computed by the code under test.
TWO_BARS_97_7_8_S = 4.329897
TWO_BARS_120_4_4_S = 4.0
FUNK = {"prompt": "odd meter funk", "key": "A minor", "variations": 2, "seed": "5",
        "top_k": 250, "top_p": 0, "temperature": 1, "cfg": 3, "folder": ""}
STRAIGHT = {"prompt": "four on the floor", "key": "", "variations": 1, "seed": "-1",
            "top_k": 100, "top_p": 0.9, "temperature": 0.8, "cfg": 5, "folder": ""}


@pytest.fixture(scope="module")
def ardour_run(tmp_path_factory: pytest.TempPathFactory, tiny_engine: Any) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("ardour")
    config_home = tmp / "config"
    install_ardour_scripts(scripts_dir(config_home))
    session_dir = tmp / "song"
    headless = run_headless(config_home, {
        "session_dir": str(session_dir), "session_name": "song", "sample_rate": RATE,
        "make_inbox": True, "bars_to_report": 8,
        # 97 BPM 7/8 from the start; 120 BPM 4/4 from bar 5 (4 bars of 3.5 quarters = 14).
        "tempo": [{"quarters": 0, "bpm": 97, "num": 7, "denom": 8},
                  {"quarters": 14, "bpm": 120, "num": 4, "denom": 4}],
        "runs": [
            {"script": "musicgen_generate.lua", "from_bar": 3, "to_bar": 5, "answers": FUNK},
            {"script": "musicgen_generate.lua", "from_bar": 4, "to_bar": 6, "answers": FUNK},
            {"script": "musicgen_generate.lua", "from_bar": 5, "to_bar": 7, "answers": STRAIGHT},
            {"script": "musicgen_generate.lua", "from_bar": 3, "to_bar": 4, "answers": None},
            # 1.5 bars of 7/8 at 97 from the start (155876 samples): not whole bars.
            {"script": "musicgen_generate.lua", "from_bar": 1, "stop": 155876, "answers": None},
        ],
    }, tmp)
    requests = sorted(request_folder(session_dir / "MusicGen").glob("*.json"))
    request_data = [json.loads(p.read_text(encoding="utf-8")) for p in requests]

    # The daemon starts after the requests were written: its inbox finds them waiting.
    daemon = make_daemon(tmp, tiny_engine, {"output": {"project_dir": str(session_dir)}})
    finished: list[Any] = []
    all_done = threading.Event()

    def on_event(event: Any) -> None:
        if getattr(event, "kind", None) in (DONE, FAILED):
            finished.append(event)
            if len(finished) == len(requests):
                all_done.set()

    daemon.bus.subscribe(on_event)
    daemon.add_service(Inbox(daemon, request_folder(daemon.out_dir), settle_s=0.05))
    daemon.start()
    try:
        assert all_done.wait(90.0), f"{len(finished)} of {len(requests)} jobs finished"
        generated = list(finished)  # the continue request made later adds a job of its own
        # Things the importer must leave alone: a clip being written, and audio the daemon
        # never listed (no manifest line, no sidecar).
        (daemon.out_dir / ".half.wav.0123.part").write_bytes(b"RIFF")
        (daemon.out_dir / "stray.wav").write_bytes(b"RIFF")
        bar = headless["bar_samples"]
        prepare_editor(config_home, {
            "scripts": str(scripts_dir(config_home)), "report": str(tmp / "report.json"),
            "regions": 3, "settle_s": 3, "give_up_s": 40,
            "continues": [
                # 4/4 from bar 5: one more bar at 120 stays in one tempo.
                {"name": STRAIGHT["prompt"], "position": bar[4],
                 "answers": {**STRAIGHT, "prompt": "keep going", "bars": 1}},
                # 7/8 from bar 3: a bar more would cross the change at bar 5.
                {"name": FUNK["prompt"], "position": bar[2], "answers": {**FUNK, "bars": 1}},
            ],
            # Generate in the editor itself, from a loop range over bars 7-8 (120 4/4).
            "loop": {"from": bar[6], "to": bar[7], "answers": {**STRAIGHT, "prompt": "loop"}},
        }, RATE)
        report = run_editor(config_home, session_dir / "song.ardour", tmp / "report.json",
                            tmp / "editor.log", timeout_s=90.0)
    finally:
        daemon.stop()
    state = json.loads((session_dir / "musicgen-ardour.json").read_text(encoding="utf-8"))
    return {"headless": headless, "requests": request_data, "events": generated,
            "report": report, "state": state, "out_dir": daemon.out_dir,
            "session_dir": session_dir}


pytestmark = pytest.mark.slow


def test_generate_writes_requests_the_schema_accepts_from_ardours_tempo_map(ardour_run):
    bar = ardour_run["headless"]["bar_samples"]
    by_prompt = {r["prompt"]: r for r in ardour_run["requests"]}
    assert sorted(by_prompt) == ["four on the floor", "odd meter funk"]
    funk = GenerationRequest.from_dict(by_prompt["odd meter funk"])  # the shared contract
    assert (funk.bpm, str(funk.meter), funk.bars, funk.key, funk.variations, funk.seed) == \
        (97.0, "7/8", 2, "A minor", 2, 5)
    assert funk.client_id == "ardour"
    assert round(funk.position_s * RATE) == bar[2]  # bar 3, to the sample
    straight = GenerationRequest.from_dict(by_prompt["four on the floor"])
    assert (straight.bpm, str(straight.meter), straight.bars) == (120.0, "4/4", 2)
    assert (straight.top_k, straight.top_p, straight.temperature, straight.cfg) == \
        (100, 0.9, 0.8, 5.0)
    assert round(straight.position_s * RATE) == bar[4]  # bar 5 starts the 4/4 part
    # Ardour's own bar lines agree with the literal lengths.
    assert abs((bar[4] - bar[2]) / RATE - TWO_BARS_97_7_8_S) < 1.5 / RATE
    assert abs((bar[6] - bar[4]) / RATE - TWO_BARS_120_4_4_S) < 1.5 / RATE


def test_a_range_across_the_tempo_change_is_refused_with_the_bar(ardour_run):
    refused = ardour_run["headless"]["runs"][1]
    assert not refused["dialogs"]
    [message] = refused["messages"]
    assert "tempo changes at bar 5 (97 -> 120 BPM)" in message["text"]
    assert "meter changes at bar 5 (7/8 -> 4/4)" in message["text"]
    assert "select a range with one tempo and meter" in message["text"]
    assert len(ardour_run["requests"]) == 2  # nothing written for it


def test_not_whole_bars_asks_how_many_and_cancel_writes_nothing(ardour_run):
    one, half = ardour_run["headless"]["runs"][3:5]
    assert one["dialogs"][0]["heading"] == "97 BPM, 7/8, from bar 3, 1 bar"
    assert "bars" not in one["dialogs"][0]["keys"].split(",")
    assert half["dialogs"][0]["heading"] == "97 BPM, 7/8, from bar 1"
    assert "bars" in half["dialogs"][0]["keys"].split(",")
    assert not one["messages"] and not half["messages"]  # cancelled: no complaint, no file
    assert len(ardour_run["requests"]) == 2


def test_clips_are_bar_exact_against_ardours_tempo_map(ardour_run):
    bar = ardour_run["headless"]["bar_samples"]
    clips = [clip for event in ardour_run["events"] for clip in event.clips]
    assert all(event.kind == DONE for event in ardour_run["events"]), \
        [e.error for e in ardour_run["events"]]
    assert len(clips) == 3
    for event in ardour_run["events"]:
        in_7_8 = event.request.bpm == 97.0
        literal = TWO_BARS_97_7_8_S if in_7_8 else TWO_BARS_120_4_4_S
        ardour_s = ((bar[4] - bar[2]) if in_7_8 else (bar[6] - bar[4])) / RATE
        for clip in event.clips:
            info = soundfile.info(clip.path)
            seconds = info.frames / info.samplerate
            assert abs(seconds - literal) <= 1 / info.samplerate, (clip.path, seconds)
            assert abs(seconds - ardour_s) <= 1 / info.samplerate + 1.5 / RATE


def test_the_importer_puts_each_clip_on_the_musicgen_track_at_its_sample(ardour_run):
    report, bar = ardour_run["report"], ardour_run["report"]["bar_samples"]
    assert not report["gave_up"], report
    assert report["tracks"].count("MusicGen") == 1
    regions = sorted(report["regions"], key=lambda r: (r["position"], -r["layer"]))
    assert [(r["name"], r["position"]) for r in regions] == [
        ("odd meter funk", bar[2]), ("odd meter funk (v2)", bar[2]),
        ("four on the floor", bar[4])]
    # Variations stack as layers at one place; the first variation is on top (heard).
    assert regions[0]["layer"] > regions[1]["layer"]
    assert abs(regions[0]["length"] - (bar[4] - bar[2])) <= 2
    assert abs(regions[2]["length"] - (bar[6] - bar[4])) <= 2
    # Imported once: three regions after several more scans, and the session remembers them.
    assert len(regions) == 3
    assert len(ardour_run["state"]["imported"]) == 3
    names = " ".join(ardour_run["state"]["imported"])
    assert "stray" not in names and ".part" not in names


def test_continue_asks_with_the_regions_file_and_refuses_across_a_change(ardour_run):
    ok, refused = ardour_run["report"]["continues"]
    bar = ardour_run["report"]["bar_samples"]
    assert "error" not in ok and not ok["messages"], ok
    folder = request_folder(ardour_run["out_dir"])
    written = [json.loads(p.read_text(encoding="utf-8"))
               for p in [*folder.glob("*.json"), *(folder / "done").glob("*.json")]]
    [cont] = [r for r in written if r.get("audio_prompt")]
    request = GenerationRequest.from_dict(cont)
    assert (request.prompt, request.bars, request.bpm, str(request.meter)) == \
        ("keep going", 1, 120.0, "4/4")
    assert round(request.position_s * RATE) == bar[6]  # right after the region (bar 7)
    audio = Path(request.audio_prompt)
    assert audio.is_file() and ardour_run["session_dir"] in audio.parents  # the session's copy
    assert abs(request.prompt_seconds - TWO_BARS_120_4_4_S) < 0.01
    assert refused["dialogs"] == 1
    assert "tempo changes at bar 5 (97 -> 120 BPM)" in refused["messages"][0]


def test_generate_in_the_editor_takes_the_loop_range_when_nothing_is_selected(ardour_run):
    run, bar = ardour_run["report"]["loop_generate"], ardour_run["report"]["bar_samples"]
    assert "error" not in run and not run["messages"], run
    folder = request_folder(ardour_run["out_dir"])
    written = [json.loads(p.read_text(encoding="utf-8"))
               for p in [*folder.glob("*.json"), *(folder / "done").glob("*.json")]]
    [loop] = [r for r in written if r["prompt"] == "loop"]
    request = GenerationRequest.from_dict(loop)
    assert (request.bars, request.bpm, str(request.meter)) == (1, 120.0, "4/4")
    assert round(request.position_s * RATE) == bar[6]  # bar 7
