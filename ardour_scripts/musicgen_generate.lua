ardour {
	["type"]    = "EditorAction",
	name        = "MusicGen: generate from range",
	license     = "MIT",
	author      = "musicgen-bridge contributors",
	description = [[Asks a running musicgen-bridge daemon for a clip exactly as long as the range
selection (or the loop range), at the tempo and meter Ardour's tempo map has at the range start.
A dialog asks for the prompt and the knobs; the clip lands on the "MusicGen" track over the
range once "MusicGen: import finished clips" (or the auto-import hook) brings it in. A range
with a tempo or meter change inside is refused with the bar where it changes.]]
}

function factory () return function ()
	local TITLE = "MusicGen: generate from range"
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
	local start, stop = mg.range ()
	if not start then return mg.message (TITLE, stop, true) end
	local ctx, why = mg.context (start, stop, Session:nominal_sample_rate ())
	if not ctx then return mg.message (TITLE, why, true) end
	local heading = string.format ("%s BPM, %s, from bar %d", mg.fmt (ctx.bpm), ctx.meter, ctx.bar)
	local extra = {}
	if ctx.bars then
		heading = heading .. string.format (", %d bar%s", ctx.bars, ctx.bars == 1 and "" or "s")
	else
		-- Not whole bars: clips are whole bars, so ask how many, from the range start.
		extra[1] = { type = "number", key = "bars", min = 1, max = mg.LIMITS.bars[2], step = 1,
			digits = 0, default = math.max (1, math.floor (ctx.bars_exact + 0.5)),
			title = string.format ("Bars (the range is %.2f)", ctx.bars_exact) }
	end
	mg.request_over (heading, ctx, extra, function (req, answers)
		if req.prompt == "" then return "Type what to generate, e.g. \"dusty funk drums\"." end
		if not ctx.bars then req.bars = math.floor ((tonumber (answers.bars) or 0) + 0.5) end
	end)
end end
