-- @noindex
-- @description MusicGen - Settings
-- @version 1.1.0
-- @author musicgen-bridge contributors
-- @about
--   # MusicGen - Settings
--
--   Once per project: the folder the daemon writes clips to (and reads requests from), and the
--   default sampling knobs for requests from this project. Saved with the project; answer "y"
--   to the last question to make them the defaults for projects that have none.
--   Empty fields mean "the daemon's own default".
-- @provides
--   [nomain] MusicGen_lib.lua
--   [nomain] MusicGen_json.lua
--   [nomain] MusicGen_schema.lua

local lib = dofile((debug.getinfo(1, "S").source:match("^@?(.*[\\/])") or "") .. "MusicGen_lib.lua")

local TITLE = "MusicGen - Settings"
local P = lib.schema.params

-- One row per dialog field: the setting key and its caption. Keys other than "folder" are
-- request fields (lib.SETTING_FIELDS), so what is saved here goes straight into requests.
local ROWS = {
  { key = "folder", caption = "MusicGen folder (empty: MusicGen beside the .rpp)" },
  { key = "variations", caption = string.format("Variations (%d-%d)", P.variations.min, P.variations.max) },
  { key = "top_k", caption = string.format("Top-k (%d-%d)", P.top_k.min, P.top_k.max) },
  { key = "top_p", caption = "Top-p (0-1; 0 = off)" },
  { key = "temperature", caption = string.format("Temperature (%s-%s)", lib.fmt(P.temperature.min), lib.fmt(P.temperature.max)) },
  { key = "cfg", caption = string.format("CFG (%s-%s)", lib.fmt(P.cfg.min), lib.fmt(P.cfg.max)) },
  { key = "quality", caption = "Quality (hi-fi / lo-fi / none / words)" },
  { key = "negative_prompt", caption = "Negative prompt (steer away from)" },
}

-- Returns the cleaned value ("" for "daemon default") or nil and what to fix.
local function check(row, text)
  if text == "" then return "" end
  local p = P[row.key]
  if not p then return text end
  local n = lib.to_number(text, p.integer)
  if n == nil or n < p.min or n > p.max then
    return nil, string.format("%s must be %s %s..%s (or empty for the daemon's default), got '%s'.",
      p.label, p.integer and "a whole number" or "a number", lib.fmt(p.min), lib.fmt(p.max), text)
  end
  return lib.fmt(n)
end

local function main()
  local proj = lib.current_project()
  local captions, values = {}, {}
  for i, row in ipairs(ROWS) do
    captions[i] = row.caption
    values[i] = lib.setting(proj, row.key) or ""
  end
  captions[#captions + 1] = "Also the default for new projects? (y/n)"
  values[#values + 1] = "n"

  local cleaned
  while true do
    local got = lib.ask(TITLE, captions, values, 420)
    if not got then return end
    cleaned = {}
    local problem
    for i, row in ipairs(ROWS) do
      local value, err = check(row, got[i])
      if value == nil then problem = err break end
      cleaned[row.key] = value
    end
    if not problem then
      local answer = got[#ROWS + 1]:lower()
      if answer ~= "y" and answer ~= "n" and answer ~= "" then
        problem = "Answer y or n to 'Also the default for new projects?'."
      else
        cleaned.as_default = answer == "y"
      end
    end
    if not problem then break end
    lib.message(problem, TITLE)
    values = got
  end

  for _, row in ipairs(ROWS) do
    reaper.SetProjExtState(proj, lib.EXT, row.key, cleaned[row.key])
    if cleaned.as_default then
      reaper.SetExtState(lib.EXT, "default_" .. row.key, cleaned[row.key], true)
    end
  end

  local folder, why = lib.folder(proj)
  if not folder then return lib.message(why, TITLE) end
  lib.message("Requests go to " .. lib.requests_dir(folder) .. " and clips are imported from "
    .. folder .. ".\n\nStart the daemon so that it writes there:\n\n    musicgen-bridge serve --out \""
    .. folder .. "\"", TITLE)
end

main()
