-- @noindex
-- @description MusicGen - Continue from time selection
-- @version 1.1.0
-- @author musicgen-bridge contributors
-- @about
--   # MusicGen - Continue from time selection
--
--   Renders the time selection (the master mix) into the MusicGen folder and asks the daemon
--   to continue it: the new bars land right after the selection. Your render settings are put
--   back afterwards. Needs a daemon whose model supports continuation; otherwise the request
--   is refused with the reason (shown by the importer).
-- @provides
--   [nomain] MusicGen_lib.lua
--   [nomain] MusicGen_json.lua
--   [nomain] MusicGen_schema.lua

local lib = dofile((debug.getinfo(1, "S").source:match("^@?(.*[\\/])") or "") .. "MusicGen_lib.lua")

local TITLE = "MusicGen - Continue"
local RENDER_WITH_LAST_SETTINGS = 42230  -- File: Render project, using the most recent render settings, auto-close render dialog
local MIN_PROMPT_S, MAX_PROMPT_S = 0.5, 25.0  -- the prompt_seconds range of the request schema

local NUMBER_KEYS = { "RENDER_SETTINGS", "RENDER_BOUNDSFLAG" }
local STRING_KEYS = { "RENDER_FILE", "RENDER_PATTERN" }

local function save_render_settings(proj)
  local saved = { numbers = {}, strings = {} }
  for _, k in ipairs(NUMBER_KEYS) do saved.numbers[k] = reaper.GetSetProjectInfo(proj, k, 0, false) end
  for _, k in ipairs(STRING_KEYS) do
    local _, v = reaper.GetSetProjectInfo_String(proj, k, "", false)
    saved.strings[k] = v
  end
  return saved
end

local function restore_render_settings(proj, saved)
  for k, v in pairs(saved.numbers) do reaper.GetSetProjectInfo(proj, k, v, true) end
  for k, v in pairs(saved.strings) do reaper.GetSetProjectInfo_String(proj, k, v, true) end
end

-- Renders the time selection of the master mix to dir/stem.<the user's render format>.
-- Returns the file's path, or nil and what went wrong.
local function render_selection(proj, dir, stem)
  local saved = save_render_settings(proj)
  -- Whatever happens during the render, the user's settings come back.
  local ok, err = pcall(function()
    reaper.GetSetProjectInfo(proj, "RENDER_SETTINGS", 0, true)    -- master mix
    reaper.GetSetProjectInfo(proj, "RENDER_BOUNDSFLAG", 2, true)  -- time selection
    reaper.GetSetProjectInfo_String(proj, "RENDER_FILE", dir, true)
    reaper.GetSetProjectInfo_String(proj, "RENDER_PATTERN", stem, true)
    reaper.Main_OnCommand(RENDER_WITH_LAST_SETTINGS, 0)
  end)
  restore_render_settings(proj, saved)
  if not ok then return nil, "rendering failed: " .. tostring(err) end
  -- The format is the one last used in File > Render (WAV unless changed); find what came out.
  for _, name in ipairs(lib.list_files(dir)) do
    local file_stem, ext = lib.split_ext(name)
    if file_stem == stem and lib.AUDIO_EXTENSIONS[ext] then return lib.join(dir, name), ext end
  end
  return nil, "REAPER rendered no audio file into " .. dir .. ". Open File > Render once, pick "
    .. "WAV as the format, close the dialog, and run this script again."
end

local function ask(ctx)
  local captions = { "Prompt (optional)", "Bars to add", "Variations (1-8)" }
  local values = { reaper.GetExtState(lib.EXT, "last_prompt"), tostring(ctx.bars or 4),
                   reaper.GetExtState(lib.EXT, "last_variations") }
  if values[3] == "" then values[3] = "1" end
  local p = lib.schema.params.variations
  while true do
    local got = lib.ask(string.format("%s: %s BPM, %s", TITLE, lib.fmt(ctx.bpm), ctx.meter),
                        captions, values, 360)
    if not got then return nil end
    local bars, variations = lib.to_number(got[2], true), lib.to_number(got[3], true)
    local problem
    if not bars or bars < 1 or bars > lib.schema.max_bars then
      problem = "Bars to add must be a whole number 1.." .. lib.schema.max_bars .. "."
    elseif not variations or variations < p.min or variations > p.max then
      problem = string.format("Variations must be a whole number %d..%d.", p.min, p.max)
    end
    if not problem then return { prompt = got[1], bars = bars, variations = variations } end
    lib.message(problem, TITLE)
    values = got
  end
end

local function main()
  local proj = lib.current_project()
  local folder, why = lib.folder(proj)
  if not folder then return lib.message(why, TITLE) end
  local start, stop = lib.time_selection(proj)
  if not start then return lib.message(stop, TITLE) end
  if stop - start < MIN_PROMPT_S then
    return lib.message(string.format("Select at least %.1f s of audio to continue from.",
                                     MIN_PROMPT_S), TITLE)
  end
  local ctx = lib.musical_context(proj, start, stop)
  local fields = ask(ctx)
  if not fields then return end
  -- The prompt and the new bars are played at one tempo and meter, or not at all.
  local change = lib.tempo_change(proj, ctx, start, stop + fields.bars * ctx.bar_s)
  if change then
    return lib.message(change:gsub("^%l", string.upper) .. " between the selection start and "
      .. "the end of the new bars: select a range with one tempo and time signature, or add "
      .. "fewer bars.", TITLE)
  end

  local dir = lib.join(lib.requests_dir(folder), lib.AUDIO)
  local ok, err = lib.ensure_dir(dir)
  if not ok then return lib.message(err, TITLE) end
  local stem = lib.unique_stem("prompt")
  local audio, ext = render_selection(proj, dir, stem)
  if not audio then return lib.message(ext, TITLE) end

  local request = lib.request_defaults(proj)
  request.prompt = fields.prompt
  request.bars = fields.bars
  request.variations = fields.variations
  request.bpm = ctx.bpm
  request.meter = ctx.meter
  request.position_s = stop  -- the continuation starts where the selection ends
  request.audio_prompt = audio
  -- MusicGen reads at most the last 25 s; a longer selection still renders whole.
  request.prompt_seconds = math.max(MIN_PROMPT_S, math.min(MAX_PROMPT_S, stop - start))
  request.client_id = lib.CLIENT_ID
  local path, werr = lib.write_request(folder, request)
  if not path then return lib.message(werr, TITLE) end
  reaper.SetExtState(lib.EXT, "last_variations", tostring(fields.variations), true)
  if ext ~= "wav" then
    lib.log("the selection was rendered as ." .. ext .. " (your last render format): fine for "
            .. "the daemon, but WAV keeps the prompt lossless")
  end
  lib.request_sent(folder, TITLE, "Run 'MusicGen - Importer' so the continuation lands on the "
    .. "timeline when it is ready.")
end

main()
