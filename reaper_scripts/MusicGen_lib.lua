-- @noindex
-- MusicGen bridge: code shared by the MusicGen scripts (loaded with dofile, not an action).
--
-- JSON, paths, the MusicGen folder of a project, per-project settings and request writing.
-- Written for the Lua of REAPER 6 (5.3) and REAPER 7 (5.4): no <const>/<close>.

local M = {}

M.VERSION = "1.0.0"
M.EXT = "MusicGen"                  -- ExtState / ProjExtState section for settings
M.IMPORTED = "MusicGen_imported"    -- ProjExtState: clip file name -> job id, once imported
M.GROUPS = "MusicGen_items"         -- ProjExtState: job key -> item GUID (variations as takes)
M.TRACK_NAME = "MusicGen"
M.CLIENT_ID = "reaper"
M.REQUESTS = "requests"             -- inside the MusicGen folder, as the daemon's inbox expects
M.AUDIO = "audio"                   -- requests/audio: rendered audio prompts
M.AUDIO_EXTENSIONS = { wav = true, flac = true, aif = true, aiff = true, ogg = true, mp3 = true }

-- Settings the Settings script stores per project; names are request fields (checked against
-- the schema by tests/reaper/test_contract.py).
M.SETTING_FIELDS = { "variations", "top_k", "top_p", "temperature", "cfg", "quality",
                     "negative_prompt" }

-- The sidecar fields the importer reads; each must exist in bridge/output/sidecar.py.
M.SIDECAR_FIELDS_USED = {
  "prompt", "full_prompt", "bpm", "meter", "key", "bars", "seed", "top_k", "top_p",
  "temperature", "cfg", "model", "duration_s", "job_id", "variation", "created",
  "position_s", "client_id",
}

local script_dir = debug.getinfo(1, "S").source:match("^@?(.*[\\/])") or ""
M.script_dir = script_dir
M.schema = dofile(script_dir .. "MusicGen_schema.lua")

----------------------------------------------------------------------------------------------
-- JSON
----------------------------------------------------------------------------------------------

-- rxi/json.lua (MIT), vendored unmodified as MusicGen_json.lua from github.com/rxi/json.lua
-- (commit dbf4b2d). JSON null decodes to nil, an absent key: callers test fields with
-- `if t.position_s then`. Numbers are written with 14 significant digits (seeds, bars, tempi
-- and positions need far fewer).
local json = dofile(script_dir .. "MusicGen_json.lua")

-- Numbers are formatted and read with the C library, which follows the locale: a
-- comma-decimal locale must not turn 97.3 into 97,3 in JSON.
local function in_c_locale(fn, arg)
  local old = os.setlocale and os.setlocale(nil, "numeric")
  if old then os.setlocale("C", "numeric") end
  local ok, result = pcall(fn, arg)
  if old then os.setlocale(old, "numeric") end
  return ok, result
end

-- json.lua raises its messages with the position in json.lua itself in front: drop it.
local function json_message(err)
  return (tostring(err):gsub("^.-MusicGen_json%.lua:%d+: ", ""))
end

-- Lua value -> JSON text. Raises for what JSON cannot hold (NaN, a function, a sparse array).
function M.encode(value)
  local ok, text = in_c_locale(json.encode, value)
  if not ok then error("cannot write JSON: " .. json_message(text), 0) end
  return text
end

-- JSON text -> Lua value, or nil and a message naming the line and column.
function M.decode(text)
  if type(text) ~= "string" then return nil, "no text to decode" end
  if not text:find("%S") then return nil, "no JSON value: the text is empty" end
  local ok, value = in_c_locale(json.decode, text)
  if not ok then return nil, json_message(value) end
  if value == nil then return nil, "the JSON value is null" end
  return value
end

----------------------------------------------------------------------------------------------
-- Paths and files
----------------------------------------------------------------------------------------------

function M.is_windows()
  return (reaper.GetOS() or ""):find("^Win") ~= nil
end

function M.sep()
  return M.is_windows() and "\\" or "/"
end

function M.join(dir, name)
  if dir == nil or dir == "" then return name end
  if dir:find("[\\/]$") then return dir .. name end
  return dir .. M.sep() .. name
end

function M.basename(path)
  return path:match("([^\\/]*)$")
end

function M.dirname(path)
  return path:match("^(.*)[\\/][^\\/]*$")
end

-- "clip.v2.wav" -> "clip.v2", "wav" (extension lower-cased, "" when none).
function M.split_ext(name)
  local stem, ext = name:match("^(.+)%.([^.]+)$")
  if not stem then return name, "" end
  return stem, ext:lower()
end

function M.is_absolute(path)
  return path:find("^[\\/]") ~= nil or path:find("^%a:[\\/]") ~= nil
end

-- Names writers use while a file is incomplete: never read these.
function M.is_temp_name(name)
  local lower = name:lower()
  return name:sub(1, 1) == "." or lower:find("%.part$") ~= nil or lower:find("%.tmp$") ~= nil
end

function M.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

function M.file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- Writes text under a hidden temporary name and renames it into place, so a watcher never
-- sees a half-written file. Returns true or nil and a message that names the path.
function M.write_atomic(path, text)
  local dir, name = M.dirname(path) or ".", M.basename(path)
  local tmp = M.join(dir, "." .. name .. ".tmp")
  local f, err = io.open(tmp, "wb")
  if not f then return nil, "cannot write " .. tmp .. ": " .. tostring(err) end
  local ok, werr = f:write(text)
  f:close()
  if not ok then
    os.remove(tmp)  -- our own temporary file, never the user's
    return nil, "cannot write " .. tmp .. ": " .. tostring(werr)
  end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    return nil, "cannot rename " .. tmp .. " to " .. path .. ": " .. tostring(rerr)
  end
  return true
end

-- Creates path (and its parents) and proves it writable. RecursiveCreateDirectory's return
-- value does not say whether an existing folder is usable, so a probe file is written.
function M.ensure_dir(path)
  reaper.RecursiveCreateDirectory(path, 0)
  local probe = M.join(path, ".musicgen-probe.tmp")
  local f = io.open(probe, "wb")
  if not f then
    return nil, "cannot create or write the folder " .. path .. ": check the path in "
      .. "'MusicGen - Settings' and that the drive is writable"
  end
  f:close()
  os.remove(probe)  -- our own probe, just written
  return true
end

-- File names in a folder (no subfolders). REAPER caches listings; index -1 asks it to re-read
-- the folder (REAPER 6.20+; older versions just return nothing for it).
function M.list_files(dir)
  local names, i = {}, 0
  reaper.EnumerateFiles(dir, -1)
  while true do
    local name = reaper.EnumerateFiles(dir, i)
    if name == nil or name == "" then break end
    names[#names + 1] = name
    i = i + 1
  end
  table.sort(names)
  return names
end

----------------------------------------------------------------------------------------------
-- Projects, settings and the MusicGen folder
----------------------------------------------------------------------------------------------

function M.current_project()
  local proj = reaper.EnumProjects(-1)
  return proj
end

-- The .rpp path of proj ("" for an unsaved project).
function M.project_file(proj)
  local i = 0
  while true do
    local p, fn = reaper.EnumProjects(i)
    if p == nil then break end
    if p == proj then return fn or "" end
    i = i + 1
  end
  return ""
end

function M.project_dir(proj)
  local fn = M.project_file(proj)
  if fn == "" then return nil end
  return M.dirname(fn)
end

-- A setting: this project's value, else the default for new projects, else nil.
function M.setting(proj, key)
  local _, value = reaper.GetProjExtState(proj, M.EXT, key)
  if value ~= nil and value ~= "" then return value, "project" end
  value = reaper.GetExtState(M.EXT, "default_" .. key)
  if value ~= nil and value ~= "" then return value, "default" end
  return nil
end

-- The folder the daemon writes clips to and reads requests from, for proj.
-- Order: the project's setting, the default for new projects, then MusicGen/ beside the .rpp,
-- which matches a daemon started with `--out <project folder>/MusicGen`.
function M.folder(proj)
  local value = M.setting(proj, "folder")
  local dir = M.project_dir(proj)
  if value then
    if M.is_absolute(value) then return value end
    if dir then return M.join(dir, value) end
    return nil, "The MusicGen folder is set to the relative path '" .. value .. "', but this "
      .. "project is not saved yet. Save the project, or set an absolute folder in "
      .. "'MusicGen - Settings'."
  end
  if dir then return M.join(dir, "MusicGen") end
  return nil, "This project is not saved yet, so it has no MusicGen folder. Save the project, "
    .. "or choose the daemon's folder in 'MusicGen - Settings'."
end

-- Request fields set in 'MusicGen - Settings' for proj, converted to JSON types.
function M.request_defaults(proj)
  local out = {}
  for _, name in ipairs(M.SETTING_FIELDS) do
    local text = M.setting(proj, name)
    if text then
      local p = M.schema.params[name]
      if p then out[name] = M.to_number(text, p.integer) else out[name] = text end
    end
  end
  return out
end

-- "4" -> 4 (an integer when wanted and whole), nil for anything that is not a number.
function M.to_number(text, integer)
  local n = tonumber((tostring(text):gsub("^%s+", ""):gsub("%s+$", "")))
  if n == nil or n ~= n then return nil end
  if integer then return math.tointeger(n) end
  return n
end

function M.fmt(n)
  if math.type(n) == "integer" or (n == math.floor(n) and math.abs(n) < 1e15) then
    return string.format("%d", math.floor(n))
  end
  return (string.format("%.3f", n):gsub("0+$", ""):gsub("%.$", ""))
end

----------------------------------------------------------------------------------------------
-- Musical context of a time selection
----------------------------------------------------------------------------------------------

function M.time_selection(proj)
  local start, stop = reaper.GetSet_LoopTimeRange2(proj, false, false, 0, 0, false)
  if stop - start < 0.001 then
    return nil, "Make a time selection first (drag in the ruler over the bars you want)."
  end
  return start, stop
end

-- Tempo and time signature at the selection start, and how many bars the selection spans.
function M.musical_context(proj, start, stop)
  local num, denom, bpm = reaper.TimeMap_GetTimeSigAtTime(proj, start)
  local bar_s = num * (4 / denom) * 60 / bpm
  local exact = (stop - start) / bar_s
  local whole = math.floor(exact + 0.5)
  local ctx = {
    bpm = bpm, num = num, denom = denom, meter = string.format("%d/%d", num, denom),
    bar_s = bar_s, bars_exact = exact,
    -- Within 2 ms of a bar line counts as whole bars: snapping lands exactly, hands do not.
    bars = (whole >= 1 and math.abs(exact - whole) * bar_s < 0.002) and whole or nil,
  }
  ctx.change = M.tempo_change(proj, ctx, start, stop)
  return ctx
end

-- Why [start, stop) cannot be one clip at ctx's tempo and meter, or nil. Every tempo/time
-- signature marker inside is looked at (not just the two ends: a change and a change back
-- would cancel out there), and the end is compared too (a ramp from before the start).
function M.tempo_change(proj, ctx, start, stop)
  local function differs(n, d, b)
    return n ~= ctx.num or d ~= ctx.denom or math.abs(b - ctx.bpm) > 0.005
  end
  local function describe(n, d, b, where)
    local parts = {}
    if math.abs(b - ctx.bpm) > 0.005 then
      parts[#parts + 1] = string.format("the tempo changes %s (%s -> %s BPM)", where,
                                        M.fmt(ctx.bpm), M.fmt(b))
    end
    if n ~= ctx.num or d ~= ctx.denom then
      parts[#parts + 1] = string.format("the time signature changes %s (%s -> %d/%d)", where,
                                        ctx.meter, n, d)
    end
    return table.concat(parts, " and ")
  end
  for i = 0, reaper.CountTempoTimeSigMarkers(proj) - 1 do
    local _, time, measure = reaper.GetTempoTimeSigMarker(proj, i)
    if time > start + 0.0005 and time < stop - 0.0005 then
      local n, d, b = reaper.TimeMap_GetTimeSigAtTime(proj, time)
      if differs(n, d, b) then
        return describe(n, d, b, string.format("at bar %d", math.floor(measure + 0.5) + 1))
      end
    end
  end
  local n, d, b = reaper.TimeMap_GetTimeSigAtTime(proj, stop - 0.0005)
  if differs(n, d, b) then return describe(n, d, b, "before the end") end
end

----------------------------------------------------------------------------------------------
-- Requests
----------------------------------------------------------------------------------------------

local field_by_name = {}
for _, f in ipairs(M.schema.fields) do field_by_name[f.name] = f end
M.field_by_name = field_by_name

-- Catches mistakes before a file is written (the daemon checks again and explains refusals in
-- requests/rejected/NAME.error.txt). Returns true or nil and every problem found.
function M.check_request(req)
  local problems = {}
  for name, value in pairs(req) do
    local f = field_by_name[name]
    if not f then
      problems[#problems + 1] = name .. ": not a request field (a script bug: see docs/requests.md)"
    else
      local kind = type(value)
      local want = f.type
      local ok = (kind == "string" and want:find("string"))
        or (kind == "boolean" and want:find("boolean"))
        or (kind == "number" and want:find("number"))
        or (kind == "number" and want:find("integer") and math.tointeger(value) ~= nil)
      if not ok then
        problems[#problems + 1] = name .. ": must be " .. want .. ", got " .. tostring(value)
      end
      local p = M.schema.params[name]
      if p and kind == "number" and (value < p.min or value > p.max) then
        problems[#problems + 1] = string.format("%s must be in %s..%s, got %s", p.label,
                                                M.fmt(p.min), M.fmt(p.max), M.fmt(value))
      end
    end
  end
  for _, f in ipairs(M.schema.fields) do
    if f.required and req[f.name] == nil then problems[#problems + 1] = f.name .. ": missing" end
  end
  if type(req.bars) == "number" and (req.bars < 1 or req.bars > M.schema.max_bars) then
    problems[#problems + 1] = "bars must be 1.." .. M.schema.max_bars .. ", got " .. M.fmt(req.bars)
  end
  if type(req.bpm) == "number" and (req.bpm < M.schema.min_bpm or req.bpm > M.schema.max_bpm) then
    problems[#problems + 1] = string.format("the tempo must be %s..%s BPM, got %s",
      M.fmt(M.schema.min_bpm), M.fmt(M.schema.max_bpm), M.fmt(req.bpm))
  end
  if #problems > 0 then return nil, table.concat(problems, "\n") end
  return true
end

local seeded = false

-- A request file stem unique enough that two quick runs never collide.
function M.unique_stem(prefix)
  if not seeded then
    math.randomseed(os.time(), math.floor((reaper.time_precise() % 1) * 1e6))
    seeded = true
  end
  return string.format("%s-%s-%04d", prefix, os.date("%Y%m%d-%H%M%S"), math.random(0, 9999))
end

function M.requests_dir(folder)
  return M.join(folder, M.REQUESTS)
end

-- Checks req and writes it atomically into folder/requests/. Returns the path, or nil and
-- a message meant for the user.
function M.write_request(folder, req, stem)
  local ok, err = M.check_request(req)
  if not ok then return nil, "The request is not valid:\n" .. err end
  local dir = M.requests_dir(folder)
  ok, err = M.ensure_dir(dir)
  if not ok then return nil, err end
  local path = M.join(dir, (stem or M.unique_stem("reaper")) .. ".json")
  ok, err = M.write_atomic(path, M.encode(req) .. "\n")
  if not ok then return nil, err end
  return path
end

----------------------------------------------------------------------------------------------
-- Dialogs and messages
----------------------------------------------------------------------------------------------

function M.split_lines(text)
  local out = {}
  for line in ((text or "") .. "\n"):gmatch("(.-)\n") do out[#out + 1] = line end
  return out
end

function M.trim(text)
  return ((text or ""):gsub("^%s+", ""):gsub("%s+$", ""))
end

-- GetUserInputs with one line per field (commas in a prompt are fine). Returns a list of
-- trimmed values, or nil when the user cancels.
function M.ask(title, captions, values, width)
  local defaults = {}
  for i = 1, #captions do
    -- Captions are comma-separated whatever the separator: a comma would shift the fields.
    assert(not captions[i]:find(",", 1, true), "a dialog caption contains a comma: " .. captions[i])
    defaults[i] = tostring(values[i] or "")
  end
  local ok, csv = reaper.GetUserInputs(title, #captions,
    table.concat(captions, ",") .. ",extrawidth=" .. (width or 300) .. ",separator=\n",
    table.concat(defaults, "\n"))
  if not ok then return nil end
  local out = M.split_lines(csv)
  for i = 1, #captions do out[i] = M.trim(out[i]) end
  return out
end

function M.message(text, title)
  reaper.MB(text, title or "MusicGen", 0)
end

function M.log(text)
  reaper.ShowConsoleMsg("MusicGen: " .. text .. "\n")
end

-- The importer writes a heartbeat while it runs; the other scripts use it to remind the user.
function M.importer_alive()
  local t = tonumber(reaper.GetExtState(M.EXT, "importer_alive"))
  return t ~= nil and os.time() - t <= 10
end

-- The daemon keeps status.json in its output folder current (bridge/output/status.py): alive,
-- a heartbeat every 2 s, the queue and the running job. Returns running (true/false) and a
-- line for the user. `now` (seconds since 1970) is for tests; default os.time().
M.STATUS_FILE = "status.json"

function M.daemon_status(folder, now)
  now = now or os.time()
  local start = "start it with: musicgen-bridge serve --out \"" .. folder .. "\""
  local text = M.read_file(M.join(folder, M.STATUS_FILE))
  if not text then
    return false, "daemon not running (it has never written to " .. folder .. "); " .. start
  end
  local status = M.decode(text)
  if type(status) ~= "table" or type(status.heartbeat) ~= "number" then
    return false, "daemon status unreadable in " .. folder .. "; " .. start
  end
  if status.alive ~= true then
    return false, "daemon not running (it was stopped); " .. start
  end
  local age = now - status.heartbeat
  if age > (tonumber(status.stale_after_s) or 10) then
    return false, string.format("daemon not running (no heartbeat for %d s: it was killed, "
      .. "crashed or the computer slept); %s", math.floor(age), start)
  end
  local queue = tonumber(status.queue) or 0
  local waiting = queue > 0 and string.format(", %d waiting", queue) or ""
  local job = status.job
  if type(job) == "table" and job.id then
    return true, string.format("daemon: job %d %s %d%%%s", math.floor(job.id),
      tostring(job.stage or "generating"), math.floor((tonumber(job.progress) or 0) * 100 + 0.5),
      waiting)
  end
  return true, "daemon: idle" .. waiting
end

-- After a request is written: one message for all that stands between it and a clip on the
-- timeline (no daemon, no importer), or none when both run. `importer_note` says what the
-- Importer would do for this script.
function M.request_sent(folder, title, importer_note)
  local notes = {}
  local running, daemon = M.daemon_status(folder)
  if not running then
    notes[#notes + 1] = "The " .. daemon .. ". The request waits in "
      .. M.requests_dir(folder) .. " until it starts."
  end
  if not M.importer_alive() then notes[#notes + 1] = importer_note end
  if #notes > 0 then M.message("Request sent. " .. table.concat(notes, "\n\n"), title) end
end

return M
