import CoreMetrics
import Foundation
import Logging
import OrbiterCore
import OrbiterQueue
import OrbiterLua
import OrbiterRedis
import Synchronization

extension Worker {
    /// Records how the run ended: the one place a run's outcome reaches Redis.
    /// `usage`: the run's tokens and cost by model, counted for `queue stats` when the task ends.
    func record(_ outcome: TaskOutcome, taskID: String, attempt: Int, agentName: String, publisher: EventPublisher,
                usage: [ModelUsage] = []) async {
        switch outcome {
        case .completed, .failed, .cancelled: break // the finish carries the events still waiting (`handOff`)
        case .retry, .handBack, .park, .abandoned: await publisher.flush() // their scripts append after the run's events
        }
        switch outcome {
        case .completed(let result, let parsed):
            // Structured output rides on the terminal event when the result does (a big one is read from the hash).
            let small = result.utf8.count <= Self.resultInEventLimit
            await finish(taskID, status: .completed, result: result, error: "",
                         terminal: .init(status: .completed, agentName: agentName, parsed: small ? parsed : nil), publisher: publisher,
                         usage: usage)
        case .failed(let message, let errorType, let report):
            if report { await publisher.publish(.error(ErrorEvent(error: message, errorType: errorType, agentName: agentName))) }
            await finish(taskID, status: .failed, result: "", error: message,
                         terminal: .init(status: .error, agentName: agentName, message: message), publisher: publisher, usage: usage)
        case .retry(let message):
            await retry(taskID, attempt: attempt, error: message, agentName: agentName, publisher: publisher)
        case .cancelled:
            await finishCancelled(taskID, agentName: agentName, publisher: publisher, usage: usage)
        case .handBack:
            await handBack(taskID, agentName: agentName, publisher: publisher)
        case .park(let request, let checkpoint, let waitTimeout):
            await park(taskID, request: request, checkpoint: checkpoint, waitTimeout: waitTimeout, agentName: agentName, publisher: publisher)
        case .abandoned:
            publisher.finalStatus = "abandoned: its lease was lost to another worker"
        }
    }

    func finish(_ taskID: String, status: TaskStatus, result: String, error: String, terminal: StatusEvent,
                        publisher: EventPublisher, usage: [ModelUsage] = []) async {
        publisher.finalStatus = status.rawValue
        let now = TaskBroker.nowMs()
        // A lost connection does not lose the outcome: keep it and report it when Redis is back
        // (for up to two minutes; after that another worker will have taken the task over).
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        var warned = false
        var unacknowledged = false
        let giveUp = ContinuousClock.now + .seconds(120)
        let events = await publisher.handOff()
        while true {
            do {
                let done = try await metrics.redis("finish") {
                    try await broker.finish(taskID, status: status, result: result, error: error, terminal: terminal,
                                            workerID: configuration.workerID, lease: publisher.lease,
                                            resultInEvent: result.utf8.count <= Self.resultInEventLimit, now: now, usage: usage,
                                            events: events)
                }
                if unacknowledged {
                    log("task \(taskID): outcome '\(status.rawValue)' acknowledged now (\(configuration.settings.durability))", task: taskID)
                } else if !done {
                    log("task \(taskID): no longer running under this worker's lease; outcome '\(status.rawValue)' not recorded",
                        level: .warning, task: taskID)
                }
                break
            } catch DistributedError.notAcknowledged(_, _, let detail) where ContinuousClock.now < giveUp && !Task.isCancelled {
                // Written on the master, not acknowledged: finish again on the same connection. The
                // second finish writes nothing (the outcome is recorded); its WAIT covers the first.
                if !unacknowledged {
                    log("task \(taskID): outcome '\(status.rawValue)' recorded but not acknowledged (\(detail)); retrying until it is",
                        level: .warning, task: taskID)
                }
                unacknowledged = true
                try? await backoff.wait()
            } catch RedisError.connection(let message) where ContinuousClock.now < giveUp && !Task.isCancelled {
                if !warned {
                    log("task \(taskID): Redis unavailable (\(message)); will record '\(status.rawValue)' when it is back", level: .warning, task: taskID)
                }
                warned = true
                try? await backoff.wait()
            } catch {
                log("task \(taskID): could not record outcome '\(status.rawValue)' (\(error))", level: .error, task: taskID)
                break
            }
        }
        counters.finished(failed: status != .completed)
    }

    func finishCancelled(_ taskID: String, agentName: String, publisher: EventPublisher, usage: [ModelUsage] = []) async {
        let message = "cancelled by request"
        await finish(taskID, status: .cancelled, result: "", error: message,
                     terminal: .init(status: .cancelled, agentName: agentName, message: message), publisher: publisher, usage: usage)
    }

    /// A task still running when the drain time is up goes back on the queue (not cancelled):
    /// another worker claims it and resumes it from its last checkpoint.
    func handBack(_ taskID: String, agentName: String, publisher: EventPublisher) async {
        let event = StreamEvent.status(StatusEvent(status: .retrying, agentName: agentName,
                                                   message: "worker \(configuration.workerID) stopped before the task finished; "
                                                       + "back on the queue for another worker to resume"))
        publisher.finalStatus = "put back on the queue (this worker is stopping)"
        do {
            switch try await broker.handBack(taskID, event: event, workerID: configuration.workerID, lease: publisher.lease) {
            case .requeued: break
            case .cancel: await finishCancelled(taskID, agentName: agentName, publisher: publisher)
            case .notOwned:
                publisher.finalStatus = "left as it is (no longer running under this worker's lease)"
            }
        } catch {
            log("task \(taskID): could not put it back on the queue (\(error)); another worker takes it over once its lease lapses",
                level: .warning, task: taskID, agent: agentName)
        }
    }

    /// Most entries claimed (and started, in one script call) at once: big enough to amortise the
    /// round trip, small enough that a start never holds Redis for long and idle workers get a share.
    static let claimBatch = 256

    /// Results up to this many bytes are copied into the terminal event's stream entry, so
    /// `result()` needs no second read; larger ones stay only in the task hash.
    static let resultInEventLimit = 16 * 1024

    func retry(_ taskID: String, attempt: Int, error: String, agentName: String, publisher: EventPublisher) async {
        let delay = Backoff(initial: configuration.retryBaseDelay, maximum: .seconds(60), jitter: 0.75...1.25)
            .delay(afterFailure: attempt)
        let ms = Int64(delay.inMilliseconds)
        let event = StreamEvent.status(StatusEvent(status: .retrying, agentName: agentName,
                                                   message: "attempt \(attempt) failed (\(error)); retrying in \(ms) ms"))
        publisher.finalStatus = "retrying"
        metrics.retried.increment()
        do {
            try await broker.scheduleRetry(taskID, runAt: TaskBroker.nowMs() + ms, error: error, event: event,
                                           workerID: configuration.workerID, lease: publisher.lease)
        } catch {
            log("task \(taskID): could not schedule a retry (\(error))", level: .error, task: taskID)
        }
    }
}
