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
	local mg = musicgen_lib ()
	if not mg then return end
	local n = mg.import_pending ()
	if n == 0 then
		mg.message (TITLE, "No new clips in " .. mg.folder (mg.load_state ()) .. ".", false)
	end
end end
