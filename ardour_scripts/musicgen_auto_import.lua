ardour {
	["type"]    = "EditorHook",
	name        = "MusicGen: import clips as they finish",
	license     = "MIT",
	author      = "musicgen-bridge contributors",
	description = [[Does what "MusicGen: import finished clips" does, by itself, about once a second
while the session is open (not while recording). Add it in Edit > Lua Scripts > Script Manager >
Action Hooks.]]
}

function signals ()
	local s = LuaSignal.Set ()
	s:add ({ [LuaSignal.LuaTimerS] = true })
	return s
end

function factory (params) return function (signal, ref, ...)
	-- <musicgen_lib> the same in every MusicGen script (tests/ardour checks): the shared code
	-- sits beside this script (musicgen-bridge ardour install puts it there). Ardour keeps only
	-- factory's bytecode and its Lua has no dofile, so this is here and reads, then loads.
	local function musicgen_lib ()
		local path = ARDOUR.user_config_directory (-1) .. "/scripts/musicgen_lib.lua"
		local f = io.open (path, "rb")
		if not f then
			LuaDialog.Message ("MusicGen", path .. " is missing: run musicgen-bridge ardour install",
				LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
			return nil
		end
		local code = f:read ("a")
		f:close ()
		return assert (load (code, "@" .. path)) ()
	end
	-- </musicgen_lib>
	-- Ardour 7 fires this "second" timer many times a second: look at the folder once a
	-- second, and never while an import (which runs Ardour's event loop) is under way.
	if _musicgen_busy or os.time () == _musicgen_last_scan then return end
	if not Session or Session:actively_recording () then return end
	_musicgen_busy, _musicgen_last_scan = true, os.time ()
	if _musicgen_lib == nil then _musicgen_lib = musicgen_lib () or false end  -- told once
	local ok, err = pcall (function () if _musicgen_lib then _musicgen_lib.import_pending () end end)
	_musicgen_busy = false
	if not ok then print ("MusicGen: import failed: " .. tostring (err)) end
end end
