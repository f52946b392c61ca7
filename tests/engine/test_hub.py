"""First run: a cached hub model is used with no network; a missing one offline fails at once
with one message naming the offline way out."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.engine import hub
from bridge.engine.base import EngineError

REPO = "someone/musicgen-test"


def _fake_cache(cache: Path, model_dir: Path, repo: str = REPO) -> Path:
    """The hub cache layout (blobs, refs/main, snapshots/REV with links), as a download makes."""
    root = cache / f"models--{repo.replace('/', '--')}"
    revision = "0" * 40
    snapshot = root / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (root / "blobs").mkdir()
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(revision)
    for file in model_dir.iterdir():
        data = file.read_bytes()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "hub"
    folder.mkdir()
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(folder))
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    return folder


def test_a_cached_model_is_used_without_the_network(cache, tiny_model_dir, monkeypatch):
    snapshot = _fake_cache(cache, tiny_model_dir)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "_download_size", lambda repo: pytest.fail("asked the network"))
    assert Path(hub.resolve_hub_model(REPO)) == snapshot
    hub.check_reachable(REPO)  # no error, no network
    # Identical files share one blob: the cache holds each content once.
    expected = sum(len(c) for c in {f.read_bytes() for f in tiny_model_dir.iterdir()})
    assert hub.cached_size(REPO) == expected


def test_missing_offline_fails_with_one_message_naming_tiny_model(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError) as err:
        hub.check_reachable("facebook/musicgen-small")
    message = str(err.value)
    assert "facebook/musicgen-small" in message and "musicgen-bridge tiny-model" in message
    assert "local checkpoint directory" in message


def test_unreachable_hub_is_one_message_not_retries(cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on discard
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(EngineError, match="cannot be reached.*tiny-model"):
        hub.check_reachable("facebook/musicgen-small")


def test_the_download_announces_name_and_size_once(cache, monkeypatch, tiny_model_dir):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "_download_size", lambda repo: 2_370_000_000)
    fetched = []

    def fake_snapshot_download(repo_id, **kw):
        if kw.get("local_files_only"):
            raise FileNotFoundError("not cached")
        fetched.append((repo_id, kw))
        return str(tiny_model_dir)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    lines = []
    assert hub.resolve_hub_model("facebook/musicgen-small", announce=lines.append) == \
        str(tiny_model_dir)
    assert len(lines) == 1
    assert lines[0].startswith("downloading facebook/musicgen-small (2.4 GB) once")
    assert fetched[0][1]["allow_patterns"] and "*.safetensors" in fetched[0][1]["allow_patterns"]


@pytest.mark.slow
def test_generate_offline_without_the_model_fails_once_and_clearly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "generate", "--prompt", "drums", "--out",
         str(tmp_path / "out"), "--no-progress"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
             "MUSICGEN_BRIDGE_CONFIG": str(tmp_path / "absent.toml")})
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr  # no retry warnings, one message
    assert "musicgen-bridge tiny-model" in lines[0] and "facebook/musicgen-small" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
