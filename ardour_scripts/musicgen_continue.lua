ardour {
	["type"]    = "EditorAction",
	name        = "MusicGen: continue from range",
	license     = "MIT",
	author      = "musicgen-bridge contributors",
	description = [[Continues the selected audio region: its source file is the audio prompt, and
the new bars (at the tempo and meter of Ardour's tempo map there) land on the "MusicGen" track
right after the region. Needs a daemon whose model can continue audio.]]
}

function factory () return function ()
	local TITLE = "MusicGen: continue from range"
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
	local region
	for r in Editor:get_selection ().regions:regionlist ():iter () do region = r break end
	if not region or region:isnil () then
		return mg.message (TITLE, "Select the audio region to continue (click it with the Grab tool).", true)
	end
	local ar = region:to_audioregion ()
	if ar:isnil () then return mg.message (TITLE, "The selected region is not audio.", true) end
	local source = region:source (0):to_filesource ()
	if source:isnil () then return mg.message (TITLE, "The region's audio is not a file.", true) end
	local sr = Session:nominal_sample_rate ()
	local start = region:position ():samples ()
	local stop = start + region:length ():samples ()
	-- The daemon continues from the end of the file: a region trimmed short of its file's
	-- end would be continued from audio the user cut away.
	local unused = region:source (0):length ():samples () - (region:start ():samples () + region:length ():samples ())
	if unused > sr * 0.01 then
		return mg.message (TITLE, string.format ("The region stops %.2f s before the end of its "
			.. "file %s, and the daemon continues from the file's end. Bounce the region "
			.. "to a new file and continue that one.", unused / sr, source:path ()), true)
	end
	local ctx, why = mg.context (start, stop, sr)
	if not ctx then return mg.message (TITLE, why, true) end
	local seconds = (stop - start) / sr
	local extra = { { type = "number", key = "bars", title = "Bars to add", min = 1,
		max = mg.LIMITS.bars[2], step = 1, digits = 0, default = 4 } }
	local heading = string.format ("Continue '%s': %s BPM, %s", region:name (), mg.fmt (ctx.bpm),
		ctx.meter)
	ctx.position_s = stop / sr  -- the continuation starts where the region ends
	mg.request_over (heading, ctx, extra, function (req, answers)
		req.bars = math.floor ((tonumber (answers.bars) or 0) + 0.5)
		-- The prompt and the new bars share one tempo and meter, or the range is refused.
		local whole, change = mg.context (start, math.floor (stop + req.bars * ctx.bar_s * sr + 0.5), sr)
		if not whole then
			return (change:gsub ("inside the range", "between the region start and the end of the new bars"))
		end
		req.audio_prompt = source:path ()
		-- MusicGen reads at most the last 25 s; a longer region still works.
		req.prompt_seconds = math.max (mg.LIMITS.prompt_seconds[1], math.min (mg.LIMITS.prompt_seconds[2], seconds))
		if seconds < mg.LIMITS.prompt_seconds[1] then
			return "The region is shorter than half a second: too little to continue from."
		end
	end)
end end
