import CoreMetrics
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
/// tasks go out `TaskBroker.submitManyChunk` per `submit_many.lua` call (one script call, bundle
/// check and time-index write per chunk; per task its own idempotency check, `maxPending` room
/// and signature, as for one), the first chunk alone (it stores the bundle), then with `window`
/// tasks outstanding, which the client pipelines. Returns the handles in input order. When some
/// inputs are refused, the others stay submitted and `BatchSubmitError` says which.
public func distributedMany(_ node: some RunnableConvertible, _ inputs: [BatchInput], broker: TaskBroker, detailed: Bool = false,
                            timeout: Double = 300, metadata: [String: String] = [:], bundle: ScriptBundle? = nil,
                            maxRetries: Int? = nil, traceparent: String? = nil, waitTimeout: Double? = nil,
                            budget: SpendingBudget? = nil, tenant: String? = nil,
                            priority: Int? = nil, delay: Double? = nil, runAt: Date? = nil,
                            window: Int = 512) async throws -> [TaskHandle] {
    guard window >= 1 else { throw DistributedError.invalidArgument("window must be at least 1, got \(window)") }
    guard !inputs.isEmpty else { return [] }
    let runnable = node.runnable
    let bundle = try bundle ?? LoadedBundles.bundle(for: runnable)
    let nodeDict = runnable.toDict()
    var handles = [TaskHandle?](repeating: nil, count: inputs.count)
    var failures: [(index: Int, error: any Error)] = []
    // Argument errors common to every input stop the batch here; an input's own (an empty
    // idempotency key) is that input's failure.
    var tasks: [(index: Int, task: TaskBroker.NewTask)] = []
    tasks.reserveCapacity(inputs.count)
    for (index, item) in inputs.enumerated() {
        let payload = try taskPayload(nodeDict, item.input, detailed: detailed, timeout: timeout, metadata: metadata.merging(item.metadata) { $1 },
                                      bundle: bundle, maxRetries: maxRetries, traceparent: traceparent, waitTimeout: waitTimeout,
                                      budget: budget, tenant: tenant, priority: priority, delay: delay, runAt: runAt)
        if let key = item.idempotencyKey, key.allSatisfy(\.isWhitespace) {
            failures.append((index, DistributedError.invalidArgument("the idempotency key is empty; give a key that names the work (e.g. order-42), or none")))
            continue
        }
        tasks.append((index, TaskBroker.NewTask(payload: payload, idempotencyKey: item.idempotencyKey)))
    }
    let chunk = TaskBroker.submitManyChunk
    let chunks = stride(from: 0, to: tasks.count, by: chunk).map { Array(tasks[$0..<min($0 + chunk, tasks.count)]) }
    func place(_ part: [(index: Int, task: TaskBroker.NewTask)], _ results: [Result<(id: String, isNew: Bool), DistributedError>]) {
        for ((index, _), result) in zip(part, results) {
            switch result {
            case .success(let stored): handles[index] = TaskHandle(taskID: stored.id, broker: broker, isFresh: stored.isNew)
            case .failure(let error): failures.append((index, error))
            }
        }
    }
    // The first chunk alone stores the bundle (a lost Redis fails the batch here); the rest only
    // refer to it, `window / chunk` calls outstanding, each lane taking the next chunk as its
    // last one is answered.
    if let first = chunks.first { place(first, try await broker.storeMany(first.map(\.task), bundle: bundle)) }
    let next = NextIndex(1)
    await withTaskGroup(of: [([(index: Int, task: TaskBroker.NewTask)], Result<[Result<(id: String, isNew: Bool), DistributedError>], any Error>)].self) { group in
        for _ in 0..<min(max(1, window / chunk), max(0, chunks.count - 1)) {
            group.addTask {
                var done: [([(index: Int, task: TaskBroker.NewTask)], Result<[Result<(id: String, isNew: Bool), DistributedError>], any Error>)] = []
                while true {
                    let i = next.take()
                    guard i < chunks.count else { return done }
                    do { done.append((chunks[i], .success(try await broker.storeMany(chunks[i].map(\.task), bundle: bundle)))) } catch {
                        done.append((chunks[i], .failure(error)))
                    }
                }
            }
        }
        for await lane in group {
            for (part, outcome) in lane {
                switch outcome {
                case .success(let results): place(part, results)
                case .failure(let error): failures += part.map { ($0.index, error) }
                }
            }
        }
    }
    let stored = handles.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
    // Client-side, so it goes to the process's global metrics system (a no-op unless bootstrapped).
    Counter(label: "orbiter_tasks_submitted_total", dimensions: [("queue", broker.keys.queue)]).increment(by: stored)
    guard failures.isEmpty else { throw BatchSubmitError(handles: handles, failures: failures.sorted { $0.index < $1.index }) }
    return handles.map { $0! }
}

/// Hands out increasing indices to the lanes of a batch.
private final class NextIndex: Sendable {
    private let value: Mutex<Int>
    init(_ first: Int) { value = Mutex(first) }
    func take() -> Int { value.withLock { v in defer { v += 1 }; return v } }
}
