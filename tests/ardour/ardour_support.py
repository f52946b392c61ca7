"""Running the real Ardour 7 for the tests: headless (ardour7-lua) and the editor under Xvfb.

Debian packages: ``ardour`` (the editor, ``ardour7-lua``) and ``xvfb``; ``.ci/setup --test``
installs them. A missing one fails the tests with the install command, like lua5.4 does.

The editor is prepared the way a user's would be, in a private XDG_CONFIG_HOME:
- ``config``: the dummy audio backend, started without asking (Ardour hides that backend
  unless ``hide-dummy-backend`` is off, and shows the Audio/MIDI dialog unless the engine can
  autostart);
- ``.a7``: Ardour has run before, so no first-run wizard;
- ``ui_scripts``: the action hooks Ardour's Script Manager saves, here the project's own
  "MusicGen: import clips as they finish" and the test's driver (gui_driver.lua).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARDOUR_SCRIPTS = ROOT / "ardour_scripts"
INSTALL_HINT = "install it: apt-get install ardour xvfb (or bash .ci/setup --test)"

# Ardour 7.3 keeps a hook's signals as a std::bitset string, bit i = LuaSignal i in the order
# of gtk2_ardour/luasignal_syms.h; LuaTimerS is number 46 there (fires many times a second).
LUA_TIMER_S_SIGNALS = "1" + "0" * 46

ENGINE_CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<Ardour>
  <Config>
    <Option name="try-autostart-engine" value="1"/>
    <Option name="hide-dummy-backend" value="0"/>
  </Config>
  <Extra>
    <AudioMIDISetup>
      <EngineStates>
        <State backend="None (Dummy)" driver="Normal Speed" device="Silence" input-device=""
               output-device="" sample-rate="{rate}" buffer-size="1024" n-periods="0"
               input-latency="0" output-latency="0" lm-input="" lm-output="" active="1"
               use-buffered-io="0" midi-option="" lru="{now}">
          <MIDIDevices/>
        </State>
      </EngineStates>
    </AudioMIDISetup>
  </Extra>
</Ardour>
"""


def tool(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"{' / '.join(names)} not found: {INSTALL_HINT}")


def scripts_dir(config_home: Path) -> Path:
    """Where Ardour looks for user scripts when XDG_CONFIG_HOME is config_home."""
    return config_home / "ardour7" / "scripts"


def ardour_env(config_home: Path) -> dict[str, str]:
    """Ardour's per-user folders (config, clip library, caches) inside the test's folder."""
    base = config_home.parent
    return {**os.environ, "XDG_CONFIG_HOME": str(config_home),
            "XDG_DATA_HOME": str(base / "data"), "XDG_CACHE_HOME": str(base / "cache")}


def run_headless(config_home: Path, scenario: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Run tests/ardour/headless.lua in ardour7-lua; return its result (see that file)."""
    scenario_path, result_path = tmp / "scenario.json", tmp / "headless-result.json"
    scenario_path.write_text(json.dumps(scenario), encoding="utf-8")
    proc = subprocess.run(
        [tool("ardour7-lua"), str(HERE / "headless.lua"), str(scenario_path), str(result_path)],
        env=ardour_env(config_home), capture_output=True, text=True, timeout=60)
    assert result_path.is_file(), f"ardour7-lua wrote no result:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(result_path.read_text(encoding="utf-8"))
    assert not result["errors"], f"{result['errors']}\n{proc.stdout}\n{proc.stderr}"
    return result


def lua_string(text: str) -> str:
    return '"' + (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                  .replace("\r", "\\r").replace("\0", "\\0")) + '"'


def lua_value(value: Any) -> str:
    """A Lua literal for JSON-like data (the driver's settings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"[{lua_string(k)}] = {lua_value(v)}" for k, v in value.items()) + "}"
    return "{" + ", ".join(lua_value(v) for v in value) + "}"


def hook_node(name: str, script: str, chunk: str) -> str:
    """One <LuaCallback> as Ardour's Script Manager saves it: base64 of a Lua assignment
    holding the script text (s), the factory (f) and its arguments (a). Ardour stores f as
    bytecode of the script's factory; Lua's load() takes source as well, so f is source of a
    chunk that, called with the arguments, returns the callback, as factory(params) does."""
    state = f's = {{}} s["n"] = {lua_string(name)} s["s"] = {lua_string(script)} ' \
            f's["f"] = {lua_string(chunk)} s["a"] = {{}} '
    payload = base64.b64encode(state.encode("utf-8")).decode("ascii")
    node_id = str(zlib.crc32(name.encode("utf-8")))
    return (f'    <LuaCallback lua="Lua 5.3" id="{node_id}" name="{name}" '
            f'signals="{LUA_TIMER_S_SIGNALS}">{payload}</LuaCallback>\n')


def prepare_editor(config_home: Path, driver: dict[str, Any], rate: int) -> None:
    """Engine settings, the first-run marker and the two hooks for the editor."""
    folder = config_home / "ardour7"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".a7").touch()
    (folder / "config").write_text(ENGINE_CONFIG.format(rate=rate, now=int(time.time())),
                                   encoding="utf-8")
    importer = (scripts_dir(config_home) / "musicgen_auto_import.lua").read_text(encoding="utf-8")
    # The installed script, run as Ardour runs a registered hook: factory(params).
    importer_chunk = "local ardour = function () end\n" + importer + "\nreturn factory (...)\n"
    test_driver = (HERE / "gui_driver.lua").read_text(encoding="utf-8")
    driver_chunk = ("return (function (...)\n" + test_driver + "\nend) ("
                    + lua_value(driver) + ")\n")
    (folder / "ui_scripts").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<UIScripts>\n'
        '  <ActionScript lua="Lua 5.3"></ActionScript>\n  <ActionHooks>\n'
        + hook_node("MusicGen: import clips as they finish", importer, importer_chunk)
        + hook_node("test driver", test_driver, driver_chunk)
        + "  </ActionHooks>\n</UIScripts>\n", encoding="utf-8")


def forget_engine_hints(session_file: Path) -> None:
    """A session remembers the audio device it was made with; a mismatch asks the user in a
    dialog. Without the hint the editor just starts the configured engine."""
    text = session_file.read_text(encoding="utf-8")
    session_file.write_text(re.sub(r"\s*<EngineHints[^>]*/>", "", text), encoding="utf-8")


def run_editor(config_home: Path, session_file: Path, report: Path, log_path: Path,
               timeout_s: float) -> dict[str, Any]:
    """Open the session in the Ardour editor under Xvfb until the driver writes its report."""
    forget_engine_hints(session_file)
    command = [tool("xvfb-run"), "-a", "-s", "-screen 0 1280x900x24",
               tool("ardour7", "ardour"), "--no-splash", "--no-announcements", str(session_file)]
    env = ardour_env(config_home)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and not report.is_file() and proc.poll() is None:
                time.sleep(0.2)
        finally:
            # Our own process group: xvfb-run, its Xvfb and Ardour.
            for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                if proc.poll() is not None:
                    break
                os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    pass
    tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
    assert report.is_file(), f"the editor wrote no report in {timeout_s} s; its log ends:\n{tail}"
    return json.loads(report.read_text(encoding="utf-8"))
