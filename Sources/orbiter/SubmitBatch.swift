import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterQueue

/// `orbiter submit SCRIPT --batch FILE`: one task per input line, submitted pipelined; ids on
/// stdout in input order; with `--wait`, progress on stderr and exit status 1 when any failed.
extension SubmitCommand {
    func runBatch(_ path: String) async throws {
        let file = try BatchInputFile.read(path)
        let place = try placement()
        let (runtime, root) = try ScriptLoading.load(script)
        ScriptLoading.warnIfWorkersCannotLoad(runtime, path: script)
        var settings = QueueSettings()
        settings.durability = try durability.resolved()
        if let maxPending { settings.maxPending = maxPending }
        let broker = try await redis.broker(settings: settings)
        let traceparent = traceparent ?? ProcessInfo.processInfo.environment["TRACEPARENT"].flatMap { $0.isEmpty ? nil : $0 }
        var handles: [TaskHandle?]
        var refused: [(index: Int, error: any Error)] = []
        do {
            handles = try await distributedMany(root, file.inputs.map { $0.input }, broker: broker, detailed: detailed, timeout: timeout,
                                                metadata: parsedMetadata, bundle: runtime.bundle, maxRetries: maxRetries,
                                                traceparent: traceparent, waitTimeout: waitTimeout,
                                                budget: budget.budget, tenant: tenant.tenant,
                                                priority: place.priority, delay: place.delay, runAt: place.runAt)
        } catch let partial as BatchSubmitError {
            handles = partial.handles
            refused = partial.failures
        }
        var printed = ""
        for ((line, _), handle) in zip(file.inputs, handles) {
            guard let handle else { continue }
            printed += output.json ? JSONValue.object(["line": .int(line), "task_id": .string(handle.taskID), "queue": .string(handle.queue)]).jsonString + "\n"
                                   : handle.taskID + "\n"
        }
        Terminal.out(printed)
        if !refused.isEmpty {
            let shown = refused.prefix(BatchInputFile.maxReported).map { "\(file.name):\(file.inputs[$0.index].line): not submitted: \($0.error)" }
            let more = refused.count > shown.count ? ["… and \(refused.count - shown.count) more"] : []
            throw CLIFailure.failed((shown + more + ["orbiter: \(handles.count - refused.count) of \(handles.count) tasks were submitted (their ids are on stdout)"])
                .joined(separator: "\n"))
        }
        guard wait else { return }
        await Waiting.warnIfNoLiveWorker(broker)
        let ids = handles.compactMap { $0?.taskID }
        let summary = try await BatchProgress(broker: broker, ids: ids, timeout: waitTimeout).run()
        if output.json {
            Terminal.out(JSONValue.object([
                "completed": .int(summary.completed), "failed": .array(summary.failed.map(JSONValue.string)),
                "cancelled": .array(summary.cancelled.map(JSONValue.string)), "missing": .array(summary.missing.map(JSONValue.string)),
                "unfinished": .int(summary.unfinished),
            ]).jsonString + "\n")
        }
        guard !summary.ok else { return }
        var lines: [String] = []
        for id in summary.failed.prefix(10) {
            let reason = (try? await broker.status(id))?.error ?? "?"
            lines.append("orbiter: task \(id) failed: \(reason)")
        }
        if summary.failed.count > 10 { lines.append("orbiter: … and \(summary.failed.count - 10) more failed (orbiter task dead lists them)") }
        let parts = [summary.failed.isEmpty ? nil : "\(summary.failed.count) failed",
                     summary.cancelled.isEmpty ? nil : "\(summary.cancelled.count) cancelled",
                     summary.missing.isEmpty ? nil : "\(summary.missing.count) no longer found",
                     summary.unfinished == 0 ? nil : "\(summary.unfinished) not finished after \(waitTimeout ?? 0) s (still queued or running)"]
        lines.append("orbiter: \(summary.completed) of \(ids.count) tasks completed; " + parts.compactMap { $0 }.joined(separator: ", "))
        throw CLIFailure.failed(lines.joined(separator: "\n"))
    }

    /// `--metadata key=value` items as a dictionary (validated in `validate()`).
    var parsedMetadata: [String: String] { parseMetadataItems(metadata) }
}

/// `key=value` items (`--metadata`, repeatable) as a dictionary; a later key wins.
func parseMetadataItems(_ items: [String]) -> [String: String] {
    var meta: [String: String] = [:]
    for item in items {
        let parts = item.split(separator: "=", maxSplits: 1)
        meta[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
    }
    return meta
}
