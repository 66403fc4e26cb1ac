import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import XCTest

/// A task whose worker is killed mid-run continues on another worker from its last completed
/// step: tools of checkpointed steps do not run again.
final class ResumeTests: DistributedTestCase {
    func testAKilledWorkersTaskResumesFromItsCheckpoint() async throws {
        let (_, agent) = try load(try script(TestAgents.twoSteps()))
        let doomed = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--lease", "1", "--worker-id", "doomed"],
                                             environment: ["ORBITER_REDIS_URL": redisURL])
        try await doomed.waitFor { _, err in err.contains("worker doomed started") }
        let handle = try await distributed(agent, "go", redisURL: redisURL, detailed: true, queue: queue)
        let subscriber = try EventSubscriber(redisURL, queue: queue)
        try await eventually("step 2 to start") {
            try await subscriber.replay(handle.taskID).contains { if case .step(let s) = $0.event { return s.stepNumber == 2 && s.status == .started } else { return false } }
        }
        doomed.signal(SIGKILL)
        _ = try await doomed.finish()
        let rescuer = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, workerID: "rescuer", leaseSeconds: 1))
        workers.append((rescuer, Task { try await rescuer.run() }))
        let result = try await handle.result(timeout: .seconds(20))
        XCTAssertEqual(result["output"], "done after 2 tools")
        XCTAssertEqual(result["steps"], 3)
        let events = try await subscriber.replay(handle.taskID).map(\.event)
        let firstRuns = events.filter { if case .toolResult(let r) = $0 { return r.toolName == "first" } else { return false } }
        XCTAssertEqual(firstRuns.count, 1, "the checkpointed step's tool ran once")
        XCTAssertTrue(events.contains { if case .status(let s) = $0 { return s.status == .resumed && s.message.contains("after step 1") } else { return false } })
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
        let status = try await handle.status()
        XCTAssertEqual(status?.attempts, 2)
        XCTAssertEqual(status?.workerID, "rescuer")
    }

    func testAKilledWorkersSwarmResumesInTheMemberThatWasRunning() async throws {
        let (_, swarm) = try load(try script("""
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
        let doomed = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--lease", "1", "--worker-id", "doomed"],
                                             environment: ["ORBITER_REDIS_URL": redisURL])
        try await doomed.waitFor { _, err in err.contains("worker doomed started") }
        let handle = try await distributed(swarm, "go", redisURL: redisURL, detailed: true, queue: queue)
        let subscriber = try EventSubscriber(redisURL, queue: queue)
        // The writer's tool step is under way (the researcher finished and was checkpointed).
        try await eventually("the writer's tool to start") {
            try await subscriber.replay(handle.taskID).contains { if case .toolCall(let c) = $0.event { return c.toolName == "slow" } else { return false } }
        }
        doomed.signal(SIGKILL)
        _ = try await doomed.finish()
        let rescuer = try Worker(configuration: WorkerConfiguration(redisURL: redisURL, queue: queue, workerID: "rescuer", leaseSeconds: 1))
        workers.append((rescuer, Task { try await rescuer.run() }))
        let result = try await handle.result(timeout: .seconds(20))
        XCTAssertEqual(result["output"], "writer done")
        let events = try await subscriber.replay(handle.taskID).map(\.event)
        let researcherTexts = events.filter { if case .text(let t) = $0 { return t.agentName == "researcher" } else { return false } }
        XCTAssertEqual(researcherTexts.count, 1, "the researcher finished before the kill and did not run again")
        XCTAssertTrue(events.contains { if case .status(let s) = $0 { return s.status == .resumed } else { return false } })
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
    }
}
