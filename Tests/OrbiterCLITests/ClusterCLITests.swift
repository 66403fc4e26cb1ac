import Foundation
import OrbiterTestSupport
import Testing

/// `--redis-url redis-cluster://...` through the binary against a private six-node cluster: queues
/// on different masters, a worker serving several of them, and the commands that span queues.
@Suite("Redis Cluster on the command line", .serialized)
struct ClusterCLITests {
    /// Queue names (`prefix-N`) whose hash tags land on each master of `cluster`, one per master.
    static func queuesOnEachMaster(_ cluster: PrivateCluster, prefix: String) -> [String] {
        cluster.onEachMaster({ "\(prefix)-\($0)" }, key: { "orbiter:\($0)" }).map(\.name)
    }

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test("a bad cluster URL, db other than 0, and a cluster nobody answers for exit 2 naming the URL")
    func badURLs() async throws {
        let db = try await OrbiterBinary.run(["task", "list", "--redis-url", "redis-cluster://127.0.0.1:7000?db=2"])
        #expect(db.status == 2 && db.stderr.contains("a Redis Cluster has only database 0 (got db=2)"), "\(db.stderr)")
        let empty = try await OrbiterBinary.run(["task", "list", "--redis-url", "redis-cluster://127.0.0.1:7000,,x"])
        #expect(empty.status == 2 && empty.stderr.contains("empty node in the list"), "\(empty.stderr)")
        let port = try freePort()
        let down = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--redis-url", "redis-cluster://:secret@127.0.0.1:\(port)"])
        #expect(down.status == 2, "\(down.stderr)")
        #expect(down.stderr.contains("no node of the Redis Cluster at redis-cluster://:***@127.0.0.1:\(port)"), "\(down.stderr)")
        #expect(!down.stderr.contains("secret"), "\(down.stderr)")
        let badQueue = try await OrbiterBinary.run(["start", "worker", "--queue", "a,,b", "--redis-url", "redis://127.0.0.1:\(port)"])
        #expect(badQueue.status == 2 && badQueue.stderr.contains("--queue 'a,,b'") && badQueue.stderr.contains("invalid queue name ''"),
                "\(badQueue.stderr)")
    }

    @Test("one worker serves three queues on three masters; submit, result and the commands that span queues work")
    func multiQueueWorkerAndCrossQueueCommands() async throws {
        let cluster = try PrivateCluster()
        let queues = Self.queuesOnEachMaster(cluster, prefix: "cq")
        #expect(queues.count == 3)
        let env = ["ORBITER_REDIS_URL": cluster.url]
        let worker = try OrbiterBinary.start(["start", "worker", "--worker-id", "multi", "--queue", queues.joined(separator: ","),
                                              "--concurrency", "2"], environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in queues.allSatisfy { err.contains("queue '\($0)'") } }
        var ids: [String: String] = [:]
        for (i, queue) in queues.enumerated() {
            let done = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "\(i) + 40", "--queue", queue, "--wait", "--json"],
                                                   environment: env)
            #expect(done.status == 0, "\(done.stderr)")
            let object = try #require(try json(done.stdout) as? [String: Any])
            ids[queue] = try #require(object["task_id"] as? String)
            #expect(done.stdout.contains("\(i + 40)"), "\(done.stdout)")
            let onMaster = cluster.masters().filter { PrivateSentinels.cli($0.port, ["exists", "{orbiter:\(queue)}:task:\(ids[queue]!)"])
                .trimmingCharacters(in: .whitespacesAndNewlines) == "1" }
            #expect(onMaster.count == 1, "the task of \(queue) lives on one master")
        }
        for queue in queues {
            let workers = try await OrbiterBinary.run(["worker", "list", "--queue", queue, "--json"], environment: env)
            #expect(workers.status == 0 && workers.stdout.contains("\"multi\""), "\(workers.stdout) \(workers.stderr)")
            let stats = try #require(try json(try await OrbiterBinary.run(["queue", "stats", "--queue", queue, "--json"], environment: env).stdout)
                as? [String: Any])
            #expect("\(stats)".contains("completed"), "\(stats)")
            let list = try await OrbiterBinary.run(["task", "list", "--queue", queue], environment: env)
            #expect(list.status == 0 && list.stdout.contains(ids[queue]!), "\(list.stdout) \(list.stderr)")
        }
        // The other URL form: one seed with ?cluster=1 (a node that does not hold the queue).
        let seedForm = try await OrbiterBinary.run(["task", "list", "--queue", queues[0], "--redis-url",
                                                    "redis://127.0.0.1:\(cluster.nodes[5].port)?cluster=1"])
        #expect(seedForm.status == 0 && seedForm.stdout.contains(ids[queues[0]]!), "\(seedForm.stdout) \(seedForm.stderr)")
        // Cross-queue: a task asked for on the wrong queue is found on its own (registry + one EXISTS per queue, split per node).
        let wrong = try await OrbiterBinary.run(["task", "status", ids[queues[0]]!, "--queue", queues[1]], environment: env)
        #expect(wrong.stderr.contains("it is on queue '\(queues[0])'"), "\(wrong.stderr)")
        // Schedules of every queue, limits ({orbiter:limits}) and tenant budgets ({orbiter:tenants}).
        for queue in queues {
            let added = try await OrbiterBinary.run(["schedule", "add", "nightly", "examples/calculator.lua", "1 + 1", "--cron", "0 3 * * *",
                                                     "--queue", queue], environment: env)
            #expect(added.status == 0, "\(added.stderr)")
        }
        let schedules = try await OrbiterBinary.run(["schedule", "list", "--json"], environment: env)
        #expect(queues.allSatisfy { schedules.stdout.contains(#""queue":"\#($0)""#) }, "\(schedules.stdout) \(schedules.stderr)")
        let limit = try await OrbiterBinary.run(["limits", "set", "openai:gpt-cluster", "--rpm", "500"], environment: env)
        #expect(limit.status == 0, "\(limit.stderr)")
        #expect(try await OrbiterBinary.run(["limits", "list", "--json"], environment: env).stdout.contains("openai:gpt-cluster"))
        let budget = try await OrbiterBinary.run(["budget", "set", "acme", "--cost-per-day", "5"], environment: env)
        #expect(budget.status == 0, "\(budget.stderr)")
        #expect(try await OrbiterBinary.run(["budget", "list", "--json"], environment: env).stdout.contains("acme"))
        // A batch (submit_many.lua: all its keys in KEYS, one hash tag) and its outcomes (finish_many.lua,
        // the worker's group commit) on the master of its queue too.
        let inputs = try temporaryScript((0..<20).map { #"{"input": "\#($0) + 1"}"# }.joined(separator: "\n"), name: "cluster-batch.jsonl")
        let batch = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "--batch", inputs, "--queue", queues[0], "--wait"],
                                                environment: env)
        #expect(batch.status == 0, "\(batch.stderr)")
        #expect(batch.stdout.split(separator: "\n").count == 20, "\(batch.stdout)")
        worker.signal(SIGTERM)
        let ended = try await worker.finish()
        #expect(ended.status == 0, "\(ended.stderr)")
        #expect(queues.allSatisfy { ended.stderr.contains("queue '\($0)'") }, "\(ended.stderr)")
    }
}
