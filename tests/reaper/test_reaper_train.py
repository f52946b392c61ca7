"""'MusicGen - Train style from selected items' writes a training request the inbox accepts."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.inbox.train import is_train_request, parse_train_request
from tests.reaper.reaper_support import TRAIN, project


def items(paths: list[str], selected: bool = True) -> list[dict]:
    return [{"position": i * 8.0, "length": 6.0, "selected": selected,
             "takes": [{"name": Path(p).name, "source": p}]} for i, p in enumerate(paths)]


def test_selected_items_become_a_training_request(run_script, tmp_path):
    rpp = tmp_path / "song" / "song.rpp"
    files = [str(tmp_path / f"loop {i}.wav") for i in range(6)]
    tracks = [{"name": "bass", "items": items(files[:4]) + items([files[0]])},  # one twice
              {"name": "keys", "items": items(files[4:]) + items(["/x/unused.wav"], False)},
              {"name": "midi", "items": [{"selected": True, "takes": [{"name": "m"}]}]}]
    result = run_script(TRAIN, {"projects": [project(rpp, tracks=tracks)],
                                "inputs": [{"ok": True, "values": ["my_bass", "warm, round"]}]})
    assert result["errors"] == []
    (path,) = (rpp.parent / "MusicGen" / "requests").glob("*.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert is_train_request(data)
    name, clips, description = parse_train_request(data, path.parent)
    assert (name, description) == ("my_bass", "warm, round")
    assert clips == files  # each file once, in selection order; MIDI and unselected left out


def test_too_few_selected_items_are_refused_before_asking(run_script, tmp_path):
    rpp = tmp_path / "song.rpp"
    tracks = [{"name": "a", "items": items([str(tmp_path / "a.wav"), str(tmp_path / "b.wav")])}]
    result = run_script(TRAIN, {"projects": [project(rpp, tracks=tracks)], "inputs": []})
    assert result["errors"] == []
    assert "Select 5 to 50 audio items" in result["messages"][0]["text"]
    assert not (tmp_path / "MusicGen" / "requests").exists()
