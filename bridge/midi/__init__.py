"""MIDI control: knobs, pads, program changes and clock drive the daemon (mido + python-rtmidi).

Pure layers (``mapping``, ``triggers``, ``clock``, ``learn``) are separate from the port code
(``ports``) and the service that wires them to a daemon (``service``); ``feedback`` echoes
state back to the controller's LEDs and motor faders.
"""
