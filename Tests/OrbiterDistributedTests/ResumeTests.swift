import Foundation
import OrbiterCore
@testable import OrbiterDistributed
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
}
