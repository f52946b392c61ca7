"""Putting musicgen-bridge where the user's other tools look for it: the REAPER scripts into
REAPER's resource folder, and the daemon into the login session (systemd, launchd, Task
Scheduler). Nothing here imports the daemon: these run before any model is loaded."""
