-- @noindex
-- @description MusicGen - Train style from selected items
-- @version 1.1.0
-- @author musicgen-bridge contributors
-- @about
--   # MusicGen - Train style from selected items
--
--   Teaches the daemon's model a sound from the selected audio items: select 5 to 50 items
--   (each source file 5-30 s), run it, name the style and describe it. The daemon trains
--   between generation jobs and refuses unusable files with the reason (shown by the
--   importer). Each item's whole source file is used, not just its trimmed part.
-- @provides
--   [nomain] MusicGen_lib.lua
--   [nomain] MusicGen_json.lua
--   [nomain] MusicGen_schema.lua

local lib = dofile((debug.getinfo(1, "S").source:match("^@?(.*[\\/])") or "") .. "MusicGen_lib.lua")

local TITLE = "MusicGen - Train style"
local MIN_CLIPS, MAX_CLIPS = 5, 50  -- bridge.engine.style_train

-- The source files of the selected items, each once, in selection order.
local function selected_files(proj)
  local files, seen, skipped = {}, {}, 0
  for i = 0, reaper.CountSelectedMediaItems(proj) - 1 do
    local take = reaper.GetActiveTake(reaper.GetSelectedMediaItem(proj, i))
    local file = take and reaper.GetMediaSourceFileName(reaper.GetMediaItemTake_Source(take), "")
    if file and file ~= "" then
      if not seen[file] then
        seen[file] = true
        files[#files + 1] = file
      end
    else
      skipped = skipped + 1  -- MIDI, empty items: nothing to learn a sound from
    end
  end
  return files, skipped
end

local function ask()
  local values = { reaper.GetExtState(lib.EXT, "last_style"), "" }
  while true do
    local got = lib.ask(TITLE, { "Style name (letters digits - _)", "Description (optional)" },
                        values, 360)
    if not got then return nil end
    if got[1]:match("^[%w][%w_%-]*$") and #got[1] <= 48 then
      return { name = got[1], description = got[2] }
    end
    lib.message("The style name must be 1-48 letters, digits, '-' or '_', starting with a "
                .. "letter or digit.", TITLE)
    values = got
  end
end

local function main()
  local proj = lib.current_project()
  local folder, why = lib.folder(proj)
  if not folder then return lib.message(why, TITLE) end
  local files, skipped = selected_files(proj)
  if #files < MIN_CLIPS or #files > MAX_CLIPS then
    return lib.message(string.format("Select %d to %d audio items to train a style on (%d "
      .. "different audio files are selected%s).", MIN_CLIPS, MAX_CLIPS, #files,
      skipped > 0 and string.format(", %d items without audio skipped", skipped) or ""), TITLE)
  end
  local fields = ask()
  if not fields then return end
  local request = { style_train = { name = fields.name, description = fields.description,
                                    clips = files } }  -- a sequence: a JSON array
  local dir = lib.requests_dir(folder)
  local ok, err = lib.ensure_dir(dir)
  if not ok then return lib.message(err, TITLE) end
  local path = lib.join(dir, lib.unique_stem("style") .. ".json")
  ok, err = lib.write_atomic(path, lib.encode(request) .. "\n")
  if not ok then return lib.message(err, TITLE) end
  reaper.SetExtState(lib.EXT, "last_style", fields.name, true)
  lib.message(string.format("Training style '%s' on %d files was sent to the daemon. It "
    .. "trains between generation jobs; a refusal shows up like a refused request. Use the "
    .. "style by its name (docs/styles.md).", fields.name, #files), TITLE)
end

main()
