import Foundation
import Logging
import OrbiterCore
import OrbiterQueue
import OrbiterRedis

/// Tasks that wait for a person: parking a run (the slot is free as soon as park.lua has run) and
/// failing those whose wait deadline passed without a reply.
extension Worker {
    /// Parks the task: its checkpoint (with the step that waits) and the request are stored with
    /// the `waiting` state in one step, and the worker forgets the task. While Redis is away the
    /// park is retried for up to two minutes, as an outcome is; after that the lease lapses and
    /// another worker runs the task again from its last saved checkpoint (and asks again).
    func park(_ taskID: String, request: InputRequest, checkpoint: Checkpoint?, waitTimeout: Double, agentName: String,
              publisher: EventPublisher) async {
        let secrets = configuration.secrets
        let sealed = checkpoint.map { sealCheckpoint(secrets.redact($0.json.jsonString), taskID: taskID) } ?? ""
        publisher.finalStatus = "parked, waiting for input (\(request.kind.rawValue) in tool '\(request.toolName)')"
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        let giveUp = ContinuousClock.now + .seconds(120)
        var unacknowledged = false
        while true {
            do {
                let result = try await metrics.redis("park") {
                    try await broker.park(taskID, request: request, checkpoint: sealed, waitTimeout: waitTimeout,
                                          workerID: configuration.workerID, lease: publisher.lease, redact: { secrets.redact($0) })
                }
                switch result {
                case .parked: break
                case .cancel: await finishCancelled(taskID, agentName: agentName, publisher: publisher)
                case .notOwned where unacknowledged: break  // the earlier, unacknowledged park: acknowledged now
                case .notOwned: publisher.finalStatus = "left as it is (no longer running under this worker's lease)"
                }
                return
            } catch RedisError.connection where ContinuousClock.now < giveUp && !Task.isCancelled {
                try? await backoff.wait()
            } catch DistributedError.notAcknowledged(_, _, let detail) where ContinuousClock.now < giveUp && !Task.isCancelled {
                // As for an outcome: park again on the same connection until the write is acknowledged.
                log("task \(taskID): parked but not acknowledged (\(detail)); retrying", level: .warning, task: taskID, agent: agentName)
                unacknowledged = true
                try? await backoff.wait()
            } catch {
                log("task \(taskID): could not park it (\(error)); another worker runs it again once its lease lapses",
                    level: .error, task: taskID, agent: agentName)
                return
            }
        }
    }

    /// Fails parked tasks whose wait deadline has passed (`InputTimeout`, dead-lettered), every
    /// `waitSweepInterval`. One read per sweep when none is due.
    func waitDeadlineLoop() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: configuration.waitSweepInterval)
            do {
                for due in try await broker.dueWaiting() {
                    guard try await broker.expireWait(due.taskID, agentName: due.agentName, waited: due.waited) else { continue }
                    metrics.failed.increment()
                    metrics.deadLettered.increment()
                    log("task \(due.taskID): no reply within its wait timeout; failed (InputTimeout)", level: .warning, task: due.taskID,
                        agent: due.agentName)
                }
            } catch is CancellationError {
                return
            } catch {
                log("could not sweep parked tasks (\(error))", level: .warning)
            }
        }
    }
}
