-- A fake `reaper` table for running the MusicGen scripts under a plain Lua 5.4 interpreter.
--
-- It implements only the ReaScript calls the scripts use, with REAPER's signatures and return
-- conventions (checked against the ReaScript API list), keeps a small model of projects,
-- tracks, items and takes, and records what the scripts did. Any other reaper.X raises, so a
-- script cannot start using an API call the tests do not cover. Files are real: the scripts
-- read and write the test's temporary folders.

local Fake = {}

-- Marks a table as a JSON array for the driver's encoder (empty lists stay lists).
Fake.array = function(t) return t end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function list_dir(path, want_dirs)
  local names = {}
  local flag = want_dirs and "-type d" or "-type f"
  local p = io.popen("find " .. shell_quote(path) .. " -mindepth 1 -maxdepth 1 " .. flag
                     .. " -printf '%f\\n' 2>/dev/null | LC_ALL=C sort")
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  return names
end

local function dir_exists(path)
  local ok = os.execute("test -d " .. shell_quote(path))
  return ok == true
end

-- Length in seconds of a PCM WAV file, from its header (0 when it is not one).
local function wav_length(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local data = f:read(4096) or ""
  f:close()
  if data:sub(1, 4) ~= "RIFF" or data:sub(9, 12) ~= "WAVE" then return 0 end
  local pos, channels, rate, bits = 13, nil, nil, nil
  while pos + 8 <= #data do
    local id, size = data:sub(pos, pos + 3), string.unpack("<I4", data, pos + 4)
    if id == "fmt " then
      channels, rate = string.unpack("<I2", data, pos + 10), string.unpack("<I4", data, pos + 12)
      bits = string.unpack("<I2", data, pos + 22)
    elseif id == "data" and channels then
      return size / (channels * (bits // 8)) / rate
    end
    pos = pos + 8 + size + (size % 2)
  end
  return 0
end

function Fake.new(scenario)
  local S = {
    clock = scenario.clock or 1000.0,
    os = scenario.os or "Linux",
    projects = {},
    current = scenario.current or 1,
    extstate = scenario.extstate or {},
    inputs = scenario.inputs or {},
    mb_answers = scenario.mb_answers or {},
    apis = scenario.apis or {},
    calls = {},         -- every call, in order: { name, ... }
    dialogs = {},
    messages = {},
    console = {},
    renders = {},
    undo = {},
    ui_refresh = 0,
    deferred = nil,
    atexit = {},
    next_guid = 1,
  }
  local owner = setmetatable({}, { __mode = "k" })  -- track/item/take -> parent object

  local function new_guid()
    local g = string.format("{00000000-0000-0000-0000-%012d}", S.next_guid)
    S.next_guid = S.next_guid + 1
    return g
  end

  local function load_project(p)
    local proj = {
      file = p.file or "", ext = p.ext or {}, tracks = {},
      selection = p.selection or { 0, 0 }, cursor = p.cursor or 0, play_state = p.play_state or 0,
      tempo = p.tempo or { { time = 0, bpm = 120, num = 4, denom = 4 } },
      info = p.info or {}, info_string = p.info_string or {},
      render_ext = p.render_ext or "wav",
    }
    for _, t in ipairs(p.tracks or {}) do
      local track = { name = t.name or "", items = {} }
      owner[track] = proj
      for _, it in ipairs(t.items or {}) do
        local item = { position = it.position or 0, length = it.length or 0, notes = it.notes or "",
                       guid = it.guid or new_guid(), takes = {}, selected = it.selected }
        owner[item] = track
        for _, tk in ipairs(it.takes or {}) do
          local take = { name = tk.name or "", source = tk.source }
          owner[take] = item
          item.takes[#item.takes + 1] = take
        end
        track.items[#track.items + 1] = item
      end
      proj.tracks[#proj.tracks + 1] = track
    end
    return proj
  end

  for _, p in ipairs(scenario.projects or { {} }) do S.projects[#S.projects + 1] = load_project(p) end
  if scenario.next_guid then S.next_guid = scenario.next_guid end

  local function record(name, ...)
    S.calls[#S.calls + 1] = { name = name, args = { ... } }
  end

  local function proj_of(p)
    if p == nil or p == 0 then return S.projects[S.current] end
    for _, proj in ipairs(S.projects) do if proj == p then return proj end end
    error("fake reaper: not a project of this session: " .. tostring(p), 3)
  end

  local function tempo_at(proj, time)
    local seg = proj.tempo[1]
    for _, t in ipairs(proj.tempo) do if t.time <= time + 1e-9 then seg = t end end
    return seg
  end

  local r = {}

  r.GetOS = function() return S.os end
  r.time_precise = function() return S.clock end
  r.APIExists = function(name) return S.apis[name] == true end

  -- Console and dialogs -------------------------------------------------------------------
  r.ShowConsoleMsg = function(msg) S.console[#S.console + 1] = msg end
  r.Help_Set = function(text, temporary) record("Help_Set", text, temporary) end
  r.MB = function(msg, title, kind)
    S.messages[#S.messages + 1] = { text = msg, title = title, kind = kind }
    return table.remove(S.mb_answers, 1) or 1
  end
  r.ShowMessageBox = r.MB
  r.GetUserInputs = function(title, n, captions, defaults)
    assert(type(title) == "string" and math.type(n) == "integer" and type(captions) == "string"
           and type(defaults) == "string", "fake reaper: GetUserInputs argument types")
    assert(n <= 16, "GetUserInputs takes at most 16 fields")
    -- Captions are always comma-separated (separator= changes only the values), so a comma
    -- inside a caption silently shifts every field after it.
    local count = 0
    for caption in (captions .. ","):gmatch("(.-),") do
      if not caption:find("^extrawidth=") and not caption:find("^separator=") then count = count + 1 end
    end
    assert(count == n, "GetUserInputs: " .. count .. " captions for " .. n .. " fields in '" .. captions .. "'")
    S.dialogs[#S.dialogs + 1] = { title = title, n = n, captions = captions, defaults = defaults }
    local answer = table.remove(S.inputs, 1)
    if answer == nil or answer.ok == false then return false, defaults end
    local sep = captions:match("separator=(.)") or ","
    return true, table.concat(answer.values, sep)
  end

  -- Ext state -----------------------------------------------------------------------------
  r.GetExtState = function(section, key) return S.extstate[section .. "/" .. key] or "" end
  r.SetExtState = function(section, key, value, persist)
    assert(type(value) == "string", "SetExtState value must be a string")
    record("SetExtState", section, key, value, persist)
    S.extstate[section .. "/" .. key] = value
  end
  r.GetProjExtState = function(p, ext, key)
    local v = (proj_of(p).ext[ext] or {})[key] or ""
    return #v, v
  end
  r.SetProjExtState = function(p, ext, key, value)
    assert(type(value) == "string", "SetProjExtState value must be a string")
    local proj = proj_of(p)
    proj.ext[ext] = proj.ext[ext] or {}
    proj.ext[ext][key] = value ~= "" and value or nil
    return 1
  end

  -- Projects ------------------------------------------------------------------------------
  r.EnumProjects = function(idx)
    local proj = idx == -1 and S.projects[S.current] or S.projects[idx + 1]
    if proj == nil then return nil end
    return proj, proj.file
  end
  r.GetSet_LoopTimeRange2 = function(p, is_set, is_loop, start, stop, seek)
    local proj = proj_of(p)
    if is_set then proj.selection = { start, stop } end
    return proj.selection[1], proj.selection[2]
  end
  r.TimeMap_GetTimeSigAtTime = function(p, time)
    local seg = tempo_at(proj_of(p), time)
    return seg.num, seg.denom, seg.bpm
  end
  -- One marker per tempo-map entry; measurepos counts whole bars from the project start.
  r.CountTempoTimeSigMarkers = function(p) return #proj_of(p).tempo end
  r.GetTempoTimeSigMarker = function(p, idx)
    local tempo = proj_of(p).tempo
    local t = tempo[idx + 1]
    if t == nil then return false, -1, -1, -1, 0, 0, 0, false end
    local measures = 0
    for i = 2, idx + 1 do
      local prev = tempo[i - 1]
      measures = measures + (tempo[i].time - prev.time) / (prev.num * (4 / prev.denom) * 60 / prev.bpm)
    end
    return true, t.time, math.floor(measures + 1e-9), 0, t.bpm, t.num, t.denom, false
  end
  r.GetCursorPositionEx = function(p) return proj_of(p).cursor end
  r.GetPlayStateEx = function(p) return proj_of(p).play_state end
  r.GetSetProjectInfo = function(p, desc, value, is_set)
    local proj = proj_of(p)
    if is_set then
      record("GetSetProjectInfo", desc, value)
      proj.info[desc] = value
    end
    return proj.info[desc] or 0
  end
  r.GetSetProjectInfo_String = function(p, desc, value, is_set)
    local proj = proj_of(p)
    if is_set then
      record("GetSetProjectInfo_String", desc, value)
      proj.info_string[desc] = value
    end
    return true, proj.info_string[desc] or ""
  end
  r.Main_OnCommand = function(cmd, flag)
    record("Main_OnCommand", cmd, flag)
    if cmd ~= 42230 then error("fake reaper: action " .. cmd .. " is not modelled", 2) end
    -- "Render project, using the most recent render settings, auto-close render dialog".
    local proj = S.projects[S.current]
    local render = {
      bounds = proj.info.RENDER_BOUNDSFLAG, settings = proj.info.RENDER_SETTINGS,
      dir = proj.info_string.RENDER_FILE, pattern = proj.info_string.RENDER_PATTERN,
      selection = { proj.selection[1], proj.selection[2] },
    }
    S.renders[#S.renders + 1] = render
    if scenario.fail_render then error("render failed (as the scenario asked)", 2) end
    if scenario.render_nothing then return end  -- e.g. the user cancelled the render
    if render.dir and render.pattern and render.dir ~= "" then
      os.execute("mkdir -p " .. shell_quote(render.dir))
      local f = assert(io.open(render.dir .. "/" .. render.pattern .. "." .. proj.render_ext, "wb"))
      f:write("RIFF fake render")
      f:close()
    end
  end

  -- Undo and UI ---------------------------------------------------------------------------
  r.Undo_BeginBlock2 = function(p) proj_of(p); S.undo[#S.undo + 1] = { open = true } end
  r.Undo_EndBlock2 = function(p, desc, flags)
    local last = S.undo[#S.undo]
    assert(last and last.open, "Undo_EndBlock2 without Undo_BeginBlock2")
    last.open, last.desc, last.flags = false, desc, flags
  end
  r.PreventUIRefresh = function(n) S.ui_refresh = S.ui_refresh + n end
  r.UpdateArrange = function() record("UpdateArrange") end

  -- Tracks --------------------------------------------------------------------------------
  r.CountTracks = function(p) return #proj_of(p).tracks end
  r.GetTrack = function(p, idx) return proj_of(p).tracks[idx + 1] end
  r.InsertTrackAtIndex = function(idx, defaults)
    local proj = S.projects[S.current]
    idx = math.max(0, math.min(idx, #proj.tracks))
    local track = { name = "", items = {} }
    owner[track] = proj
    table.insert(proj.tracks, idx + 1, track)
    record("InsertTrackAtIndex", idx, defaults)
  end
  r.GetSetMediaTrackInfo_String = function(track, parm, value, set)
    assert(type(track) == "table" and track.items and owner[track], "expects a MediaTrack")
    assert(parm == "P_NAME", "fake reaper: track string " .. parm .. " not modelled")
    if set then track.name = value end
    return true, track.name
  end

  -- Items, takes, sources -----------------------------------------------------------------
  r.AddMediaItemToTrack = function(track)
    assert(track and track.items, "AddMediaItemToTrack needs a track")
    local item = { position = 0, length = 0, notes = "", guid = new_guid(), takes = {} }
    owner[item] = track
    track.items[#track.items + 1] = item
    return item
  end
  r.AddTakeToMediaItem = function(item)
    assert(item and item.takes, "AddTakeToMediaItem needs an item")
    local take = { name = "", source = nil }
    owner[take] = item
    item.takes[#item.takes + 1] = take
    return take
  end
  r.CountTrackMediaItems = function(track) return #track.items end
  r.GetTrackMediaItem = function(track, idx) return track.items[idx + 1] end
  r.GetMediaItemNumTakes = function(item) return #item.takes end
  local function selected_items(p)
    local out = {}
    for _, track in ipairs(proj_of(p).tracks) do
      for _, item in ipairs(track.items) do
        if item.selected then out[#out + 1] = item end
      end
    end
    return out
  end
  r.CountSelectedMediaItems = function(p) return #selected_items(p) end
  r.GetSelectedMediaItem = function(p, idx) return selected_items(p)[idx + 1] end
  r.GetActiveTake = function(item) return item.takes[1] end
  r.GetMediaItemTake_Source = function(take) return { file = take.source } end
  -- A source without a file (in-project MIDI) gives "".
  r.GetMediaSourceFileName = function(src, buf) return src.file or "" end
  r.ValidatePtr2 = function(p, ptr, kind)
    local proj = proj_of(p)
    if kind == "MediaItem*" then
      local track = owner[ptr]
      return track ~= nil and owner[track] == proj
    end
    error("fake reaper: ValidatePtr2 kind " .. kind .. " not modelled", 2)
  end
  r.PCM_Source_CreateFromFile = function(path)
    assert(type(path) == "string" and path ~= "", "PCM_Source_CreateFromFile needs a path")
    return { file = path }
  end
  r.GetMediaSourceLength = function(src) return wav_length(src.file), false end
  r.SetMediaItemTake_Source = function(take, src)
    take.source = src.file
    return true
  end
  r.SetMediaItemPosition = function(item, pos, refresh) item.position = pos return true end
  r.SetMediaItemLength = function(item, len, refresh) item.length = len return true end
  r.GetMediaItemInfo_Value = function(item, parm)
    if parm == "D_POSITION" then return item.position end
    if parm == "D_LENGTH" then return item.length end
    error("fake reaper: item value " .. parm .. " not modelled", 2)
  end
  r.GetSetMediaItemInfo_String = function(item, parm, value, set)
    if parm == "P_NOTES" then
      if set then item.notes = value end
      return true, item.notes
    elseif parm == "GUID" then
      if set then item.guid = value end
      return true, item.guid
    end
    error("fake reaper: item string " .. parm .. " not modelled", 2)
  end
  r.GetSetMediaItemTakeInfo_String = function(take, parm, value, set)
    assert(parm == "P_NAME", "fake reaper: take string " .. parm .. " not modelled")
    if set then take.name = value end
    return true, take.name
  end

  -- Files and folders ---------------------------------------------------------------------
  r.EnumerateFiles = function(path, idx)
    if idx < 0 then return nil end
    return list_dir(path, false)[idx + 1]
  end
  r.EnumerateSubdirectories = function(path, idx)
    if idx < 0 then return nil end
    return list_dir(path, true)[idx + 1]
  end
  r.RecursiveCreateDirectory = function(path, ignored)
    os.execute("mkdir -p " .. shell_quote(path))
    return dir_exists(path) and 1 or 0
  end
  r.GetResourcePath = function() return scenario.resource_path or "/tmp/reaper-resource" end

  -- Background scripts --------------------------------------------------------------------
  r.defer = function(fn)
    assert(type(fn) == "function", "defer needs a function")
    S.deferred = fn
  end
  r.atexit = function(fn) S.atexit[#S.atexit + 1] = fn end

  setmetatable(r, {
    __index = function(_, name)
      error("fake reaper: reaper." .. tostring(name) .. " is not implemented; if it is a real "
            .. "ReaScript call the scripts need, add it to tests/reaper/fake_reaper.lua", 2)
    end,
  })

  -- Serialisable snapshot of the fake's state, in the shape Fake.new accepts back.
  function S.dump()
    local A = Fake.array
    local projects = A({})
    for _, proj in ipairs(S.projects) do
      local tracks = A({})
      for _, track in ipairs(proj.tracks) do
        local items = A({})
        for _, item in ipairs(track.items) do
          local takes = A({})
          for _, take in ipairs(item.takes) do takes[#takes + 1] = { name = take.name, source = take.source } end
          items[#items + 1] = { position = item.position, length = item.length, notes = item.notes,
                                guid = item.guid, takes = takes }
        end
        tracks[#tracks + 1] = { name = track.name, items = items }
      end
      projects[#projects + 1] = {
        file = proj.file, ext = proj.ext, tracks = tracks, selection = A(proj.selection),
        cursor = proj.cursor, play_state = proj.play_state, tempo = A(proj.tempo),
        info = proj.info, info_string = proj.info_string, render_ext = proj.render_ext,
      }
    end
    return projects
  end

  return r, S
end

return Fake
