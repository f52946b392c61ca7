-- Runs one MusicGen script against the fake reaper table and writes what happened as JSON.
--
--   lua5.4 tests/reaper/run.lua SCENARIO.json RESULT.json
--
-- The scenario gives the script path, the projects (tracks, items, ext state, time selection,
-- tempo map), queued dialog answers, how many defer cycles to run (each advances the fake
-- clock by dt seconds) and events to apply before given cycles: file writes and renames (clips
-- arriving), project tab switches, and "stop" (the user terminating a background script).
-- The result's "projects" can be passed back as the next scenario's, to run a script again on
-- the state it left (REAPER restarted, project reopened).

local here = arg[0]:match("^(.*[\\/])") or "./"
local root = here .. "../../"
local lib = dofile(root .. "reaper_scripts/MusicGen_lib.lua")
local Fake = dofile(here .. "fake_reaper.lua")
-- json.lua writes every empty table as [] and every 1..n table as an array: no marking needed.

local scenario_path, result_path = arg[1], arg[2]
local scenario = assert(lib.decode(assert(lib.read_file(scenario_path))))
local reaper_table, S = Fake.new(scenario)
_G.reaper = reaper_table

local events = {}
for _, e in ipairs(scenario.events or {}) do
  events[e.cycle] = events[e.cycle] or {}
  table.insert(events[e.cycle], e)
end

local result = { errors = {}, stopped = false, atexit_ran = false }

local function run_atexit()
  if result.atexit_ran then return end
  result.atexit_ran = true
  for _, fn in ipairs(S.atexit) do
    local ok, err = xpcall(fn, debug.traceback)
    if not ok then table.insert(result.errors, "atexit: " .. tostring(err)) end
  end
end

local function apply(e)
  if e.op == "write" then
    local f = assert(io.open(e.path, "wb"))
    f:write(e.text or "")
    f:close()
  elseif e.op == "rename" then
    assert(os.rename(e.from, e.to))
  elseif e.op == "switch" then
    S.current = e.project
  elseif e.op == "set" then
    S.projects[e.project or S.current][e.field] = e.value
  elseif e.op == "stop" then
    result.stopped = true
    S.deferred = nil
    run_atexit()
  else
    error("run.lua: unknown event op " .. tostring(e.op))
  end
end

local ok, err = xpcall(dofile, debug.traceback, scenario.script)
if not ok then table.insert(result.errors, tostring(err)) end

local cycles, dt = scenario.cycles or 0, scenario.dt or 0.05
result.cycles_run = 0
for cycle = 1, cycles do
  for _, e in ipairs(events[cycle] or {}) do apply(e) end
  if result.stopped or not S.deferred then break end
  local fn = S.deferred
  S.deferred = nil
  local fok, ferr = xpcall(fn, debug.traceback)
  result.cycles_run = cycle
  if not fok then
    table.insert(result.errors, tostring(ferr))
    S.deferred = nil  -- REAPER ends a script whose deferred function raised
  end
  S.clock = S.clock + dt
end

result.running = S.deferred ~= nil
if not result.running then run_atexit() end  -- REAPER runs atexit when a script ends

local function plain(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  return out
end

local calls = {}
for _, c in ipairs(S.calls) do
  local args = {}
  for i, a in ipairs(c.args) do args[i] = type(a) == "table" and "<object>" or a end
  calls[#calls + 1] = { name = c.name, args = args }
end

result.projects = S.dump()
result.current = S.current
result.extstate = S.extstate
result.dialogs = plain(S.dialogs)
result.messages = plain(S.messages)
result.console = table.concat(S.console)
result.renders = plain(S.renders)
result.undo = plain(S.undo)
result.ui_refresh = S.ui_refresh
result.calls = calls
result.next_guid = S.next_guid
result.clock = S.clock

local f = assert(io.open(result_path, "wb"))
f:write(lib.encode(result))
f:close()
