import Foundation
import OrbiterCore
import OrbiterQueue
import OrbiterLua

/// One task of a batch: its input, and metadata and an idempotency key of its own.
public struct BatchInput: Sendable, Equatable {
    public var input: String
    /// Added to (and overriding) the batch's metadata.
    public var metadata: [String: String]
    public var idempotencyKey: String?

    public init(_ input: String, metadata: [String: String] = [:], idempotencyKey: String? = nil) {
        self.input = input
        self.metadata = metadata
        self.idempotencyKey = idempotencyKey
    }
}

/// A batch that was submitted in part: `handles[i]` is the task of input `i`, or nil where
/// `failures` says why it was not stored (the queue filled up, an idempotency key's conflict...).
public struct BatchSubmitError: Error, CustomStringConvertible, Sendable {
    public var handles: [TaskHandle?]
    public var failures: [(index: Int, error: any Error)]

    public var description: String {
        let first = failures.first.map { "input \($0.index + 1): \($0.error)" } ?? ""
        return "\(failures.count) of \(handles.count) tasks were not submitted (\(handles.count - failures.count) were); \(first)"
    }
}

/// Submits one task per input, all running `node`: `distributed` for many inputs at once. The
/// script bundle is stored once, then the submits go out in chunks of `chunkSize` concurrent
/// calls, which the client pipelines — a few round trips per thousand tasks, each task still its
/// own `submit.lua` transition (idempotency, `maxPending`, signing as for one). Returns the
/// handles in input order. When some inputs are refused, the others stay submitted and
/// `BatchSubmitError` says which.
public func distributedMany(_ node: some RunnableConvertible, _ inputs: [BatchInput], broker: TaskBroker, detailed: Bool = false,
                            timeout: Double = 300, metadata: [String: String] = [:], bundle: ScriptBundle? = nil,
                            maxRetries: Int? = nil, traceparent: String? = nil, waitTimeout: Double? = nil,
                            chunkSize: Int = 1000) async throws -> [TaskHandle] {
    guard chunkSize >= 1 else { throw DistributedError.invalidArgument("chunk size must be at least 1, got \(chunkSize)") }
    let runnable = node.runnable
    let bundle = try bundle ?? LoadedBundles.bundle(for: runnable)
    @Sendable func submit(_ item: BatchInput) async throws -> TaskHandle {
        try await distributed(runnable, item.input, broker: broker, detailed: detailed, timeout: timeout,
                              metadata: metadata.merging(item.metadata) { $1 }, bundle: bundle, idempotencyKey: item.idempotencyKey,
                              maxRetries: maxRetries, traceparent: traceparent, waitTimeout: waitTimeout)
    }
    var handles = [TaskHandle?](repeating: nil, count: inputs.count)
    var failures: [(index: Int, error: any Error)] = []
    var start = 0
    while start < inputs.count {
        // The first submit alone stores the bundle; the rest only refer to it.
        let end = start == 0 ? 1 : min(inputs.count, start + chunkSize)
        await withTaskGroup(of: (Int, Result<TaskHandle, any Error>).self) { group in
            for index in start..<end {
                let item = inputs[index]
                group.addTask {
                    do { return (index, .success(try await submit(item))) } catch { return (index, .failure(error)) }
                }
            }
            for await (index, result) in group {
                switch result {
                case .success(let handle): handles[index] = handle
                case .failure(let error): failures.append((index, error))
                }
            }
        }
        // Argument errors and a lost Redis fail every input alike: stop at the first chunk.
        if start == 0, let failure = failures.first, !(failure.error is DistributedError) || isArgumentError(failure.error) {
            throw failure.error
        }
        start = end
    }
    guard failures.isEmpty else { throw BatchSubmitError(handles: handles, failures: failures.sorted { $0.index < $1.index }) }
    return handles.map { $0! }
}

private func isArgumentError(_ error: any Error) -> Bool {
    if case DistributedError.invalidArgument = error { return true }
    return false
}
