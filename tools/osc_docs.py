"""Render docs/osc.md from the OSC address table, so the docs cannot drift from the code.

``python -m tools.osc_docs`` rewrites docs/osc.md; a test fails when the file differs
from ``render()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bridge.musical_time import MAX_BARS, MAX_BPM, MIN_BPM
from bridge.osc.addresses import (
    INPUTS,
    OUTPUTS,
    REAPER_ADDRESSES,
    REAPER_IGNORED_ROOTS,
    OscAddress,
)
from bridge.osc.coerce import MAX_STRING_CHARS
from bridge.osc.feedback import OSC_PROGRESS_STEP

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "osc.md"

INTRO = f"""\
# OSC control surface

`musicgen-bridge serve` listens for OSC over UDP on `127.0.0.1:9000` (`[osc] host`/`port` in
the config, `--osc-host`/`--osc-port` on the command line) and sends feedback to
`127.0.0.1:9001` (`[osc] feedback`, `--feedback HOST:PORT`, repeatable). Reaper, Ableton Live
(the Max for Live device, or AbletonOSC), TouchOSC, Open Stage Control, Pure Data and liblo's
`oscsend` all work; every address is below.

This file is generated from `bridge/osc/addresses.py` by
`python -m tools.osc_docs`; edit the table, not this file.

## Trying it

```sh
oscdump 9001 &                                        # watch the feedback
oscsend localhost 9000 /musicgen/prompt s "dusty funk drums"
oscsend localhost 9000 /musicgen/tempo f 92
oscsend localhost 9000 /musicgen/knob/temperature f 0.5
oscsend localhost 9000 /musicgen/generate
```

## Arguments

- Types are OSC type tags: `i` 32-bit integer, `f` 32-bit float, `s` string. Arguments in
  `[brackets]` are optional.
- Numbers are accepted as either type: an `i` argument takes a float (rounded to the nearest
  integer) or an OSC true/false, an `f` argument takes an integer. Max sends floats from dials
  and integers from number boxes; both just work.
- OSC floats are 32-bit, so `128.3` travels as 128.30000305; the daemon reads a float as the
  shortest decimal with the same 32-bit value (128.3), so tempos and positions stay exact.
- A trailing text argument takes several words: Max sends `/musicgen/prompt dusty funk drums`
  as three strings, which arrive joined by spaces.
- Refused with an error: NaN and infinity, strings longer than {MAX_STRING_CHARS} characters,
  blobs, nil, arrays, the wrong number of arguments, and values out of range (tempo
  {MIN_BPM:g}..{MAX_BPM:g}, bars 1..{MAX_BARS}, ...). The sampling knobs and variations are
  clamped into range instead; the echo says what was applied.
- `-1` means "none" where noted: `/musicgen/seed -1` (a random seed per job),
  `/musicgen/position -1` (no position), `/musicgen/tempo_lock -1` (the config's `[fit]`
  setting).
- Address patterns (`*`, `?`, `[..]`, `{{..}}`) are refused: send each full address.
- Bundles are accepted: their messages are handled in order, at once (time tags are not
  honoured). A bundle with any malformed part is refused whole.

## Where replies and feedback go

- A reply to a request (the echo of a value it set, `/musicgen/pong`, the `/musicgen/state`
  dump, an error about it) goes back to the address and port the request came from, and to the
  reply port the sender registered with `/musicgen/client`.
- Every state change is echoed on its own address with the value actually applied (after
  clamping) to the feedback targets and every registered client, whatever changed it: OSC,
  MIDI, Live, REAPER.
- A job's `/musicgen/queued`, `/musicgen/progress` (once per {OSC_PROGRESS_STEP:.0%} step),
  `/musicgen/clip` and errors go to the feedback targets and to the job's client: the
  registered client of the sender that asked for it, or that sender itself.
  `/musicgen/status` goes to the targets and every registered client.
- A device that sends from one port and listens on another (Max's `[udpsend]` and
  `[udpreceive]`) registers once with `/musicgen/client <id> <listen port>`; re-registering
  the same id replaces the port.
- Errors (`/musicgen/error <about> <reason>`) also go to the feedback targets. Every refusal is
  logged by the daemon too, and the daemon keeps answering.

## Security

On loopback (the default) every sender on this machine is obeyed. With `[osc] host` set to
another address (`0.0.0.0` for every interface) the daemon obeys this machine and the senders
in `[osc] allow` (addresses, networks like `192.168.1.0/24`, or host names); datagrams from
anyone else are logged and dropped without a reply.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _args(spec: OscAddress) -> str:
    parts = []
    for arg in spec.args:
        part = f"{arg.name} `{arg.type}`"
        parts.append(f"[{part}]" if arg.optional else part)
    return ", ".join(parts) or "—"


def _table(specs: tuple[OscAddress, ...] | list[OscAddress], *, replies: bool) -> list[str]:
    header = "| Address | Arguments | Meaning |" + (" Reply |" if replies else "")
    rule = "| --- | --- | --- |" + (" --- |" if replies else "")
    rows = [header, rule]
    for spec in specs:
        row = f"| `{spec.address}` | {_cell(_args(spec))} | {_cell(spec.meaning)} |"
        if replies:
            row += f" {_cell(spec.reply) if spec.reply else '—'} |"
        rows.append(row)
    return rows


def render() -> str:
    lines = [INTRO, "## Addresses the daemon listens to", ""]
    lines += _table(INPUTS, replies=True)
    lines += ["", "## Messages the daemon sends", ""]
    lines += _table(OUTPUTS, replies=False)
    lines += [
        "",
        "## REAPER's control surface",
        "",
        "`reaper_scripts/MusicGen.ReaperOSC` makes REAPER's OSC control surface send its tempo",
        "and transport to the daemon (setup: docs/reaper.md). The daemon acts on:",
        "",
    ]
    lines += _table(REAPER_ADDRESSES, replies=True)
    roots = ", ".join(f"`/{root}`" for root in sorted(REAPER_IGNORED_ROOTS))
    lines += [
        "",
        "Everything else a REAPER surface sends is ignored quietly (logged at DEBUG), without an",
        f"error reply: addresses starting with {roots}.",
        "",
        "## Ableton Live through AbletonOSC",
        "",
        "With `[osc] abletonosc = true` the daemon follows Live's tempo and meter without the Max",
        "for Live device: it sends `/live/song/start_listen/tempo`, `signature_numerator` and",
        "`signature_denominator` to AbletonOSC (`[osc] abletonosc_host`, port",
        "`abletonosc_port`, 11000) and listens for `/live/song/get/...` on",
        "`abletonosc_reply_port` (11001). A `/live/test` heartbeat every few seconds notices",
        "when Live restarts, and the daemon subscribes again.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    path = Path(argv[0]) if argv else DOC_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
