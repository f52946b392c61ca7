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

-- JSON null where a Lua nil cannot stand (inside arrays, or to write an explicit null).
M.null = setmetatable({}, { __tostring = function() return "null" end })
local array_mt = { __name = "json array" }

-- Marks a table as a JSON array, so an empty one is written as [] rather than {}.
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode_number(n)
  if n ~= n or n == math.huge or n == -math.huge then
    error("JSON has no " .. tostring(n) .. ": a value was not a finite number", 0)
  end
  if math.type(n) == "integer" then return string.format("%d", n) end
  local text
  if n == math.floor(n) and math.abs(n) < 2 ^ 53 then
    text = string.format("%.1f", n)
  else
    -- The shortest form that reads back exactly, so 0.1 stays 0.1 for Python.
    for _, fmt in ipairs({ "%.15g", "%.16g", "%.17g" }) do
      text = string.format(fmt, n)
      if tonumber(text) == n then break end
    end
  end
  return (text:gsub(",", "."))  -- a comma-decimal C locale must not leak into JSON
end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local function encode_value(v, indent, depth, out)
  local kind = type(v)
  if v == nil or v == M.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = tostring(v)
  elseif kind == "number" then
    out[#out + 1] = encode_number(v)
  elseif kind == "string" then
    out[#out + 1] = encode_string(v)
  elseif kind == "table" then
    if depth > 64 then error("JSON nesting deeper than 64: a table refers to itself?", 0) end
    local pad = indent and ("\n" .. string.rep(indent, depth + 1)) or ""
    local close = indent and ("\n" .. string.rep(indent, depth)) or ""
    local colon = indent and ": " or ":"
    if is_array(v) then
      if #v == 0 then out[#out + 1] = "[]" return end
      out[#out + 1] = "["
      for i = 1, #v do
        out[#out + 1] = (i > 1 and "," or "") .. pad
        encode_value(v[i], indent, depth + 1, out)
      end
      out[#out + 1] = close .. "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" then
          error("JSON object keys must be strings, got " .. type(k) .. " " .. tostring(k), 0)
        end
        keys[#keys + 1] = k
      end
      if #keys == 0 then out[#out + 1] = "{}" return end
      table.sort(keys)  -- stable output: request files diff cleanly
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        out[#out + 1] = (i > 1 and "," or "") .. pad .. encode_string(k) .. colon
        encode_value(v[k], indent, depth + 1, out)
      end
      out[#out + 1] = close .. "}"
    end
  else
    error("JSON cannot hold a " .. kind, 0)
  end
end

-- Lua value -> JSON text. pretty: indent with two spaces (request files are read by people).
function M.encode(value, pretty)
  local out = {}
  encode_value(value, pretty and "  " or nil, 0, out)
  return table.concat(out)
end

local decode_value

local function decode_error(text, pos, what)
  local line, col = 1, 1
  for i = 1, math.min(pos - 1, #text) do
    if text:sub(i, i) == "\n" then line, col = line + 1, 1 else col = col + 1 end
  end
  error({ json = string.format("%s at line %d column %d", what, line, col) }, 0)
end

local function skip_ws(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local function decode_string(text, pos)
  local parts, i = {}, pos + 1
  while true do
    local j = text:find('["\\%c]', i)
    if not j then decode_error(text, pos, "unterminated string") end
    parts[#parts + 1] = text:sub(i, j - 1)
    local c = text:sub(j, j)
    if c == '"' then return table.concat(parts), j + 1 end
    if c ~= "\\" then decode_error(text, j, "control character in string") end
    local e = text:sub(j + 1, j + 1)
    local simple = ({ b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
                      ['"'] = '"', ["\\"] = "\\", ["/"] = "/" })[e]
    if simple then
      parts[#parts + 1], i = simple, j + 2
    elseif e == "u" then
      local hex = text:match("^%x%x%x%x", j + 2)
      if not hex then decode_error(text, j, "bad \\u escape") end
      local code = tonumber(hex, 16)
      i = j + 6
      if code >= 0xD800 and code <= 0xDBFF then  -- a surrogate pair: one code point
        local low = text:match("^\\u(%x%x%x%x)", i)
        local low_code = low and tonumber(low, 16)
        if low_code and low_code >= 0xDC00 and low_code <= 0xDFFF then
          code = 0x10000 + (code - 0xD800) * 0x400 + (low_code - 0xDC00)
          i = i + 6
        end
      end
      parts[#parts + 1] = utf8.char(code)
    else
      decode_error(text, j, "bad escape \\" .. e)
    end
  end
end

local function decode_object(text, pos)
  local obj = {}
  pos = skip_ws(text, pos + 1)
  if text:sub(pos, pos) == "}" then return obj, pos + 1 end
  while true do
    if text:sub(pos, pos) ~= '"' then decode_error(text, pos, "expected a string key") end
    local key
    key, pos = decode_string(text, pos)
    pos = skip_ws(text, pos)
    if text:sub(pos, pos) ~= ":" then decode_error(text, pos, "expected ':'") end
    local value
    value, pos = decode_value(text, skip_ws(text, pos + 1))
    -- null becomes an absent key: callers test fields with `if t.position_s then`.
    if value ~= M.null then obj[key] = value end
    pos = skip_ws(text, pos)
    local c = text:sub(pos, pos)
    if c == "}" then return obj, pos + 1 end
    if c ~= "," then decode_error(text, pos, "expected ',' or '}'") end
    pos = skip_ws(text, pos + 1)
  end
end

local function decode_array(text, pos)
  local arr = M.array()
  pos = skip_ws(text, pos + 1)
  if text:sub(pos, pos) == "]" then return arr, pos + 1 end
  while true do
    local value
    value, pos = decode_value(text, pos)
    arr[#arr + 1] = value
    pos = skip_ws(text, pos)
    local c = text:sub(pos, pos)
    if c == "]" then return arr, pos + 1 end
    if c ~= "," then decode_error(text, pos, "expected ',' or ']'") end
    pos = skip_ws(text, pos + 1)
  end
end

decode_value = function(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then return decode_object(text, pos) end
  if c == "[" then return decode_array(text, pos) end
  if c == '"' then return decode_string(text, pos) end
  if text:find("^true", pos) then return true, pos + 4 end
  if text:find("^false", pos) then return false, pos + 5 end
  if text:find("^null", pos) then return M.null, pos + 4 end
  local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if num and num ~= "" then
    local value = tonumber(num)
    if value == nil then decode_error(text, pos, "bad number " .. num) end
    if not num:find("[.eE]") then value = math.tointeger(value) or value end
    return value, pos + #num
  end
  decode_error(text, pos, c == "" and "unexpected end of text" or ("unexpected '" .. c .. "'"))
end

-- JSON text -> Lua value, or nil and a message naming the line and column.
function M.decode(text)
  if type(text) ~= "string" then return nil, "no text to decode" end
  local ok, value, pos = pcall(function()
    local v, p = decode_value(text, skip_ws(text, 1))
    return v, skip_ws(text, p)
  end)
  if not ok then
    if type(value) == "table" and value.json then return nil, value.json end
    error(value, 0)  -- a bug here, not bad input: let it surface
  end
  if pos <= #text then return nil, "extra text after the JSON value at offset " .. pos end
  if value == M.null then return nil, "the JSON value is null" end
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
  local end_num, end_denom, end_bpm = reaper.TimeMap_GetTimeSigAtTime(proj, stop - 0.0005)
  if end_num ~= num or end_denom ~= denom or math.abs(end_bpm - bpm) > 0.005 then
    ctx.change = string.format("%s BPM %d/%d at the start, %s BPM %d/%d at the end",
                               M.fmt(bpm), num, denom, M.fmt(end_bpm), end_num, end_denom)
  end
  return ctx
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
      local ok = (value == M.null and want:find("null"))
        or (kind == "string" and want:find("string"))
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
  ok, err = M.write_atomic(path, M.encode(req, true) .. "\n")
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
