"""A MIDI controller stand-in in its own process: python-rtmidi's JACK API, driven by lines
on stdin, answering "ok" (or "error ...") per line.

    virtual NAME          open a virtual output port NAME on a client named NAME
    connect SUBSTRING     open an output connected to the first port containing SUBSTRING
    send B1 B2 ...        send one raw MIDI message (bytes as decimal numbers)
    sweep CH CC A B       CC values A..B (inclusive, either direction) on channel CH (1..16)
    flood N LEN           N sysex messages of LEN bytes, as fast as JACK takes them
    quit
"""

from __future__ import annotations

import sys
import time

import rtmidi


def main() -> None:
    out: rtmidi.MidiOut | None = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        command, args = words[0], words[1:]
        try:
            if command == "quit":
                break
            if command == "virtual":
                name = " ".join(args)
                out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=name)
                out.open_virtual_port(name)
            elif command == "connect":
                out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="jack-sender")
                names = out.get_ports()
                index = next(i for i, n in enumerate(names) if " ".join(args) in n)
                out.open_port(index)
            elif command == "send":
                assert out is not None
                out.send_message([int(b) for b in args])
            elif command == "sweep":
                assert out is not None
                channel, cc, a, b = (int(x) for x in args)
                step = 1 if b >= a else -1
                for value in range(a, b + step, step):
                    out.send_message([0xB0 | (channel - 1), cc, value])
                    time.sleep(0.0005)
            elif command == "flood":
                assert out is not None
                count, length = int(args[0]), int(args[1])
                body = [0xF0, 0x7D, *([0x55] * (length - 3)), 0xF7]
                for _ in range(count):
                    out.send_message(body)
            else:
                raise ValueError(f"unknown command {command!r}")
        except Exception as err:  # report to the test instead of dying silently
            print(f"error {err!r}", flush=True)
            continue
        print("ok", flush=True)
    if out is not None:
        out.close_port()
        out.delete()


if __name__ == "__main__":
    main()
