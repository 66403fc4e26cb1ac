import ArgumentParser
import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterQueue
import OrbiterWorker
import OrbiterRedis

/// Waiting for a task from the CLI (`submit --wait`/`--stream`, `task result`, `task events
/// --follow`): warnings and exit statuses.
enum Waiting {
    /// How long a wait rides out an unreachable Redis before exit status 2:
    /// `ORBITER_REDIS_OUTAGE_SECONDS`, default 60.
    static var outageLimit: Duration {
        let seconds = ProcessInfo.processInfo.environment["ORBITER_REDIS_OUTAGE_SECONDS"].flatMap(Double.init) ?? 60
        return .milliseconds(Int64(max(0, seconds) * 1000))
    }

    /// Says so on stderr when no worker of the queue is alive: the task would wait for one.
    static func warnIfNoLiveWorker(_ broker: TaskBroker) async {
        guard let stats = try? await broker.stats(), stats.workersAlive == 0 else { return }
        let queue = broker.keys.queue
        Terminal.error("orbiter: warning: no live worker on queue '\(queue)'; the task waits until one starts (orbiter start worker --queue \(queue))")
    }

    /// Why a wait ended without the task's result, as the CLI reports it: status 2 when Redis
    /// stayed unreachable, 1 when the task failed or was cancelled, or the wait timed out.
    static func failure(_ error: any Error, taskID: String, waitTimeout: Double?) -> CLIFailure {
        switch error {
        case RedisError.connection:
            return .usage("orbiter: \(error)")
        case DistributedError.waitTimedOut:
            let after = waitTimeout.map { " after \(formatSeconds($0)) s" } ?? ""
            return .failed("orbiter: gave up waiting for task \(taskID)\(after); it is still queued or running "
                           + "(orbiter task result \(taskID) waits again, orbiter task cancel \(taskID) stops it)")
        default:
            return .failed("orbiter: \(error)")
        }
    }

    /// `failure`, for a wait on `broker`'s queue: a task not found there is looked for on the
    /// other queues, and the message names the one it is on.
    static func failure(_ error: any Error, taskID: String, waitTimeout: Double?, broker: TaskBroker) async -> CLIFailure {
        if case DistributedError.taskNotFound = error {
            return .failed("orbiter: " + (await notFoundMessage(taskID, on: broker)))
        }
        return failure(error, taskID: taskID, waitTimeout: waitTimeout)
    }

    private static func formatSeconds(_ s: Double) -> String { s.rounded() == s ? String(Int(s)) : String(s) }

    /// The line shown when a task parks: what it waits for and how to reply.
    static func parkedHint(_ event: StatusEvent, taskID: String) -> String {
        guard let pending = event.pending else { return "orbiter: task \(taskID) waits for input: \(event.message)" }
        return "orbiter: task \(taskID) waits for input: \(event.message) — \(pending.howToReply(taskID))"
    }

    /// While `submit --wait` waits: says on stderr each time the task parks (until cancelled).
    static func announceParks(_ handle: TaskHandle) -> Task<Void, Never> {
        Task {
            do {
                for try await event in handle.stream(outageLimit: outageLimit) {
                    if case .status(let s) = event, s.status == .waitingForInput {
                        Terminal.error(parkedHint(s, taskID: handle.taskID))
                    }
                }
            } catch {}
        }
    }
}
