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
	-- The shared code sits beside this script in Ardour's scripts folder (musicgen-bridge ardour
	-- install puts it there). Defined inside factory: Ardour keeps only factory's bytecode.
	local function musicgen_lib ()
		local dirs = { ARDOUR.user_config_directory (-1) .. "/scripts" }
		local sep = os.getenv ("OS") == "Windows_NT" and ";" or ":"
		for d in (os.getenv ("ARDOUR_DATA_PATH") or ""):gmatch ("[^" .. sep .. "]+") do
			dirs[#dirs + 1] = d .. "/scripts"
		end
		for _, d in ipairs (dirs) do
			-- Ardour's Lua has no dofile or require: read the file and load it.
			local f = io.open (d .. "/musicgen_lib.lua", "rb")
			if f then
				local code = f:read ("a")
				f:close ()
				return assert (load (code, "@" .. d .. "/musicgen_lib.lua")) ()
			end
		end
		LuaDialog.Message ("MusicGen", "musicgen_lib.lua is not in " .. table.concat (dirs, " or ")
			.. ". Install the scripts again with: musicgen-bridge ardour install",
			LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
	end
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
