import Foundation
import OrbiterCore
import OrbiterTestSupport
import Testing
@testable import OrbiterTools

/// Timeouts and cancellation kill a program's whole process group: the tests start background
/// grandchildren, note their pids in a file, and check that none survives.
@Suite("Stopping programs")
struct ProgramStopTests {
    let runner = LocalProgramRunner(gracePeriod: .milliseconds(200))

    /// A shell that records its own pid and two background sleepers' in `file`, then waits.
    private func family(_ file: String, ignoringTerm: Bool = false) -> [String] {
        let trap = ignoringTerm ? "trap '' TERM; " : ""
        return ["sh", "-c", "\(trap)sleep 100 & echo $! > \(file).tmp; sleep 100 & echo $! >> \(file).tmp; echo $$ >> \(file).tmp; mv \(file).tmp \(file); wait"]
    }

    private func pids(in file: String) async throws -> [pid_t] {
        let end = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < end {
            if let text = try? String(contentsOfFile: file, encoding: .utf8) {
                return text.split(separator: "\n").compactMap { pid_t($0) }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("no pid file \(file)")
    }

    @Test("the timeout kills the program and its grandchildren", arguments: [false, true])
    func timeout(ignoringTerm: Bool) async throws {
        let file = try temporaryFolder("orbiter-exec").appendingPathComponent("pids").path
        let start = ContinuousClock.now
        let error = await #expect(throws: ProgramRunError.self) {
            try await runner.run(ProgramRequest(arguments: family(file, ignoringTerm: ignoringTerm), timeout: .seconds(1)))
        }
        #expect(error?.description == "orbiter.exec: timed out after 1 s (killed)")
        #expect(seconds(since: start) < 3)
        let pids = try await pids(in: file)
        #expect(pids.count == 3)
        #expect(await allGone(pids))
    }

    @Test("cancelling the calling task kills the program and its grandchildren promptly")
    func cancellation() async throws {
        let file = try temporaryFolder("orbiter-exec").appendingPathComponent("pids").path
        let runner = runner
        let request = ProgramRequest(arguments: family(file), timeout: .seconds(60))
        let task = Task { try await runner.run(request) }
        let pids = try await pids(in: file)
        let start = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(seconds(since: start) < 2)
        #expect(await allGone(pids))
    }

    @Test("what a program leaves running when it exits is killed, and its result comes at once")
    func leftovers() async throws {
        let start = ContinuousClock.now
        let result = try await runner.run(ProgramRequest(arguments: ["sh", "-c", "sleep 100 & echo $!"], timeout: .seconds(10)))
        #expect(seconds(since: start) < 3)
        let pid = try #require(pid_t(String(decoding: result.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await allGone([pid]))
    }
}
