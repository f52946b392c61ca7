-- @description MusicGen bridge: generate bar-exact clips from the time selection
-- @version 1.1.0
-- @author musicgen-bridge contributors
-- @about
--   # MusicGen bridge for REAPER
--
--   Asks a running musicgen-bridge daemon for clips that are exactly as long as the time
--   selection, at the project's tempo and time signature, and brings them onto a "MusicGen"
--   track over the selection.
--
--   - **MusicGen - Generate from time selection**: select bars, run it, type a prompt.
--   - **MusicGen - Continue from time selection**: continue the audio in the selection.
--   - **MusicGen - Importer**: background script that brings finished clips in.
--   - **MusicGen - Settings**: the daemon's folder and default knobs, per project.
--   - **MusicGen - Train style from selected items**: teach the model a sound from 5-50 items.
--
--   Needs the daemon (`musicgen-bridge serve`); see docs/reaper.md in the repository.
-- @provides
--   [main] MusicGen - Continue from time selection.lua
--   [main] MusicGen - Importer.lua
--   [main] MusicGen - Settings.lua
--   [main] MusicGen - Train style from selected items.lua
--   [nomain] MusicGen_lib.lua
--   [nomain] MusicGen_json.lua
--   [nomain] MusicGen_schema.lua
-- @changelog
--   Says "daemon not running" (with the command that starts it) when a request is sent and
--   no daemon is alive; the Importer shows the running job's stage and progress in REAPER's
--   help line. Both read status.json, which the daemon keeps in its output folder.

local lib = dofile((debug.getinfo(1, "S").source:match("^@?(.*[\\/])") or "") .. "MusicGen_lib.lua")

local TITLE = "MusicGen - Generate"

-- Reads the dialog's values; returns the request fields or nil and what to fix.
local function parse(values, ctx)
  local prompt, key, variations, seed = values[1], values[2], values[3], values[4]
  local out = { prompt = prompt, key = key }
  if prompt == "" then return nil, "Type what to generate, e.g. \"dusty funk drums\"." end
  if #prompt > lib.schema.max_prompt_chars then
    return nil, "The prompt is longer than " .. lib.schema.max_prompt_chars .. " characters."
  end
  local p = lib.schema.params.variations
  out.variations = lib.to_number(variations, true)
  if not out.variations or out.variations < p.min or out.variations > p.max then
    return nil, string.format("Variations must be a whole number %d..%d, got '%s'.", p.min, p.max,
                              variations)
  end
  out.seed = lib.to_number(seed, true)
  if seed == "" then out.seed = -1 end
  if not out.seed or out.seed < -1 or out.seed > lib.schema.seed_max then
    return nil, "Seed must be -1 (random) or a whole number 0.." .. lib.schema.seed_max
      .. ", got '" .. seed .. "'."
  end
  if ctx.bars then
    out.bars = ctx.bars
  else
    out.bars = lib.to_number(values[5], true)
    if not out.bars or out.bars < 1 or out.bars > lib.schema.max_bars then
      return nil, "Bars must be a whole number 1.." .. lib.schema.max_bars .. ", got '"
        .. tostring(values[5]) .. "'."
    end
  end
  return out
end

local function last(key, default)
  local v = reaper.GetExtState(lib.EXT, "last_" .. key)
  if v == "" then return default end
  return v
end

local function ask(ctx, proj)
  local defaults = lib.request_defaults(proj)
  local captions = { "Prompt", "Key (e.g. A minor; empty: none)", "Variations (1-8)",
                     "Seed (-1: random)" }
  local values = { last("prompt", ""), last("key", ""),
                   last("variations", tostring(defaults.variations or 1)),
                   last("seed", "-1") }
  if not ctx.bars then
    -- Not whole bars: MusicGen clips are whole bars, so ask how many, from the selection start.
    captions[#captions + 1] = string.format("Bars (selection is %.2f)", ctx.bars_exact)
    values[#values + 1] = tostring(math.max(1, math.floor(ctx.bars_exact + 0.5)))
  end
  local title = string.format("%s: %s BPM, %s", TITLE, lib.fmt(ctx.bpm), ctx.meter)
  while true do
    local got = lib.ask(title, captions, values, 360)
    if not got then return nil end
    local fields, problem = parse(got, ctx)
    if fields then return fields end
    lib.message(problem, TITLE)
    values = got  -- ask again with what the user typed, so nothing is lost
  end
end

local function main()
  local proj = lib.current_project()
  local folder, why = lib.folder(proj)
  if not folder then return lib.message(why, TITLE) end
  local start, stop = lib.time_selection(proj)
  if not start then return lib.message(stop, TITLE) end
  local ctx = lib.musical_context(proj, start, stop)
  if ctx.change then
    -- A clip has one tempo and meter: refuse rather than make bars that miss the grid.
    return lib.message(ctx.change:gsub("^%l", string.upper) .. " inside the selection: select "
      .. "a range with one tempo and time signature.", TITLE)
  end
  local fields = ask(ctx, proj)
  if not fields then return end

  local request = lib.request_defaults(proj)
  request.prompt = fields.prompt
  request.key = fields.key
  request.variations = fields.variations
  request.seed = fields.seed
  request.bars = fields.bars
  request.bpm = ctx.bpm
  request.meter = ctx.meter
  request.position_s = start
  request.client_id = lib.CLIENT_ID
  local path, err = lib.write_request(folder, request)
  if not path then return lib.message(err, TITLE) end

  reaper.SetExtState(lib.EXT, "last_prompt", fields.prompt, true)
  reaper.SetExtState(lib.EXT, "last_key", fields.key, true)
  reaper.SetExtState(lib.EXT, "last_variations", tostring(fields.variations), true)
  reaper.SetExtState(lib.EXT, "last_seed", tostring(fields.seed), true)
  lib.request_sent(folder, TITLE, "Run 'MusicGen - Importer' so the clip lands on the timeline "
    .. "when it is ready (it is kept in " .. folder .. " until then).")
end

main()
