import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Workers and submitting clients of three queues on three masters of a Redis Cluster while one
/// master is killed (SIGKILL) and its replica takes over, with `--durability replica`.
@Suite("Redis Cluster failover under load", .serialized)
struct ClusterFailoverTests {
    /// Queue names whose hash tags land on each master, one per master.
    static func queuesOnEachMaster(_ cluster: PrivateCluster) -> [String] {
        let run = UUID().uuidString.prefix(4).lowercased()
        return cluster.onEachMaster({ "cf-\(run)-\($0)" }, key: { "orbiter:\($0)" }).map(\.name)
    }

    @Test("a master killed under load: its replica takes over; every acknowledged task completes exactly once")
    func masterKilledUnderLoad() async throws {
        let cluster = try PrivateCluster()
        let queues = Self.queuesOnEachMaster(cluster)
        #expect(queues.count == 3)
        var settings = QueueSettings()
        settings.durability = Durability(level: .replica, timeoutMs: 1000)
        let agent = try sleeper(0.05)
        let brokers = try queues.map { try TaskBroker(redisURL: cluster.url, queue: $0, settings: settings) }
        let victimQueue = 1
        let victimPort = try #require(cluster.masterPort(forSlot: HashSlot.of("orbiter:\(queues[victimQueue])")))
        try await withDistributedFixture(redisURL: cluster.url) { fixture in
            for queue in queues {
                var configuration = WorkerConfiguration(redisURL: cluster.url, queue: queue, concurrency: 4, workerID: "w-\(queue)",
                                                        heartbeatTTL: 2, drainTimeout: .seconds(5), leaseSeconds: 3, luaOptions: .shipped())
                configuration.settings = settings
                try fixture.start(configuration)
            }
            let submitted = SentinelFailoverTests.Submitted()
            let submitter = Task {
                var n = 0
                while !Task.isCancelled {
                    n += 1
                    let broker = brokers[n % brokers.count]
                    do { submitted.add(try await distributed(agent, "task \(n)", broker: broker)) } catch { submitted.refuse() }
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
            try await eventually("some tasks to be submitted", timeout: .seconds(20)) { submitted.all.count >= 30 }
            let killedAt = ContinuousClock.now
            cluster.node(port: victimPort)?.kill()
            try cluster.waitForFailover(of: HashSlot.of("orbiter:\(queues[victimQueue])"), awayFrom: victimPort)
            let failoverTook = ContinuousClock.now - killedAt
            // The promoted replica has no replica of its own: `WAIT 1` refuses every submit to it
            // (not acknowledged) until the old master is back, as its replica.
            try cluster.restart(port: victimPort)
            try await eventually("submits to the failed-over queue to succeed again", timeout: .seconds(30)) {
                submitted.all.filter { $0.at > killedAt && $0.handle.queue == queues[victimQueue] }.count >= 10
            }
            submitter.cancel()
            _ = await submitter.value

            var lost = 0, completed = 0
            for (handle, _) in submitted.all {
                var status: TaskResult?
                try await eventually("task \(handle.taskID) to end", timeout: .seconds(60)) {
                    status = try await handle.status()
                    return status == nil || status?.status.isFinished == true
                }
                guard let status else {
                    lost += 1
                    continue
                }
                #expect(status.status == .completed, "\(handle.taskID): \(status.status)")
                completed += 1
                let broker = brokers.first { $0.keys.queue == handle.queue }!
                let reply = try await broker.client.send(["XRANGE", broker.keys.events(handle.taskID), "-", "+"])
                let terminal = StreamReplies.events(StreamReplies.entries(reply)).filter { $0.event.isTerminal }
                #expect(terminal.count == 1, "\(handle.taskID) has \(terminal.count) terminal events")
            }
            #expect(lost == 0, "with --durability replica no acknowledged task is lost")
            print("cluster failover: replica took over after \(failoverTook); \(submitted.all.count) submits acknowledged over 3 queues, "
                  + "\(submitted.refused) refused during the failover, \(lost) lost, \(completed) completed exactly once")
        }
    }
}
