"""Fixtures shared by every test package. Tests never reach the network."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One torch thread: the tiny model gains nothing from more, and on a busy 2-core machine
# (CI, several test runs at once) spinning OpenMP threads made the suite 4x slower. Set before
# torch is imported, and inherited by the CLI subprocesses the end-to-end tests start.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight MusicGen checkpoint, built once per test session (noise, not music)."""
    from bridge.engine.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path):
    """The real TransformersEngine on the tiny model, on the CPU, loaded once per session."""
    from bridge.engine.transformers_engine import load_engine

    return load_engine(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="module")
def own_tiny_engine(tmp_path_factory: pytest.TempPathFactory):
    """A TransformersEngine on its own tiny model, one per test module: for tests that change
    the model they use (style adapters), so the shared ``tiny_engine`` stays the base model."""
    from bridge.engine.tiny_model import build_tiny_model
    from bridge.engine.transformers_engine import load_engine

    return load_engine(str(build_tiny_model(tmp_path_factory.mktemp("own-tiny"))), device="cpu")


@pytest.fixture
def no_thread_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread running (a server, worker or follower not stopped).

    Packages whose every test starts threads make it autouse in their own conftest.
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    leaked = [t for t in threading.enumerate() if t not in before]
    for thread in leaked:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in leaked if t.is_alive()]
    if alive:
        pytest.fail(f"the test leaked threads: {alive}")
