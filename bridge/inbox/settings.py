"""The [inbox] config section: the request folder the Reaper scripts write into."""

from __future__ import annotations

from pydantic import Field

from bridge.schema import Flag, Section


class InboxSettings(Section):
    enabled: Flag = Field(True, description="watch the requests/ folder (ReaScripts write there)")
    polling: Flag = Field(False, description=(
        "poll the folder every second (network drives and containers lack change events)"))
