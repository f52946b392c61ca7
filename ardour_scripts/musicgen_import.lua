ardour {
	["type"]    = "EditorAction",
	name        = "MusicGen: import finished clips",
	license     = "MIT",
	author      = "musicgen-bridge contributors",
	description = [[Brings every clip the daemon finished for this session onto the "MusicGen" track
(made when missing) at the position it was asked for, once: the session remembers what it
imported (musicgen-ardour.json beside the session file). Variations of one request stack as
layers at the same place, the first on top. Partial files are never read.]]
}

function factory () return function ()
	local TITLE = "MusicGen: import finished clips"
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
	local mg = musicgen_lib ()
	if not mg then return end
	local n = mg.import_pending ()
	if n == 0 then
		mg.message (TITLE, "No new clips in " .. mg.folder (mg.load_state ()) .. ".", false)
	end
end end
