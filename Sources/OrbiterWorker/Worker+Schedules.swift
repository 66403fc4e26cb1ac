import Foundation
import Logging
import OrbiterCore
import OrbiterQueue

/// Firing the queue's schedules (`orbiter schedule add`): every worker sweeps, and the submit
/// transition's idempotency key with a compare-and-set advance make each tick one task however
/// many workers race for it (`TaskBroker.fireDueSchedules`).
extension Worker {
    func scheduleLoop() async throws {
        while !Task.isCancelled {
            var wait = configuration.scheduleSweepInterval
            if !stopSignal.isStopped {
                do {
                    let sweep = try await metrics.redis("schedules") { try await broker.fireDueSchedules() }
                    for firing in sweep.firings { logFiring(firing) }
                    if let due = sweep.nextDueMs {
                        wait = min(wait, .milliseconds(max(1, due - TaskBroker.nowMs())))
                    }
                } catch is CancellationError {
                    return
                } catch {
                    log("could not fire due schedules (\(error)); trying again", level: .warning)
                }
            }
            try await Task.sleep(for: wait)
        }
    }

    private func logFiring(_ firing: ScheduleFiring) {
        switch firing {
        case .fired(let name, let tick, let taskID, true):
            log("schedule '\(name)' fired tick \(tick): task \(taskID)", task: taskID)
        case .fired: break // another worker fired that tick
        case .skipped(let name, let reason):
            log("schedule '\(name)': \(reason)", level: .warning)
        case .broken(let name, let reason):
            log("schedule '\(name)' cannot fire: \(reason); looked at again in a minute (fix it with orbiter schedule add \(name) --replace, "
                + "or orbiter schedule remove \(name))", level: .warning)
        case .failed(let name, let reason):
            log("schedule '\(name)': could not submit its task (\(reason)); trying again", level: .warning)
        case .removed(let name):
            log("schedule '\(name)' had a tick but no definition; dropped it", level: .warning)
        }
    }
}
