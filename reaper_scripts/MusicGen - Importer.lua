-- @noindex
-- @description MusicGen - Importer
-- @version 1.1.0
-- @author musicgen-bridge contributors
-- @about
--   # MusicGen - Importer
--
--   A background script: leave it running. It watches the MusicGen folder of the project in
--   the active tab and puts every finished clip onto a track named "MusicGen" (created when
--   missing), at the position the clip was asked for (the edit cursor when it has none).
--   Each clip is imported once per project, even across restarts; variations of one request
--   become takes of one item (switch with T, or Item > Take). Refused requests are reported
--   in the console. Run it again (or stop it from the toolbar) to stop it.
-- @provides
--   [nomain] MusicGen_lib.lua
--   [nomain] MusicGen_json.lua
--   [nomain] MusicGen_schema.lua

local lib = dofile((debug.getinfo(1, "S").source:match("^@?(.*[\\/])") or "") .. "MusicGen_lib.lua")

local SCAN_INTERVAL = 0.5  -- seconds between folder scans: quick enough, cheap for REAPER
local MAX_NAME = 80        -- take names longer than this are hard to read in the arrange view

local next_scan = 0
local shown = {}           -- messages already shown, so a broken file does not flood the console
local seen_rejections = {} -- folder -> { error file name -> true }
local failed = {}          -- clip path -> true: failed once this session, not retried every scan

local function once(key, text)
  if not shown[key] then
    shown[key] = true
    lib.log(text)
  end
end

----------------------------------------------------------------------------------------------
-- The MusicGen track and its items
----------------------------------------------------------------------------------------------

local function find_track(proj)
  for i = 0, reaper.CountTracks(proj) - 1 do
    local track = reaper.GetTrack(proj, i)
    local _, name = reaper.GetSetMediaTrackInfo_String(track, "P_NAME", "", false)
    if name == lib.TRACK_NAME then return track end
  end
end

local function track_for_clips(proj)
  local track = find_track(proj)
  if track then return track end
  -- At the bottom, so existing track numbers (and the user's routing by number) stay put.
  local index = reaper.CountTracks(proj)
  reaper.InsertTrackAtIndex(index, true)
  track = reaper.GetTrack(proj, index)
  reaper.GetSetMediaTrackInfo_String(track, "P_NAME", lib.TRACK_NAME, true)
  return track
end

local function item_guid(item)
  local _, guid = reaper.GetSetMediaItemInfo_String(item, "GUID", "", false)
  return guid
end

local function item_by_guid(proj, track, guid)
  for i = 0, reaper.CountTrackMediaItems(track) - 1 do
    local item = reaper.GetTrackMediaItem(track, i)
    if item_guid(item) == guid and reaper.ValidatePtr2(proj, item, "MediaItem*") then
      return item
    end
  end
end

----------------------------------------------------------------------------------------------
-- Clips and sidecars
----------------------------------------------------------------------------------------------

-- Finished clips in folder not yet imported into proj, oldest request first.
local function pending_clips(proj, folder)
  local clips = {}
  local names = lib.list_files(folder)
  local present = {}
  for _, name in ipairs(names) do present[name] = true end
  for _, name in ipairs(names) do
    local stem, ext = lib.split_ext(name)
    local path = lib.join(folder, name)
    -- The writer renames a finished clip into place after its sidecar, so a final name with a
    -- sidecar beside it is complete; hidden .part/.tmp names are still being written.
    if lib.AUDIO_EXTENSIONS[ext] and not lib.is_temp_name(name) and not failed[path] then
      local _, done = reaper.GetProjExtState(proj, lib.IMPORTED, name)
      if done == "" then
        if present[stem .. ".json"] then
          clips[#clips + 1] = { name = name, path = path, sidecar = lib.join(folder, stem .. ".json") }
        else
          once("nosidecar:" .. path, "skipping " .. path .. ": no " .. stem .. ".json beside it "
               .. "(clips are imported only with their sidecar, which carries the position)")
        end
      end
    end
  end
  return clips
end

local function read_sidecar(clip)
  local text, err = lib.read_file(clip.sidecar)
  if not text then return nil, err end
  local data, derr = lib.decode(text)
  if type(data) ~= "table" then return nil, "not a JSON object: " .. tostring(derr) end
  return data
end

local function take_name(sc, name)
  local text = lib.trim(type(sc.prompt) == "string" and sc.prompt or "")
  if text == "" then text = lib.split_ext(name) end
  if #text > MAX_NAME then text = text:sub(1, MAX_NAME - 3) .. "..." end
  if tonumber(sc.variation) and sc.variation > 1 then
    text = text .. " (v" .. lib.fmt(sc.variation) .. ")"
  end
  return text
end

local function value(x)
  if x == nil or x == "" then return "-" end
  return type(x) == "number" and lib.fmt(x) or tostring(x)
end

-- Everything needed to make the clip again, where the user finds it: Item properties > Notes.
local function notes_for(sc, name)
  local lines = {
    string.format("MusicGen job %s, variation %s: %s", value(sc.job_id), value(sc.variation), name),
    "prompt: " .. value(sc.prompt),
    "full prompt: " .. value(sc.full_prompt),
    string.format("%s BPM, %s, key %s, %s bars", value(sc.bpm), value(sc.meter), value(sc.key),
                  value(sc.bars)),
    string.format("seed %s, top-k %s, top-p %s, temperature %s, cfg %s", value(sc.seed),
                  value(sc.top_k), value(sc.top_p), value(sc.temperature), value(sc.cfg)),
    string.format("model %s, created %s, from %s", value(sc.model), value(sc.created),
                  value(sc.client_id)),
  }
  return table.concat(lines, "\n")
end

-- Variations of one request share job id and position: they go into one item as takes.
local function group_key(sc)
  if sc.job_id == nil then return nil end
  return string.format("job%s@%s", lib.fmt(sc.job_id), sc.position_s and lib.fmt(sc.position_s) or "cursor")
end

local function set_take(take, clip, sc)
  reaper.SetMediaItemTake_Source(take, reaper.PCM_Source_CreateFromFile(clip.path))
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", take_name(sc, clip.name), true)
end

local function clip_length(sc, take_source_path)
  if tonumber(sc.duration_s) and sc.duration_s > 0 then return sc.duration_s end
  local length = reaper.GetMediaSourceLength(reaper.PCM_Source_CreateFromFile(take_source_path))
  return length
end

local function import_clip(proj, track, clip, sc)
  local length = clip_length(sc, clip.path)
  local key = group_key(sc)
  local existing
  if key then
    local _, guid = reaper.GetProjExtState(proj, lib.GROUPS, key)
    if guid ~= "" then existing = item_by_guid(proj, track, guid) end
  end
  if existing then
    set_take(reaper.AddTakeToMediaItem(existing), clip, sc)
    local current = reaper.GetMediaItemInfo_Value(existing, "D_LENGTH")
    if length > current then reaper.SetMediaItemLength(existing, length, false) end
    local _, notes = reaper.GetSetMediaItemInfo_String(existing, "P_NOTES", "", false)
    reaper.GetSetMediaItemInfo_String(existing, "P_NOTES", notes .. "\n\n" .. notes_for(sc, clip.name), true)
  else
    local item = reaper.AddMediaItemToTrack(track)
    set_take(reaper.AddTakeToMediaItem(item), clip, sc)
    local position = tonumber(sc.position_s) or reaper.GetCursorPositionEx(proj)
    reaper.SetMediaItemPosition(item, position, false)
    reaper.SetMediaItemLength(item, length, false)
    reaper.GetSetMediaItemInfo_String(item, "P_NOTES", notes_for(sc, clip.name), true)
    if key then reaper.SetProjExtState(proj, lib.GROUPS, key, item_guid(item)) end
  end
  reaper.SetProjExtState(proj, lib.IMPORTED, clip.name, value(sc.job_id))
end

local function sort_clips(a, b)
  local ja, jb = tonumber(a.sc.job_id) or math.huge, tonumber(b.sc.job_id) or math.huge
  if ja ~= jb then return ja < jb end
  local va, vb = tonumber(a.sc.variation) or 0, tonumber(b.sc.variation) or 0
  if va ~= vb then return va < vb end
  return a.name < b.name
end

local function import_pending(proj, folder)
  local ready = {}
  for _, clip in ipairs(pending_clips(proj, folder)) do
    local sc, err = read_sidecar(clip)
    if sc then
      clip.sc = sc
      ready[#ready + 1] = clip
    else
      -- The writer puts the sidecar down whole before the audio; an unreadable one is broken,
      -- not half-written, but it is retried each scan in case something is still copying it.
      once("badsidecar:" .. clip.sidecar, "cannot read " .. clip.sidecar .. ": " .. tostring(err)
           .. "; the clip is imported once its sidecar is valid JSON")
    end
  end
  if #ready == 0 then return 0 end
  table.sort(ready, sort_clips)
  local imported = 0
  reaper.PreventUIRefresh(1)
  reaper.Undo_BeginBlock2(proj)
  local track = track_for_clips(proj)
  for _, clip in ipairs(ready) do
    local ok, err = pcall(import_clip, proj, track, clip, clip.sc)
    if ok then
      imported = imported + 1
    else
      failed[clip.path] = true
      lib.log("could not import " .. clip.path .. ": " .. tostring(err)
              .. "\nRestart the importer to try again, or drag the file in by hand.")
    end
  end
  reaper.Undo_EndBlock2(proj, string.format("MusicGen: import %d clip%s", imported,
                                            imported == 1 and "" or "s"), -1)
  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  return imported
end

-- Refusals land in requests/rejected/NAME.error.txt; say so where the user is looking.
local function report_rejections(folder)
  local dir = lib.join(lib.join(folder, lib.REQUESTS), "rejected")
  local first = seen_rejections[folder] == nil
  local seen = seen_rejections[folder] or {}
  seen_rejections[folder] = seen
  for _, name in ipairs(lib.list_files(dir)) do
    if name:find("%.error%.txt$") and not seen[name] then
      seen[name] = true
      if not first then  -- old refusals from before this start were seen already
        local text = lib.read_file(lib.join(dir, name)) or ""
        lib.log("a request was refused (" .. lib.join(dir, name) .. "):\n" .. lib.trim(text))
      end
    end
  end
end

----------------------------------------------------------------------------------------------
-- The background loop
----------------------------------------------------------------------------------------------

-- The daemon's state and the running job's progress, in REAPER's help line (the bottom of the
-- main window), refreshed every scan; "daemon not running" also goes to the console, once each
-- time it stops (not on every scan).
local shown_daemon, daemon_was_running
local function show_daemon(folder)
  local running, text = lib.daemon_status(folder)
  if text ~= shown_daemon then
    shown_daemon = text
    if reaper.Help_Set then reaper.Help_Set("MusicGen " .. text, false) end
  end
  if not running and daemon_was_running ~= false then lib.log(text) end
  daemon_was_running = running
end

local function scan()
  -- Only the project in the active tab: clips of another tab wait until it is active again,
  -- so they never land in the wrong project.
  local proj = lib.current_project()
  local folder, why = lib.folder(proj)
  if not folder then
    once("nofolder:" .. tostring(proj), why)
    return
  end
  once("watching:" .. folder, "importer watching " .. folder)
  show_daemon(folder)
  report_rejections(folder)
  if reaper.GetPlayStateEx(proj) & 4 == 4 then return end  -- recording: import when it stops
  import_pending(proj, folder)
end

local function loop()
  local now = reaper.time_precise()
  if now >= next_scan then
    next_scan = now + SCAN_INTERVAL
    reaper.SetExtState(lib.EXT, "importer_alive", tostring(os.time()), false)
    -- One bad scan must not end the loop: report it and keep watching.
    local ok, err = xpcall(scan, debug.traceback)
    if not ok then once("error:" .. tostring(err), "importer error (still watching):\n" .. tostring(err)) end
  end
  reaper.defer(loop)
end

reaper.atexit(function()
  reaper.SetExtState(lib.EXT, "importer_alive", "", false)
end)

loop()
