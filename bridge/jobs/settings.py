"""The [queue] config section: how many jobs may wait, and where they are journaled."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bridge.schema import Section, Text, int_range


class QueueSettings(Section):
    max_pending: Annotated[int, int_range(1, 1000)] = Field(16, description=(
        "queued jobs beyond this are refused"))
    journal: Text = Field("", description="pending-jobs journal (empty: in the data folder)")
