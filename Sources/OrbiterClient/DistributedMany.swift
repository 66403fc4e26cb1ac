import Foundation
import OrbiterCore
import OrbiterQueue
import OrbiterLua
import Synchronization

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
/// script bundle is stored once, then the submits go out with `window` of them outstanding, which
/// the client pipelines — a few round trips per thousand tasks, each task still its own
/// `submit.lua` transition (idempotency, `maxPending`, signing as for one). Returns the
/// handles in input order. When some inputs are refused, the others stay submitted and
/// `BatchSubmitError` says which.
public func distributedMany(_ node: some RunnableConvertible, _ inputs: [BatchInput], broker: TaskBroker, detailed: Bool = false,
                            timeout: Double = 300, metadata: [String: String] = [:], bundle: ScriptBundle? = nil,
                            maxRetries: Int? = nil, traceparent: String? = nil, waitTimeout: Double? = nil,
                            budget: SpendingBudget? = nil, tenant: String? = nil,
                            priority: Int? = nil, delay: Double? = nil, runAt: Date? = nil,
                            window: Int = 512) async throws -> [TaskHandle] {
    guard window >= 1 else { throw DistributedError.invalidArgument("window must be at least 1, got \(window)") }
    let runnable = node.runnable
    let bundle = try bundle ?? LoadedBundles.bundle(for: runnable)
    @Sendable func submit(_ item: BatchInput) async throws -> TaskHandle {
        try await distributed(runnable, item.input, broker: broker, detailed: detailed, timeout: timeout,
                              metadata: metadata.merging(item.metadata) { $1 }, bundle: bundle, idempotencyKey: item.idempotencyKey,
                              maxRetries: maxRetries, traceparent: traceparent, waitTimeout: waitTimeout,
                              budget: budget, tenant: tenant, priority: priority, delay: delay, runAt: runAt)
    }
    var handles = [TaskHandle?](repeating: nil, count: inputs.count)
    var failures: [(index: Int, error: any Error)] = []
    guard !inputs.isEmpty else { return [] }
    // The first submit alone stores the bundle; the rest only refer to it. Argument errors and a
    // lost Redis would fail every input alike: they stop the batch there.
    do {
        handles[0] = try await submit(inputs[0])
    } catch let error as DistributedError where !isArgumentError(error) {
        failures.append((0, error))
    }
    // Then `window` submits outstanding at a time, each lane taking the next input as its last
    // one is answered: the client pipelines whatever is queued at once, and no lane waits for a
    // slow neighbour.
    let next = NextIndex(1)
    await withTaskGroup(of: [(Int, Result<TaskHandle, any Error>)].self) { group in
        for _ in 0..<min(window, inputs.count - 1) {
            group.addTask {
                var done: [(Int, Result<TaskHandle, any Error>)] = []
                while true {
                    let index = next.take()
                    guard index < inputs.count else { return done }
                    do { done.append((index, .success(try await submit(inputs[index])))) } catch { done.append((index, .failure(error))) }
                }
            }
        }
        for await lane in group {
            for (index, result) in lane {
                switch result {
                case .success(let handle): handles[index] = handle
                case .failure(let error): failures.append((index, error))
                }
            }
        }
    }
    guard failures.isEmpty else { throw BatchSubmitError(handles: handles, failures: failures.sorted { $0.index < $1.index }) }
    return handles.map { $0! }
}

/// Hands out increasing indices to the lanes of a batch.
private final class NextIndex: Sendable {
    private let value: Mutex<Int>
    init(_ first: Int) { value = Mutex(first) }
    func take() -> Int { value.withLock { v in defer { v += 1 }; return v } }
}

private func isArgumentError(_ error: any Error) -> Bool {
    if case DistributedError.invalidArgument = error { return true }
    return false
}
