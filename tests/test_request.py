import json

import pytest

from bridge.musical_time import Meter
from bridge.request import REQUEST_FIELDS, GenerationRequest


def test_from_dict_validates_and_normalizes():
    r = GenerationRequest.from_dict({"prompt": "x", "bpm": 97, "bars": 2, "meter": "7/8",
                                     "key": "c#m", "top_k": 100, "seed": -1})
    assert r.meter == Meter(7, 8) and r.key == "C# minor" and r.seed is None and r.top_k == 100


def test_every_problem_is_named_at_once():
    with pytest.raises(ValueError) as err:
        GenerationRequest.from_dict({"prompt": 3, "bpm": 0, "meter": "4/0", "cfg": 99, "colour": 1})
    text = str(err.value)
    for part in ("colour: unknown field", "prompt: must be a string", "bpm: bpm must be in",
                 "meter:", "bars: missing", "cfg: cfg must be in 1..15"):
        assert part in text


def test_round_trip_through_json_dict():
    r = GenerationRequest(prompt="x", bpm=120, bars=4, meter=Meter(6, 8), position_s=3.5,
                          seed=7, client_id="max-1")
    assert GenerationRequest.from_dict(r.to_dict()) == r


def test_with_changes_uses_the_same_checks():
    r = GenerationRequest(prompt="x", bpm=120, bars=4)
    assert r.with_changes(bpm=90).bpm == 90
    with pytest.raises(ValueError, match="bars"):
        r.with_changes(bars=0)


def test_schema_table_documents_every_field():
    assert all(f.doc for f in REQUEST_FIELDS)
    assert {f.name for f in REQUEST_FIELDS if f.required} == {"prompt", "bpm", "bars"}


# A journal line as the release before the pydantic schema wrote it (GenerationRequest.to_dict):
# pending jobs must survive the upgrade.
OLD_JOURNAL_REQUEST = (
    '{"prompt": "dusty drums", "bpm": 96.5, "bars": 3, "meter": "7/8", "key": "A minor", '
    '"top_k": 250, "top_p": 0.0, "temperature": 1.0, "cfg": 3.0, "variations": 1, "seed": 42, '
    '"position_s": 1.5, "client_id": "reaper", "quality": "hi-fi", "negative_prompt": "", '
    '"audio_prompt": null, "prompt_seconds": 8.0, "keep_prompt": false, "melody_audio": null, '
    '"loop": false, "tempo_lock": true, "parent_job": 3}'
)


def test_a_journal_line_from_the_previous_release_loads_and_is_written_back_the_same():
    data = json.loads(OLD_JOURNAL_REQUEST)
    r = GenerationRequest.from_dict(data)
    assert (r.meter, r.bpm, r.seed, r.tempo_lock, r.parent_job) == (Meter(7, 8), 96.5, 42, True, 3)
    written = r.to_dict()
    assert {k: v for k, v in written.items() if k in data} == data
    # Fields added since that release are written with their defaults ("use the daemon's").
    assert {k: v for k, v in written.items() if k not in data} == {
        "retries": None, "style": "", "style_strength": 1.0}
