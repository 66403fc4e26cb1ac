-- Structured output: the agent's answer must match a JSON Schema, and the run's result carries it
-- decoded (`parsed`) beside the text. Runs offline with a model written in Lua; set ORBITER_MODEL
-- (e.g. openai:gpt-4o-mini or anthropic:claude-sonnet-4-5, with its API key) for a real one.
--
--   orbiter run examples/triage.lua "The app crashes when I upload a photo"
--   orbiter run --json examples/triage.lua "How do I export my data?"     # last line: "parsed": {...}
--
-- A hook checks the answer too: on_output may reject it, and the model gets one more turn.
local orbiter = require "orbiter"

local getenv = os.getenv or function() return nil end   -- os.getenv is not there on workers
local chosen = getenv("ORBITER_MODEL")
if chosen == "" then chosen = nil end

-- The offline model: labels a message with a keyword rule, and answers as JSON text. Its first
-- answer to a message with "!" in it forgets the confidence, to show the repair turn: Orbiter tells
-- it what is wrong ($: missing required property "confidence") and it answers again.
local rules = orbiter.model {
  name = "rules",
  respond = function(request)
    local last = request.messages[#request.messages].content
    local first = request.messages[1].role == "system" and request.messages[2] or request.messages[1]
    local text = first.content:lower()
    local label = (text:find("crash") or text:find("error") or text:find("broken")) and "bug" or "question"
    if text:find("!", 1, true) and not last:find("does not match", 1, true) then
      return orbiter.json.encode({ label = label })
    end
    return orbiter.json.encode({ label = label, confidence = label == "bug" and 0.9 or 0.6,
                                 summary = first.content:sub(1, 60) })
  end,
}

return orbiter.agent {
  name = "triage",
  model = chosen or rules,
  instructions = "Label the user's message as a bug report or a question. Answer with JSON only.",
  output = {
    type = "object",
    properties = {
      label = { type = "string", enum = { "bug", "question" } },
      confidence = { type = "number", minimum = 0, maximum = 1 },
      summary = { type = "string", maxLength = 80 },
    },
    required = { "label", "confidence", "summary" },
    additionalProperties = false,
  },
  hooks = {
    -- Runs on every answer that matched the schema; `parsed` is the decoded table.
    on_output = function(text, parsed)
      if parsed.label == "bug" and parsed.confidence < 0.5 then
        return false, "a bug report needs a confidence of at least 0.5; look again"
      end
    end,
  },
  max_steps = 3,
}
