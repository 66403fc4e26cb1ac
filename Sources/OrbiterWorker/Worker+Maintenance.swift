import CoreMetrics
import Foundation
import Logging
import OrbiterCore
import OrbiterQueue
import OrbiterLua
import OrbiterRedis
import Synchronization

extension Worker {
    // MARK: Timeouts

    /// Stops tasks that ran past their timeout, checking every 50 ms (timeouts are whole seconds
    /// or more in practice, so the slack is small next to them).
    func timeoutLoop() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(50))
            running.stopOverdue()
        }
    }


    // MARK: Retention

    /// Deletes finished tasks (hash, events stream) whose retention is over, a batch at a time
    /// until none is due. A failure is said once, until a sweep succeeds again.
    func retentionLoop() async throws {
        var failing = false
        while !Task.isCancelled {
            try await Task.sleep(for: configuration.retentionSweepInterval)
            do {
                while try await broker.sweepFinished() >= 2 * TaskBroker.sweepLimit, !Task.isCancelled {}
                failing = false
            } catch is CancellationError {
                return
            } catch {
                if !failing { log("could not delete finished tasks past their retention (\(error)); will try again", level: .warning) }
                failing = true
            }
        }
    }


    // MARK: Leases

    func leaseLoop() async throws {
        let interval = Duration.milliseconds(max(100, configuration.leaseSeconds * 1000 / 3))
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            let leases = running.leases
            guard !leases.isEmpty else { continue }
            do {
                for position in try await broker.renew(leases, workerID: configuration.workerID) {
                    let (taskID, _, lease) = leases[position]
                    if running.stop(taskID, lease: lease, reason: .leaseLost) {
                        log("task \(taskID): lease lost (another worker took it over while this one stalled); run cancelled",
                            level: .warning, task: taskID)
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                log("could not renew leases (\(error))", level: .warning)
            }
        }
    }


    // MARK: Heartbeat and control

    func heartbeatLoop() async throws {
        let interval = Duration.milliseconds(max(200, configuration.heartbeatTTL * 1000 / 3))
        while !Task.isCancelled {
            do {
                try await sendHeartbeat(status: stopSignal.isStopped ? "draining" : "running")
                try await checkCancelFlags()
            } catch is CancellationError {
                return
            } catch {
                log("heartbeat failed (\(error))", level: .warning)
            }
            try await Task.sleep(for: interval)
        }
    }

    /// `mode`: "start" (refused with `workerIDInUse` while another live process holds this worker
    /// id), "beat", or "stop".
    func sendHeartbeat(status: String, mode: String = "beat") async throws {
        let current = JSONValue.array(running.ids.map(JSONValue.string)).jsonString
        do {
            try await metrics.redis("heartbeat") {
                try await broker.heartbeat(workerID: configuration.workerID, ttl: configuration.heartbeatTTL, instance: instance, mode: mode,
                                           fields: [("status", status), ("tasks_processed", counters.processed),
                                                    ("tasks_failed", counters.failed), ("current_tasks", current),
                                                    ("concurrency", configuration.concurrency), ("hostname", ProcessInfo.processInfo.hostName),
                                                    ("version", OrbiterVersion.current),
                                                    ("started_at", String(Int64(startedAt.timeIntervalSince1970 * 1000))), ("queue", keys.queue)])
            }
        } catch RedisError.server(let message) where message.hasPrefix("INUSE ") {
            // "INUSE <ms since its last heartbeat> <its heartbeat TTL s> <its hostname>"
            let parts = message.split(separator: " ", maxSplits: 3).map(String.init)
            let ago = (Double(parts.count > 1 ? parts[1] : "") ?? 0) / 1000
            let ttl = parts.count > 2 ? parts[2] : "?", host = parts.count > 3 ? parts[3] : "?"
            throw DistributedError.workerIDInUse(
                workerID: configuration.workerID, queue: keys.queue,
                detail: "its last heartbeat came \(String(format: "%.1f", ago)) s ago from host \(host); if that worker was killed, "
                    + "the id is free \(ttl) s after its last heartbeat")
        }
    }

    /// The cancel flag backs up the Pub/Sub message, which a reconnecting worker could miss.
    func checkCancelFlags() async throws {
        let ids = running.ids
        guard !ids.isEmpty else { return }
        let flags = try await client.pipeline(ids.map { ["HGET", keys.task($0), "cancel_requested"] })
        for (id, flag) in zip(ids, flags) where flag.string == "1" {
            if running.stop(id, reason: .requested) { log("task \(id): cancel requested", task: id) }
        }
    }

    func controlLoop() async throws {
        while !Task.isCancelled {
            do {
                for try await message in client.subscribe([keys.control(configuration.workerID)]) {
                    let text = String(decoding: message.message, as: UTF8.self)
                    guard text.hasPrefix("cancel ") else { continue }
                    let id = String(text.dropFirst(7))
                    if running.stop(id, reason: .requested) { log("task \(id): cancel requested", task: id) }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                log("control channel lost (\(error)); resubscribing", level: .warning)
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}
