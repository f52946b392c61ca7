-- MusicGen bridge for Ardour: code shared by the MusicGen scripts (each reads and loads it;
-- it is not a script of its own: it has no ardour {} header, so Ardour's script list skips it).
--
-- Requests go into the daemon's inbox (MusicGen/requests/ beside the session file, or the
-- folder chosen in the dialog) with the same fields as the REAPER scripts; the schema is
-- bridge/request.py, and tests/ardour/ checks what these scripts write against it.
-- Written for the Lua 5.3 inside Ardour 7 (no <const>, no goto tricks).

local M = {}

M.VERSION = "1.0.0"
M.CLIENT_ID = "ardour"
M.TRACK_NAME = "MusicGen"
M.REQUESTS = "requests"              -- inside the MusicGen folder, as the daemon's inbox expects
M.MANIFEST = "manifest.jsonl"        -- the daemon appends one line per finished clip
M.STATE_FILE = "musicgen-ardour.json" -- beside the session file: folder, last values, imports
M.AUDIO_EXTENSIONS = { wav = true, flac = true }

-- Ranges of the request schema (bridge/request.py, bridge/params.py); tests/ardour checks them.
M.LIMITS = {
  bpm = { 20, 400 }, bars = { 1, 512 }, variations = { 1, 8 }, top_k = { 1, 2048 },
  top_p = { 0, 1 }, temperature = { 0.05, 4 }, cfg = { 1, 15 }, prompt_seconds = { 0.5, 25 },
}
M.SEED_MAX = 2147483647
M.MAX_PROMPT_CHARS = 2000
M.DENOMINATORS = { [1] = true, [2] = true, [4] = true, [8] = true, [16] = true, [32] = true }

-- Fields of the sidecar (bridge/output/sidecar.py) the importer reads, and of the manifest line.
M.SIDECAR_FIELDS_USED = { "prompt", "bpm", "meter", "bars", "seed", "job_id", "variation",
                          "position_s", "duration_s" }
M.MANIFEST_FIELDS_USED = { "audio_file", "sidecar_file" }

----------------------------------------------------------------------------------------------
-- JSON (requests out, sidecars and the manifest in)
----------------------------------------------------------------------------------------------

-- rxi/json.lua (MIT), the copy the REAPER scripts use (reaper_scripts/MusicGen_json.lua, vendored
-- unmodified); `musicgen-bridge ardour install` puts it beside this file as musicgen_json.lua
-- (no ardour {} header: Ardour does not list it). Read and loaded as the scripts load this file.
-- JSON null decodes to nil, an absent key: callers test fields with `if t.position_s then`.
M.JSON_FILE = "musicgen_json.lua"

-- Where this file is: Ardour's scripts folder, or (lua5.4 in the tests) this file's folder.
local function here()
  if ARDOUR then return ARDOUR.user_config_directory(-1) .. "/scripts/" end
  local source = debug and debug.getinfo(1, "S").source or ""
  return source:match("^@(.*[\\/])") or ""
end

-- json.lua writes numbers with string.format("%.14g"): 14 digits, and the C library's decimal
-- separator, which a comma-decimal locale makes a comma (97,5). Ardour's editor removes
-- os.setlocale (and rawget) from its Lua, so instead json.lua's own environment gets a
-- string.format that writes numbers the shortest way that reads back exactly, with a point.
local format = string.format

local function number_text(n)
  if math.type(n) == "integer" then return format("%d", n) end
  local text
  for _, digits in ipairs({ "%.14g", "%.15g", "%.16g", "%.17g" }) do
    text = format(digits, n):gsub(",", ".")
    if tonumber(text) == n then break end
  end
  return text
end

local json_env = setmetatable({
  string = setmetatable({
    format = function(fmt, ...)
      if fmt == "%.14g" then return number_text(...) end
      return format(fmt, ...)
    end,
  }, { __index = string }),
  -- json.lua only reads plain tables of ours (no metatables): indexing is rawget for them.
  rawget = rawget or function(t, k) return t[k] end,
}, { __index = _ENV })

local function load_json()
  local path = here() .. M.JSON_FILE
  local f = io.open(path, "rb")
  if not f then return nil, path .. " is missing: run musicgen-bridge ardour install" end
  local code = f:read("a")
  f:close()
  local chunk, err = load(code, "@" .. path, "t", json_env)
  if not chunk then
    return nil, path .. " cannot be read (" .. err .. "): run musicgen-bridge ardour install"
  end
  return chunk()
end

local json, json_problem = load_json()
if not json then  -- the scripts stop when the library returns nil, as when it is missing
  if not LuaDialog then error(json_problem, 0) end
  LuaDialog.Message("MusicGen", json_problem, LuaDialog.MessageType.Error,
                    LuaDialog.ButtonType.Close):run()
  return nil
end

-- json.lua raises its messages with its own file and line in front: drop them.
local function json_message(err)
  return (tostring(err):gsub("^.-musicgen_json%.lua:%d+: ", ""))
end

-- Lua value -> JSON text (one line). Raises, naming the problem, for what JSON cannot hold:
-- NaN or infinity, a function, a sparse list.
function M.encode(value)
  local ok, text = pcall(json.encode, value)
  if not ok then
    local why = json_message(text)
    if why:find("unexpected number value", 1, true) then
      why = why .. ": JSON numbers must be finite (no NaN or infinity)"
    end
    error("cannot write JSON: " .. why, 0)
  end
  return text
end

-- JSON text -> Lua table, or nil and a message naming the line and column.
function M.decode(text)
  if type(text) ~= "string" then return nil, "no text" end
  if not text:find("%S") then return nil, "no JSON value: the text is empty" end
  local ok, value = pcall(json.decode, text)
  if not ok then return nil, json_message(value) end
  if type(value) ~= "table" then return nil, "not a JSON object" end
  return value
end

----------------------------------------------------------------------------------------------
-- Files
----------------------------------------------------------------------------------------------

function M.join(dir, name)
  if dir == nil or dir == "" then return name end
  if dir:find("[\\/]$") then return dir .. name end
  return dir .. "/" .. name  -- "/" works on Windows too, for io.open and for the daemon
end

function M.basename(path) return path:match("([^\\/]*)$") end

function M.split_ext(name)
  local stem, ext = name:match("^(.+)%.([^.]+)$")
  if not stem then return name, "" end
  return stem, ext:lower()
end

-- Names the daemon's writer uses while a file is incomplete (bridge/output/writer.py).
function M.is_temp_name(name)
  local lower = name:lower()
  return name:sub(1, 1) == "." or lower:find("%.part$") ~= nil or lower:find("%.tmp$") ~= nil
end

function M.read_file(path)
  -- io.open, not ARDOUR's file_get_contents: that one aborts Ardour on a missing file.
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

function M.is_dir(path)
  -- A folder opens for reading on POSIX but not on Windows; a probe file settles both.
  local probe = M.join(path, ".musicgen-probe.tmp")
  local f = io.open(probe, "wb")
  if not f then return false end
  f:close()
  os.remove(probe)  -- our own probe, just written
  return true
end

-- Writes under a hidden temporary name, then renames into place: a watcher never sees half.
function M.write_atomic(path, text)
  local dir, name = path:match("^(.*)[\\/]([^\\/]+)$")
  local tmp = M.join(dir or ".", "." .. (name or path) .. ".tmp")
  local f, err = io.open(tmp, "wb")
  if not f then return nil, "cannot write " .. tmp .. ": " .. tostring(err) end
  local ok, werr = f:write(text)
  f:close()
  if ok then ok, werr = os.rename(tmp, path) end
  if not ok then
    os.remove(tmp)  -- our own temporary file, never the user's
    return nil, "cannot write " .. path .. ": " .. tostring(werr)
  end
  return true
end

----------------------------------------------------------------------------------------------
-- Per-session state: the daemon's folder, the last dialog values, what was imported
----------------------------------------------------------------------------------------------

function M.session_dir() return Session:path() end

function M.load_state()
  local text = M.read_file(M.join(M.session_dir(), M.STATE_FILE))
  local state = text and M.decode(text) or {}
  state.last = type(state.last) == "table" and state.last or {}
  state.imported = type(state.imported) == "table" and state.imported or {}
  return state
end

function M.save_state(state)
  return M.write_atomic(M.join(M.session_dir(), M.STATE_FILE), M.encode(state) .. "\n")
end

-- The folder the daemon writes clips to and reads requests from: the one chosen in a dialog,
-- else MusicGen/ beside the session file (a daemon started with --out <session>/MusicGen).
function M.folder(state)
  local chosen = state and state.folder
  if type(chosen) == "string" and chosen ~= "" then return chosen end
  return M.join(M.session_dir(), "MusicGen")
end

----------------------------------------------------------------------------------------------
-- Musical context of a range, from Ardour's own tempo map
----------------------------------------------------------------------------------------------

function M.fmt(n)
  if n == math.floor(n) and math.abs(n) < 1e15 then return string.format("%d", math.floor(n)) end
  return (string.format("%.3f", n):gsub("0+$", ""):gsub("%.$", ""))
end

-- Ardour stores tempi as superclock ratios (97 BPM reads back as 97.000000166): a request
-- carries the tempo to a millionth, which moves a bar line by nanoseconds.
local function tidy_bpm(qpm) return math.floor(qpm * 1e6 + 0.5) / 1e6 end

local function tempo_here(tm, sample)
  local pos = Temporal.timepos_t(sample)
  local tp, mp = tm:tempo_at(pos), tm:meter_at(pos)
  return {
    tempo_point = tp:time():samples(),
    meter_point = mp:to_point():time():samples(),
    bpm = tidy_bpm(tm:quarters_per_minute_at(pos)),
    num = math.floor(mp:divisions_per_bar() + 0.5),
    denom = math.floor(mp:note_value() + 0.5),
    bar = tm:bbt_at(pos).bars,
  }
end

-- The first sample in (lo, hi] whose tempo or meter point differs from the one at lo
-- (a bisection: the tempo map's points are not listed in Ardour 7's Lua).
local function first_change(tm, lo, hi, base, field)
  while hi - lo > 1 do
    local mid = (lo + hi) // 2
    if tempo_here(tm, mid)[field] ~= base[field] then hi = mid else lo = mid end
  end
  return hi
end

-- Tempo, meter and bars of the range [start, stop) in samples; nil and the reason when the
-- tempo or meter changes inside it (a clip has one tempo: the range is refused, not guessed).
function M.context(start, stop, sr)
  if stop - start < sr * 0.01 then
    return nil, "The range is empty: select bars with the Range tool (R), or set a loop range."
  end
  local tm = Temporal.TempoMap.read()
  -- One sample in: a tempo point at a bar line can sit a fraction of a sample after the
  -- sample that shows the bar line, and the range belongs to the tempo that starts there.
  local first, last = start + 1, stop - 1
  local here, there = tempo_here(tm, first), tempo_here(tm, last)
  local changes = {}
  if there.tempo_point ~= here.tempo_point then
    local at = tempo_here(tm, first_change(tm, first, last, here, "tempo_point"))
    changes[#changes + 1] = string.format("the tempo changes at bar %d (%s -> %s BPM)", at.bar,
                                          M.fmt(here.bpm), M.fmt(at.bpm))
  elseif math.abs(there.bpm - here.bpm) > 0.005 then
    changes[#changes + 1] = string.format("the tempo ramps from %s to %s BPM", M.fmt(here.bpm),
                                          M.fmt(there.bpm))
  end
  if there.meter_point ~= here.meter_point then
    local at = tempo_here(tm, first_change(tm, first, last, here, "meter_point"))
    changes[#changes + 1] = string.format("the meter changes at bar %d (%d/%d -> %d/%d)", at.bar,
                                          here.num, here.denom, at.num, at.denom)
  end
  if #changes > 0 then
    return nil, table.concat(changes, " and ") .. " inside the range: select a range with "
      .. "one tempo and meter (a clip has one tempo)."
  end
  local bar_s = here.num * (4 / here.denom) * 60 / here.bpm
  local exact = (stop - start) / sr / bar_s
  local whole = math.floor(exact + 0.5)
  return {
    bpm = here.bpm, num = here.num, denom = here.denom,
    meter = string.format("%d/%d", here.num, here.denom),
    bar = here.bar, bar_s = bar_s, bars_exact = exact,
    -- Within 2 ms of a bar line counts as whole bars: snapping lands exactly, hands do not.
    bars = (whole >= 1 and math.abs(exact - whole) * bar_s < 0.002) and whole or nil,
    position_s = start / sr, start = start, stop = stop,
  }
end

-- The editor's range selection, else the loop range: start and stop samples.
function M.range()
  local sel = Editor:get_selection()
  if sel and not sel.time:empty() then
    return sel.time:start_sample(), sel.time:end_sample()
  end
  local loop = Session:locations():auto_loop_location()
  if loop then return loop:start():samples(), loop:_end():samples() end
  return nil, "Select the bars first: drag with the Range tool (R) over them, or set a loop "
    .. "range."
end

----------------------------------------------------------------------------------------------
-- Requests
----------------------------------------------------------------------------------------------

local function in_range(value, limits) return value >= limits[1] and value <= limits[2] end

-- Catches mistakes before a file is written; the daemon checks again (requests/rejected/).
function M.check_request(req)
  local problems = {}
  if type(req.prompt) ~= "string" or #req.prompt > M.MAX_PROMPT_CHARS then
    problems[#problems + 1] = "the prompt must be text of at most " .. M.MAX_PROMPT_CHARS
      .. " characters"
  end
  for name, limits in pairs(M.LIMITS) do
    local v = req[name]
    if v ~= nil and (type(v) ~= "number" or not in_range(v, limits)) then
      problems[#problems + 1] = string.format("%s must be %s..%s, got %s", name,
        M.fmt(limits[1]), M.fmt(limits[2]), tostring(v))
    end
  end
  for _, name in ipairs({ "bars", "variations", "top_k" }) do
    if req[name] ~= nil and math.tointeger(req[name]) == nil then
      problems[#problems + 1] = name .. " must be a whole number, got " .. tostring(req[name])
    end
  end
  local seed = req.seed
  if seed ~= nil and (math.tointeger(seed) == nil or seed < -1 or seed > M.SEED_MAX) then
    problems[#problems + 1] = "the seed must be -1 (random) or 0.." .. M.SEED_MAX
  end
  local denom = tonumber(tostring(req.meter):match("^%d+/(%d+)$"))
  if not denom or not M.DENOMINATORS[denom] then
    problems[#problems + 1] = "the meter " .. tostring(req.meter) .. " has a denominator the "
      .. "daemon cannot use (1, 2, 4, 8, 16 or 32)"
  end
  if #problems > 0 then return nil, table.concat(problems, "\n") end
  return true
end

local seeded = false

function M.unique_stem()
  if not seeded then
    math.randomseed(os.time() + math.floor((os.clock() % 1) * 1e6))
    seeded = true
  end
  return string.format("ardour-%s-%04d", os.date("%Y%m%d-%H%M%S"), math.random(0, 9999))
end

-- Writes req into folder/requests/. Returns its path, or nil and a message for the user.
function M.write_request(folder, req)
  local ok, err = M.check_request(req)
  if not ok then return nil, "The request is not valid:\n" .. err end
  local dir = M.join(folder, M.REQUESTS)
  if not M.is_dir(dir) then
    return nil, "The daemon's request folder " .. dir .. " does not exist or cannot be written. "
      .. "Start the daemon for this session with\n  musicgen-bridge serve --out \"" .. folder
      .. "\"\n(it creates the folder), or choose the folder the daemon prints as 'clips into "
      .. "...' in the MusicGen dialog."
  end
  local path = M.join(dir, M.unique_stem() .. ".json")
  ok, err = M.write_atomic(path, M.encode(req) .. "\n")
  if not ok then return nil, err end
  return path
end

----------------------------------------------------------------------------------------------
-- Dialogs (Ardour's LuaDialog; the headless tests replace it with recorded answers)
----------------------------------------------------------------------------------------------

function M.message(title, text, is_error)
  local kind = is_error and LuaDialog.MessageType.Error or LuaDialog.MessageType.Info
  LuaDialog.Message(title, text, kind, LuaDialog.ButtonType.Close):run()
end

local function knob(key, title, limits, default, digits, step)
  return { type = "number", key = key, title = title, min = limits[1], max = limits[2],
           default = default, digits = digits, step = step }
end

-- The prompt and knobs, filled with the last values used in this session.
function M.ask(title, last, extra)
  local L = M.LIMITS
  local fields = {
    { type = "heading", title = title },
    { type = "entry", key = "prompt", title = "Prompt", default = last.prompt or "" },
    { type = "entry", key = "key", title = "Key (e.g. A minor; empty: none)", default = last.key or "" },
  }
  for _, f in ipairs(extra or {}) do fields[#fields + 1] = f end
  local more = {
    knob("variations", "Variations", L.variations, last.variations or 1, 0, 1),
    { type = "entry", key = "seed", title = "Seed (-1: random)", default = tostring(last.seed or -1) },
    knob("top_k", "Top-K", L.top_k, last.top_k or 250, 0, 1),
    knob("top_p", "Top-P (0: off)", L.top_p, last.top_p or 0, 2, 0.01),
    knob("temperature", "Temperature", L.temperature, last.temperature or 1, 2, 0.05),
    knob("cfg", "CFG", L.cfg, last.cfg or 3, 1, 0.5),
    { type = "entry", key = "folder", title = "Daemon folder (its 'clips into ...')",
      default = last.folder or "" },
  }
  for _, f in ipairs(more) do fields[#fields + 1] = f end
  return LuaDialog.Dialog("MusicGen", fields):run()
end

local function whole(v) return math.tointeger(math.floor((tonumber(v) or 0) + 0.5)) end

-- Dialog answers -> request fields, or nil and what to fix.
function M.fields_from(answers)
  local out = {
    prompt = tostring(answers.prompt or ""):gsub("^%s+", ""):gsub("%s+$", ""),
    key = tostring(answers.key or ""):gsub("^%s+", ""):gsub("%s+$", ""),
    variations = whole(answers.variations), top_k = whole(answers.top_k),
    top_p = tonumber(answers.top_p), temperature = tonumber(answers.temperature),
    cfg = tonumber(answers.cfg),
  }
  local seed = tostring(answers.seed or ""):gsub("%s", "")
  out.seed = seed == "" and -1 or math.tointeger(tonumber(seed))
  if out.seed == nil then
    return nil, "The seed must be -1 (random) or a whole number, got '" .. seed .. "'."
  end
  return out, nil, (tostring(answers.folder or ""):gsub("^%s+", ""):gsub("%s+$", ""))
end

-- Asks, builds and writes one request over ctx. Returns true, or nil after telling the user.
function M.request_over(title, ctx, extra_fields, add)
  local state = M.load_state()
  local last = state.last
  last.folder = state.folder
  local answers = M.ask(title, last, extra_fields)
  if not answers then return nil end  -- cancelled
  local fields, problem, folder = M.fields_from(answers)
  if not fields then M.message(title, problem, true) return nil end
  local req = {
    prompt = fields.prompt, key = fields.key, variations = fields.variations, seed = fields.seed,
    top_k = fields.top_k, top_p = fields.top_p, temperature = fields.temperature, cfg = fields.cfg,
    bpm = ctx.bpm, meter = ctx.meter, bars = ctx.bars, position_s = ctx.position_s,
    client_id = M.CLIENT_ID,
  }
  local err = add(req, answers)
  if err then M.message(title, err, true) return nil end
  state.folder = folder ~= "" and folder or nil
  local path
  path, err = M.write_request(M.folder(state), req)
  if not path then M.message(title, err, true) return nil end
  for _, k in ipairs({ "prompt", "key", "variations", "seed", "top_k", "top_p", "temperature", "cfg" }) do
    last[k] = fields[k]
  end
  last.folder = nil
  state.last = last
  M.save_state(state)
  print("MusicGen: request written: " .. path)
  return path
end

----------------------------------------------------------------------------------------------
-- Importing finished clips
----------------------------------------------------------------------------------------------

-- Finished clips the daemon listed in its manifest, oldest first. Only whole lines count
-- (the daemon may be appending one), and only clips whose audio and sidecar are both there.
function M.finished_clips(folder)
  local text = M.read_file(M.join(folder, M.MANIFEST))
  local clips = {}
  if not text then return clips end
  for line in text:gmatch("([^\n]*)\n") do
    local entry = M.decode(line)
    local name = entry and entry.audio_file
    if type(name) == "string" and not M.is_temp_name(name)
        and M.AUDIO_EXTENSIONS[select(2, M.split_ext(name))] then
      clips[#clips + 1] = {
        name = name, path = M.join(folder, name),
        sidecar = M.join(folder, entry.sidecar_file or (M.split_ext(name) .. ".json")),
      }
    end
  end
  return clips
end

function M.clip_track()
  local route = Session:route_by_name(M.TRACK_NAME)
  if route and not route:isnil() and route:to_track() and not route:to_track():isnil() then
    return route:to_track()
  end
  -- At the bottom, so the user's tracks keep their order.
  local list = Session:new_audio_track(2, 2, nil, 1, M.TRACK_NAME,
                                       ARDOUR.PresentationInfo.max_order,
                                       ARDOUR.TrackMode.Normal, true)
  return list:front()
end

local function region_ids(playlist)
  local ids = {}
  for r in playlist:region_list():iter() do ids[r:to_stateful():id():to_s()] = true end
  return ids
end

local function take_name(sc, name)
  local text = type(sc.prompt) == "string" and sc.prompt or ""
  text = text:gsub("^%s+", ""):gsub("%s+$", "")
  if text == "" then text = M.split_ext(name) end
  if #text > 60 then text = text:sub(1, 57) .. "..." end
  if tonumber(sc.variation) and sc.variation > 1 then text = text .. " (v" .. sc.variation .. ")" end
  return text
end

-- Puts one clip on the MusicGen track at its sample; variations of one job stack at the same
-- place as layers (Ardour's takes): the first variation stays on top and is the one heard.
local function import_one(track, clip, sc, sr)
  local playlist = track:playlist()
  local before = region_ids(playlist)
  local files = C.StringVector()
  files:push_back(clip.path)
  local at = tonumber(sc.position_s) and math.floor(sc.position_s * sr + 0.5)
  local pos = Temporal.timepos_t(at or Session:transport_sample())  -- none asked: the playhead
  -- Serialize (not Distinct) files: Distinct with ImportToTrack imports onto the selected
  -- tracks instead of the one given.
  Editor:do_import(files, Editing.ImportSerializeFiles, Editing.ImportToTrack,
                   ARDOUR.SrcQuality.SrcBest, ARDOUR.MidiTrackNameSource.SMFTrackName,
                   ARDOUR.MidiTempoMapDisposition.SMFTempoIgnore, pos,
                   ARDOUR.PluginInfo(), track, false)
  local placed = 0
  for r in playlist:region_list():iter() do
    if not before[r:to_stateful():id():to_s()] then
      placed = placed + 1
      r:set_name(take_name(sc, clip.name))
      if tonumber(sc.variation) and sc.variation > 1 then r:lower_to_bottom() end
    end
  end
  return placed
end

-- Imports every finished clip not imported into this session before. Returns the count.
function M.import_pending()
  local state = M.load_state()
  local folder = M.folder(state)
  local ready = {}
  for _, clip in ipairs(M.finished_clips(folder)) do
    if not state.imported[clip.name] and M.file_exists(clip.path) then
      local sc, err = M.decode(M.read_file(clip.sidecar))
      if sc then
        clip.sc = sc
        ready[#ready + 1] = clip
      else
        print("MusicGen: skipping " .. clip.path .. ": its sidecar " .. clip.sidecar
              .. " cannot be read (" .. tostring(err) .. ")")
      end
    end
  end
  if #ready == 0 then return 0 end
  table.sort(ready, function(a, b)
    local ja, jb = tonumber(a.sc.job_id) or math.huge, tonumber(b.sc.job_id) or math.huge
    if ja ~= jb then return ja < jb end
    return (tonumber(a.sc.variation) or 0) < (tonumber(b.sc.variation) or 0)
  end)
  local sr = Session:nominal_sample_rate()
  local track = M.clip_track()
  local count = 0
  for _, clip in ipairs(ready) do
    local ok, placed = pcall(import_one, track, clip, clip.sc, sr)
    -- Remembered either way: a clip Ardour cannot read must not be retried every second.
    state.imported[clip.name] = tonumber(clip.sc.job_id) or true
    if ok and placed > 0 then
      count = count + 1
    else
      print("MusicGen: could not import " .. clip.path .. ": "
            .. tostring(ok and "Ardour made no region from it" or placed)
            .. "; drag it in from the folder by hand")
    end
  end
  M.save_state(state)
  return count
end

return M
