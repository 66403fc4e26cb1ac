/// Lua scripts that several test targets run.
public enum TestAgents {
    /// An agent (`name`) whose Lua model `m` calls tool `ping` forever, each call reporting 60 + 40
    /// tokens — with input "once" it answers "done" after one tool result. `budget` goes into the
    /// agent as written. For budgets and costs.
    public static func spender(name: String = "spender", budget: String = "nil") -> String {
        """
        local orbiter = require "orbiter"
        local ping = orbiter.tool { name = "ping", run = function() return "pong" end }
        local m = orbiter.model { name = "m", respond = function(req)
          if req.messages[1].content == "once" and req.messages[#req.messages].role == "tool" then
            return { content = "done", usage = { input_tokens = 60, output_tokens = 40 } }
          end
          return { tool_calls = { { name = "ping", arguments = {} } }, usage = { input_tokens = 60, output_tokens = 40 } }
        end }
        return orbiter.agent { name = "\(name)", model = m, tools = { ping }, max_steps = 200, budget = \(budget) }
        """
    }

    /// An agent of two steps: tool `first` answers at once (so step 1 is checkpointed), then tool
    /// `slow` sleeps `slowSeconds`; the reply is "done after 2 tools". For stopping or killing a
    /// worker mid-task and seeing another resume it.
    public static func twoSteps(slowSeconds: Double = 2) -> String {
        """
        local orbiter = require "orbiter"
        local first = orbiter.tool { name = "first", run = function() return "one" end }
        local slow = orbiter.tool { name = "slow", run = function() orbiter.sleep(\(slowSeconds)) return "two" end }
        local m = orbiter.model { name = "m", respond = function(req)
          local tools = 0
          for _, msg in ipairs(req.messages) do if msg.role == "tool" then tools = tools + 1 end end
          if tools == 0 then return { tool_calls = { { name = "first", arguments = {} } } } end
          if tools == 1 then return { tool_calls = { { name = "slow", arguments = {} } } } end
          return "done after " .. tools .. " tools"
        end }
        return orbiter.agent { name = "resumable", model = m, tools = { first, slow } }
        """
    }

    /// An agent whose model calls its one tool `probe` (whose `run` body is `body`) once and
    /// replies "tool said: " and what the tool returned (a failure reaches it as "Error: ...").
    /// `topLevel` runs as the script loads.
    public static func probe(_ body: String, topLevel: String = "") -> String {
        """
        local orbiter = require "orbiter"
        \(topLevel)
        local probe = orbiter.tool { name = "probe", run = function(args)
        \(body)
        end }
        local m = orbiter.model { name = "m", respond = function(req)
          local last = req.messages[#req.messages]
          if last.role == "tool" then return "tool said: " .. last.content end
          return { tool_calls = { { name = "probe", arguments = {} } } }
        end }
        return orbiter.agent { name = "probe", model = m, tools = { probe } }
        """
    }
}
