-- The test's hand on the Ardour editor (an EditorHook on LuaTimerS, registered beside the
-- project's own "MusicGen: import clips as they finish" hook; see ardour_support.py).
--
-- It waits until the MusicGen track holds the expected number of regions, waits a few more
-- seconds (the importer keeps scanning: nothing may be imported twice), runs the project's
-- "MusicGen: continue from range" action on given regions with the selection and dialog
-- answers the test chose, then writes what Ardour holds into $MUSICGEN_TEST_REPORT and saves
-- the session. The chunk is called with the test's settings (a table) as its first argument.

local cfg = ...

-- Ardour's Lua has no dofile: read and load.
local function run_file (path)
	local f = assert (io.open (path, "rb"))
	local code = f:read ("a")
	f:close ()
	return assert (load (code, "@" .. path)) ()
end
local seen_at, done = nil, false

local function regions_of (track)
	local out = {}
	for r in track:playlist ():region_list ():iter () do
		local source = r:source (0):to_filesource ()
		out[#out + 1] = {
			name = r:name (), position = r:position ():samples (), length = r:length ():samples (),
			layer = r:layer (), source = source:isnil () and "" or source:path (),
			origin = source:isnil () and "" or source:origin (),
		}
	end
	return out
end

-- Runs an editor action script with the dialog answered and, given a region, that region
-- as the selection (without one, the real editor and its selection).
local function run_action (mg, script, region, answers)
	local record = { messages = {}, dialogs = 0 }
	local real_editor, real_dialog = Editor, LuaDialog
	local list = { iter = function ()
		local given = false
		return function () if given then return nil end given = true return region end
	end }
	if region then
		Editor = { get_selection = function () return { regions = { regionlist = function () return list end } } end }
	end
	LuaDialog = {
		MessageType = real_dialog.MessageType, ButtonType = real_dialog.ButtonType,
		Message = function (title, text)
			return { run = function () record.messages[#record.messages + 1] = text return 0 end }
		end,
		Dialog = function () return { run = function () record.dialogs = record.dialogs + 1 return answers end } end,
	}
	local ok, err = pcall (function ()
		ardour = function () end
		run_file (cfg.scripts .. "/" .. script)
		factory () ()
	end)
	Editor, LuaDialog = real_editor, real_dialog
	if not ok then record.error = tostring (err) end
	return record
end

local started_at

return function (signal, ref, ...)
	if done or not Session then return end
	started_at = started_at or os.time ()
	-- Past give_up_s the report goes out with whatever is there, so a failure shows what
	-- Ardour holds instead of a bare timeout.
	local giving_up = os.time () - started_at > cfg.give_up_s
	local route = Session:route_by_name ("MusicGen")
	if route:isnil () and not giving_up then return end
	local track = not route:isnil () and route:to_track () or nil
	if not giving_up then
		if #regions_of (track) < cfg.regions then return end
		if not seen_at then seen_at = os.time () return end
		if os.time () - seen_at < cfg.settle_s then return end
	end
	done = true

	local mg = run_file (cfg.scripts .. "/musicgen_lib.lua")
	local report = { tracks = {}, regions = track and regions_of (track) or {}, continues = {},
		gave_up = giving_up }
	for r in Session:get_routes ():iter () do report.tracks[#report.tracks + 1] = r:name () end
	for _, c in ipairs (track and cfg.continues or {}) do
		local chosen
		for r in track:playlist ():region_list ():iter () do
			if r:position ():samples () == c.position and r:name () == c.name then chosen = r end
		end
		if chosen then
			report.continues[#report.continues + 1] = run_action (mg, "musicgen_continue.lua", chosen, c.answers)
		else
			report.continues[#report.continues + 1] = { error = "no region " .. c.name .. " at " .. c.position }
		end
	end
	if cfg.loop then
		-- The real editor: no range selected, a loop range set, as a user would.
		Editor:get_selection ():clear_all ()
		Editor:set_loop_range (Temporal.timepos_t (cfg.loop.from), Temporal.timepos_t (cfg.loop.to), "MusicGen test loop")
		report.loop_generate = run_action (mg, "musicgen_generate.lua", nil, cfg.loop.answers)
	end
	local tm = Temporal.TempoMap.read ()
	report.bar_samples = {}
	for bar = 1, 8 do report.bar_samples[bar] = tm:sample_at_beats (tm:quarters_at_bbt (Temporal.BBT_TIME (bar, 1, 0))) end
	report.sample_rate = Session:nominal_sample_rate ()
	Session:save_state ("", false, false, false, false, false)
	mg.write_atomic (cfg.report, mg.encode (report))
end
