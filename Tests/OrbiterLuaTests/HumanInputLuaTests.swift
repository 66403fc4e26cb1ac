import Foundation
import OrbiterCore
@testable import OrbiterLua
import OrbiterTestSupport
import Synchronization
import Testing

/// `approval = true` and `orbiter.ask` in Lua scripts.
@Suite("Approval and orbiter.ask in Lua")
struct HumanInputLuaTests {
    /// Answers every request from a list; records the requests.
    final class Person: HumanInput {
        let replies: [InputReply]
        let asked = Mutex<[InputRequest]>([])
        var waitsInProcess: Bool { false }

        init(replies: [InputReply]) { self.replies = replies }

        func ask(_ request: InputRequest) async throws -> InputReply {
            let n = asked.withLock { $0.append(request); return $0.count }
            return n <= replies.count ? replies[n - 1] : .rejected(reason: "no more replies")
        }
    }

    /// A script whose model calls `tool` once with `{}` and answers with the tool's result.
    func script(_ tools: String, call: String) -> String {
        """
        local orbiter = require "orbiter"
        \(tools)
        local m = orbiter.model { name = "m", respond = function(request)
          local last = request.messages[#request.messages]
          if last.role == "tool" then return "got " .. last.content end
          return { tool_calls = { { name = "\(call)", arguments = { amount = 7 } } } }
        end }
        return orbiter.agent { name = "a", model = m, tools = { \(call) } }
        """
    }

    @Test("approval = true travels in to_dict and is bound again; the call waits for the person")
    func approvalField() async throws {
        let runtime = try load(script("""
            local refund = orbiter.tool { name = "refund", parameters = { amount = "integer" }, approval = true,
              run = function(args) return "refunded " .. args.amount end }
            """, call: "refund"))
        let tools = runtime.rootDescription["tools"]?.arrayValue ?? []
        #expect(tools.first?["approval"] == true)
        let root = try runtime.root()
        guard case .agent(let agent) = root else { Issue.record("not an agent"); return }
        #expect(agent.tools.first?.needsApproval == true)
        #expect(agent.toDict()["tools"]?.arrayValue?.first?["approval"] == true)
        let person = Person(replies: [.approved])
        let result = try await OrbiterCore.run.execute(root, input: "x", detailed: false, humanInput: person) { _ in }
        #expect(result.output == "got refunded 7")
        #expect(person.asked.withLock { $0.first?.arguments } == ["amount": 7])
        let refused = try await OrbiterCore.run.execute(root, input: "x", detailed: false,
                                                        humanInput: Person(replies: [.rejected(reason: "no")])) { _ in }
        #expect(refused.output == "got Error: rejected: no")
        #expect(throws: (any Error).self) {
            try load(script(#"local refund = orbiter.tool { name = "refund", approval = "yes", run = function() end }"#, call: "refund"))
        }
    }

    @Test("orbiter.ask returns the answer; a declined question raises rejected: <reason>, which pcall catches")
    func ask() async throws {
        let root = try load(script("""
            local who = orbiter.tool { name = "who", run = function()
              local a = orbiter.ask("Which account?")
              local ok, err = pcall(orbiter.ask, "And the second?")
              return a .. " / " .. tostring(ok) .. " " .. tostring(err):gsub("^.-rejected", "rejected")
            end }
            """, call: "who")).root()
        let person = Person(replies: [.answer("acct-1"), .rejected(reason: "not telling")])
        let result = try await OrbiterCore.run.execute(root, input: "x", detailed: false, humanInput: person) { _ in }
        #expect(result.output == "got acct-1 / false rejected: not telling")
        let asked = person.asked.withLock { $0 }
        #expect(asked.map(\.question) == ["Which account?", "And the second?"])
        #expect(asked.map(\.index) == [0, 1])
        #expect(asked.allSatisfy { $0.kind == .question && $0.toolName == "who" })
    }

    @Test("orbiter.ask outside a tool call, or without a question, is an error naming the rule")
    func askOutsideATool() async throws {
        let root = try load("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() return orbiter.ask("from a model?") end }
            return orbiter.agent { name = "a", model = m }
            """).root()
        do {
            _ = try await OrbiterCore.run.execute(root, input: "x", detailed: false, humanInput: Person(replies: [])) { _ in }
            Issue.record("asked from a model")
        } catch {
            #expect("\(error)".contains("orbiter.ask can only be used inside a tool's run"), "\(error)")
        }
        do {
            _ = try load("""
                local orbiter = require "orbiter"
                orbiter.ask("at the top level?")
                return orbiter.agent { name = "a", model = "openai:gpt-4o" }
                """)
            Issue.record("asked at the top level")
        } catch {
            #expect("\(error)".contains("orbiter.ask can only be used inside a tool's run or a model's respond function"), "\(error)")
        }
        let empty = try load(script(#"local t = orbiter.tool { name = "t", run = function() return orbiter.ask("") end }"#, call: "t")).root()
        let result = try await OrbiterCore.run.execute(empty, input: "x", detailed: false, humanInput: Person(replies: [])) { _ in }
        #expect(result.output.contains("orbiter.ask: expects the question"), "\(result.output)")
    }

    @Test("time spent waiting for a person does not count against the call's time limit")
    func waitingIsNotComputing() async throws {
        var options = LuaRuntime.Options()
        options.callTimeLimit = .milliseconds(300)
        let root = try load(script(#"local t = orbiter.tool { name = "t", run = function() return orbiter.ask("slow?") end }"#, call: "t"),
                            options: options).root()
        struct Slow: HumanInput {
            var waitsInProcess: Bool { true }
            func ask(_ request: InputRequest) async throws -> InputReply {
                try await Task.sleep(for: .milliseconds(600))
                return .answer("fine")
            }
        }
        let result = try await OrbiterCore.run.execute(root, input: "x", detailed: false, humanInput: Slow()) { _ in }
        #expect(result.output == "got fine")
    }

    @Test("a tool that asks, on a parking host, parks the run and runs again from its start on resume")
    func parksAndResumes() async throws {
        let root = try load(script("""
            local count = 0
            local t = orbiter.tool { name = "t", run = function()
              count = count + 1
              local a = orbiter.ask("first?")
              local b = orbiter.ask("second?")
              return a .. b .. count
            end }
            """, call: "t")).root()
        var resume: Checkpoint?
        var answers = ["x", "y"]
        var output = ""
        for _ in 0..<3 {
            do {
                output = try await OrbiterCore.run.execute(root, input: "go", detailed: false, resume: resume, checkpoint: { _ in },
                                                           humanInput: ParkingInput()) { _ in }.output
                break
            } catch let parked as RunParked {
                resume = parked.checkpoint?.applying(.answer(answers.removeFirst()), to: parked.request.id)
            }
        }
        #expect(output == "got xy3")
    }
}
