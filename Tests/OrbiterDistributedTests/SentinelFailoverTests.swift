import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// A worker and a submitting client on `redis-sentinel://` while the master is killed (SIGKILL):
/// the replica is promoted, both follow it, and no task completes twice.
@Suite("Sentinel failover under load", .serialized)
struct SentinelFailoverTests {
    /// Acknowledged submits and when each was acknowledged.
    final class Submitted: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [(handle: TaskHandle, at: ContinuousClock.Instant)] = []
        private(set) var refused = 0
        func add(_ h: TaskHandle) { lock.withLock { items.append((h, .now)) } }
        func refuse() { lock.withLock { refused += 1 } }
        var all: [(handle: TaskHandle, at: ContinuousClock.Instant)] { lock.withLock { items } }
        func count(after t: ContinuousClock.Instant) -> Int { all.filter { $0.at > t }.count }
    }

    @Test("a fleet follows a failover: everything stored after it completes, nothing completes twice")
    func fleetFollowsAFailover() async throws {
        let group = try PrivateSentinels()
        try await withDistributedFixture(redisURL: group.url) { fixture in
            try fixture.startWorker(concurrency: 4, heartbeatTTL: 2)
            let agent = try sleeper(0.1)
            let broker = try fixture.broker()
            let submitted = Submitted()
            let submitter = Task {
                var n = 0
                while !Task.isCancelled {
                    n += 1
                    do { submitted.add(try await distributed(agent, "task \(n)", broker: broker)) } catch { submitted.refuse() }
                    try? await Task.sleep(for: .milliseconds(30))
                }
            }
            try await eventually("some tasks to be submitted", timeout: .seconds(10)) { submitted.all.count >= 15 }
            let killedAt = ContinuousClock.now
            group.master.kill()
            let deadAt = ContinuousClock.now // every submit acknowledged from here on was stored by the new master
            try await eventually("the sentinels to promote the replica", timeout: .seconds(30)) {
                group.masterPort() == group.replica.port
            }
            let failoverTook = ContinuousClock.now - killedAt
            try await eventually("submits to succeed again", timeout: .seconds(20)) { submitted.count(after: deadAt) >= 15 }
            submitter.cancel()
            _ = await submitter.value

            var lost = 0, completed = 0, afterKill = 0
            for (handle, at) in submitted.all {
                var status: TaskResult?
                try await eventually("task \(handle.taskID) to end", timeout: .seconds(30)) {
                    status = try await handle.status()
                    return status == nil || status?.status.isFinished == true
                }
                if at > deadAt { afterKill += 1 }
                guard let status else {
                    #expect(at < deadAt, "a task acknowledged by the new master was lost")
                    lost += 1
                    continue
                }
                #expect(status.status == .completed, "\(handle.taskID): \(status.status)")
                completed += 1
                let reply = try await broker.client.send(["XRANGE", broker.keys.events(handle.taskID), "-", "+"])
                let terminal = StreamReplies.events(StreamReplies.entries(reply)).filter { $0.event.isTerminal }
                #expect(terminal.count == 1, "\(handle.taskID) has \(terminal.count) terminal events")
            }
            #expect(afterKill >= 15)
            #expect(completed >= afterKill)
            print("sentinel failover: promoted after \(failoverTook); \(submitted.all.count) submits acknowledged "
                  + "(\(afterKill) after the kill), \(submitted.refused) refused during the failover, "
                  + "\(lost) acknowledged before the kill lost with the master, \(completed) completed exactly once")
        }
    }
}
