"""One refusal type with a bounded reason, whichever input a refusal came through."""

from __future__ import annotations

import pytest

from bridge.config import ConfigError
from bridge.engine.base import EngineError
from bridge.errors import MAX_REASON_CHARS, UserError, bounded
from bridge.inbox.folder import RequestError
from bridge.jobs.conditioning import AudioInputError
from bridge.jobs.queue import QueueFull


@pytest.mark.parametrize("error", [
    ConfigError("x"), EngineError("x"), RequestError(["x"]), AudioInputError("x"), QueueFull(3),
])
def test_every_refusal_is_a_user_error(error):
    assert isinstance(error, UserError) and isinstance(error, ValueError)


def test_an_engine_refusal_is_still_a_runtime_error_for_old_callers():
    assert isinstance(EngineError("x"), RuntimeError)


def test_a_reason_cannot_forge_a_log_line_or_grow_without_bound():
    reason = UserError("bad name 'a\nINFO forged\r\x1b[31m' " + "k" * 100_000).reason
    assert "\n" not in reason and "\r" not in reason and "\x1b" not in reason
    assert "\\x0a" in reason  # escaped, still readable
    assert len(reason) <= MAX_REASON_CHARS
    assert reason.endswith("more characters)")


def test_lone_surrogates_from_undecodable_file_names_are_escaped():
    text = bounded("caf\udce9.json")
    text.encode("utf-8")  # writable to a UTF-8 log or .error.txt
    assert "caf" in text and ".json" in text
