"""The inbox tests' shared fixture: ``make_box`` (a started daemon with its inbox)."""

from tests.inbox.test_inbox import make_box  # noqa: F401 - a fixture, found by name
