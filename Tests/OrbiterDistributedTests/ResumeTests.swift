import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import Testing

/// A task whose worker is killed mid-run continues on another worker from its last completed
/// step: tools of checkpointed steps do not run again.
@Suite("Resume", .serialized)
struct ResumeTests {
    @Test("a killed worker's task resumes from its checkpoint")
    func aKilledWorkersTaskResumesFromItsCheckpoint() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try temporaryScript(TestAgents.twoSteps()))
            let doomed = try OrbiterBinary.start(["start", "worker", "--queue", fixture.queue, "--lease", "1", "--worker-id", "doomed"],
                                                 environment: ["ORBITER_REDIS_URL": fixture.redisURL])
            defer { doomed.signal(SIGKILL) }
            try await doomed.waitFor { _, err in err.contains("worker doomed started") }
            let handle = try await distributed(agent, "go", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            let subscriber = try EventSubscriber(fixture.redisURL, queue: fixture.queue)
            try await eventually("step 2 to start") {
                try await subscriber.replay(handle.taskID).contains { if case .step(let s) = $0.event { return s.stepNumber == 2 && s.status == .started } else { return false } }
            }
            doomed.signal(SIGKILL)
            _ = try await doomed.finish()
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, workerID: "rescuer", leaseSeconds: 1))
            let result = try await handle.result(timeout: .seconds(20))
            #expect(result["output"] == "done after 2 tools")
            #expect(result["steps"] == 3)
            let events = try await subscriber.replay(handle.taskID).map(\.event)
            let firstRuns = events.filter { if case .toolResult(let r) = $0 { return r.toolName == "first" } else { return false } }
            #expect(firstRuns.count == 1, "the checkpointed step's tool ran once")
            #expect(events.contains { if case .status(let s) = $0 { return s.status == .resumed && s.message.contains("after step 1") } else { return false } })
            #expect(events.filter(\.isTerminal).count == 1)
            let status = try await handle.status()
            #expect(status?.attempts == 2)
            #expect(status?.workerID == "rescuer")
        }
    }

    @Test("a killed worker's swarm resumes in the member that was running")
    func aKilledWorkersSwarmResumesInTheMemberThatWasRunning() async throws {
        try await withDistributedFixture { fixture in
            let (_, swarm) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local function once(name) return orbiter.model { name = name, respond = function(req)
                  return name .. " done"
                end } end
                local slow = orbiter.tool { name = "slow", run = function() orbiter.sleep(2) return "slept" end }
                local m = orbiter.model { name = "m", respond = function(req)
                  local last = req.messages[#req.messages]
                  if last.role ~= "tool" then return { tool_calls = { { name = "slow", arguments = {} } } } end
                  return "writer done"
                end }
                local researcher = orbiter.agent { name = "researcher", model = once("researcher") }
                local writer = orbiter.agent { name = "writer", model = m, tools = { slow } }
                return orbiter.swarm { name = "pipeline", agents = { researcher, writer }, flow = "researcher >> writer" }
                """))
            let doomed = try OrbiterBinary.start(["start", "worker", "--queue", fixture.queue, "--lease", "1", "--worker-id", "doomed"],
                                                 environment: ["ORBITER_REDIS_URL": fixture.redisURL])
            defer { doomed.signal(SIGKILL) }
            try await doomed.waitFor { _, err in err.contains("worker doomed started") }
            let handle = try await distributed(swarm, "go", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
            let subscriber = try EventSubscriber(fixture.redisURL, queue: fixture.queue)
            // The writer's tool step is under way (the researcher finished and was checkpointed).
            try await eventually("the writer's tool to start") {
                try await subscriber.replay(handle.taskID).contains { if case .toolCall(let c) = $0.event { return c.toolName == "slow" } else { return false } }
            }
            doomed.signal(SIGKILL)
            _ = try await doomed.finish()
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, workerID: "rescuer", leaseSeconds: 1))
            let result = try await handle.result(timeout: .seconds(20))
            #expect(result["output"] == "writer done")
            let events = try await subscriber.replay(handle.taskID).map(\.event)
            let researcherTexts = events.filter { if case .text(let t) = $0 { return t.agentName == "researcher" } else { return false } }
            #expect(researcherTexts.count == 1, "the researcher finished before the kill and did not run again")
            #expect(events.contains { if case .status(let s) = $0 { return s.status == .resumed } else { return false } })
            #expect(events.filter(\.isTerminal).count == 1)
        }
    }

    @Test("a checkpoint with out-of-range counts is ignored, logged, and the task runs from the start")
    func aCheckpointWithOutOfRangeCountsIsIgnored() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let (_, agent) = try load(try calculator())
            let handle = try await distributed(agent, "2 + 2", broker: broker, detailed: true)
            try await startAsGhost(broker)
            // Written by someone with Redis access: "-1,000,000 steps done" would buy the agent
            // a million more steps than its max_steps.
            let forged = #"{"version":2,"nodes":{"":{"messages":[{"role":"user","content":"2 + 2"}],"steps":-1000000}},"steps":0}"#
            _ = try await broker.client.send(["HSET", broker.keys.task(handle.taskID), "checkpoint", forged])
            let logs = LogLines()
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, leaseSeconds: 1,
                                                  logger: logs.logger(level: .warning)))
            let result = try await handle.result(timeout: .seconds(15))
            #expect(result["output"] == "The answer is 4.")
            #expect(result["steps"] == 2, "max_steps still bounds the run")
            let events = try await collectOrThrow(handle.stream())
            #expect(!events.contains { if case .status(let s) = $0 { return s.status == .resumed } else { return false } })
            #expect(logs.text.contains("ignoring its checkpoint because it cannot be read"), "\(logs.text)")
        }
    }
}
