import OrbiterCore
import OrbiterQueue
import OrbiterTools
import OrbiterWorker

/// The workers of `orbiter start worker --queue a,b,c`: one `Worker` per queue, run and stopped as one.
///
/// Why one worker per queue rather than one claim loop over all queues: every queue keeps the claim
/// path a single queue has (claim.lua and its XREAD touch one hash tag, so on a Redis Cluster each
/// queue's loop talks to the one master holding it), a queue with a backlog cannot starve the
/// others of slots (each has its own `--concurrency`), and `--queue a` is exactly the worker it was.
/// They share the process, the providers, the tool folder and the host access; the access's
/// services (the `--mcp` hub) run once and stop after every worker has drained.
final class QueueWorkers: Sendable {
    let workers: [Worker]
    private let access: HostAccess

    /// The queue names of `--queue`: comma-separated, each checked, duplicates dropped.
    static func queues(_ text: String) throws -> [String] {
        var queues: [String] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces)
            do {
                _ = try QueueKeys(queue: name)
            } catch {
                throw CLIFailure.usage("orbiter: --queue '\(text.prefix(200))': \(error) (several queues: --queue a,b,c)")
            }
            if !queues.contains(name) { queues.append(name) }
        }
        return queues
    }

    /// One worker per queue of `queues`, each with `configuration` but its queue.
    init(queues: [String], configuration: WorkerConfiguration) throws {
        workers = try queues.map { queue in
            var c = configuration
            c.queue = queue
            c.runsAccessServices = queues.count == 1
            return try Worker(configuration: c)
        }
        access = configuration.luaOptions.access
    }

    /// Runs every worker until all have stopped; the first to fail stops the others and its error
    /// is thrown. The shared access's services stop last.
    func run() async throws {
        if workers.count == 1 { return try await workers[0].run() }
        var failure: (any Error)?
        await withTaskGroup(of: (any Error)?.self) { group in
            for worker in workers {
                group.addTask {
                    do { try await worker.run() } catch { return error }
                    return nil
                }
            }
            for await error in group where error != nil && failure == nil {
                failure = error
                stop()
            }
        }
        if let hub = access.mcp as? MCPHub { await hub.shutdown() }
        if let failure { throw failure }
    }

    /// Stops claiming on every queue; running tasks drain as with one queue.
    func stop() { for worker in workers { worker.stop() } }

    /// Healthy while every worker is.
    var isHealthy: Bool { workers.allSatisfy(\.isHealthy) }
}
