-- Runs the MusicGen editor actions in a real, headless Ardour (ardour7-lua, the dummy backend).
--
--   XDG_CONFIG_HOME=... ardour7-lua tests/ardour/headless.lua SCENARIO.json RESULT.json
--
-- The scenario names a session to create, a tempo map to set (Ardour's own Temporal API) and
-- action runs. Only the editor's GUI objects are stand-ins: Editor:get_selection() returns
-- the scenario's range, and LuaDialog hands back the scenario's answers and records what it
-- was asked. Session, the tempo map and the files are Ardour's and the disk's. The result
-- holds Ardour's own bar lines (samples) so the test can check the scripts against them.
-- Ardour loses buffered output when it aborts: everything goes into RESULT.json, written at
-- the end and after each run.

local scenario_path, result_path = arg[1], arg[2]

-- As in the editor, scripts are read and loaded (the editor's Lua has no dofile).
local function run_file (path)
	local f = assert (io.open (path, "rb"))
	local code = f:read ("a")
	f:close ()
	return assert (load (code, "@" .. path)) ()
end
local scripts = ARDOUR.user_config_directory (-1) .. "/scripts/"
local mg = run_file (scripts .. "musicgen_lib.lua")
local sc = assert (mg.decode (assert (mg.read_file (scenario_path))))
local result = { runs = {}, errors = {} }

local function save_result ()
	local f = assert (io.open (result_path, "wb"))
	f:write (mg.encode (result))
	f:close ()
end

AudioEngine:set_backend ("None (Dummy)", "", "")
local session = create_session (sc.session_dir, sc.session_name, sc.sample_rate)
if not session then
	result.errors[#result.errors + 1] = "create_session failed"
	save_result ()
	quit ()
end
local sr = Session:nominal_sample_rate ()
if sc.make_inbox then
	-- What the daemon's inbox does when it starts; requests written before it runs wait there.
	os.execute ("mkdir -p '" .. sc.session_dir .. "/MusicGen/requests'")
end
result.sample_rate = sr

-- The tempo map: each change at a position given in quarter notes from the start.
local tm = Temporal.TempoMap.fetch_writable ()
for _, t in ipairs (sc.tempo) do
	local pos = Temporal.timepos_t.from_ticks (math.floor (t.quarters * Temporal.ticks_per_beat + 0.5))
	tm:set_tempo (Temporal.Tempo (t.bpm, t.bpm, 4), pos)
	tm:set_meter (Temporal.Meter (t.num, t.denom), pos)
end
Temporal.TempoMap.update (tm)
tm = Temporal.TempoMap.read ()

-- Ardour's bar lines, as samples: bar_samples[n] is where bar n starts.
result.bar_samples = {}
for bar = 1, sc.bars_to_report do
	local q = tm:quarters_at_bbt (Temporal.BBT_TIME (bar, 1, 0))
	result.bar_samples[bar] = tm:sample_at_beats (q)
end

local function bar_sample (b) return result.bar_samples[b] end

for i, run in ipairs (sc.runs) do
	local record = { messages = {}, dialogs = {} }
	result.runs[i] = record
	local start = run.from_bar and bar_sample (run.from_bar) or run.start
	local stop = run.to_bar and bar_sample (run.to_bar) or math.tointeger (run.stop)
	record.start, record.stop = start, stop

	local time = {
		empty = function () return start == nil end,
		start_sample = function () return start end,
		end_sample = function () return stop end,
	}
	Editor = { get_selection = function () return { time = time } end }
	LuaDialog = {
		MessageType = { Info = 0, Warning = 1, Question = 2, Error = 3 },
		ButtonType = { OK = 0, Close = 1, Cancel = 2, Yes_No = 3, OK_Cancel = 4 },
		Message = function (title, text, kind)
			return { run = function ()
				record.messages[#record.messages + 1] = { title = title, text = text, kind = kind }
				return 0
			end }
		end,
		Dialog = function (title, fields)
			return { run = function ()
				local heading = ""
				local keys = {}
				for _, f in ipairs (fields) do
					if f.type == "heading" then heading = f.title end
					if f.key then keys[#keys + 1] = f.key end
				end
				record.dialogs[#record.dialogs + 1] = { title = title, heading = heading,
					keys = table.concat (keys, ",") }
				return run.answers  -- nil: the user pressed Cancel
			end }
		end,
	}
	local ok, err = pcall (function ()
		-- The action as Ardour runs it: the script's factory, called with no parameters.
		ardour = function () end
		run_file (scripts .. run.script)
		factory () ()
	end)
	if not ok then result.errors[#result.errors + 1] = run.script .. ": " .. tostring (err) end
	save_result ()
end

Session:save_state ("", false, false, false, false, false)
save_result ()
close_session ()
quit ()
