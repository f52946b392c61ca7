"""musicgen-bridge: a daemon that bridges DAWs to MusicGen and drops bar-exact clips into the project."""

__version__ = "0.1.0"
