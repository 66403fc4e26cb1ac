import Foundation
import Synchronization
import CLua

/// A task executor on a thread of its own, where Lua computes instead of Swift's cooperative pool.
///
/// A call that outlasts its first slice continues here (`withTaskExecutorPreference`), so a tool
/// stuck in a CPU-bound loop blocks only its Lua thread (and, until its next preemption slice, the
/// calls that share it); lease renewals, Redis I/O and other tasks go on. Scripts load here too.
/// Runtimes take threads from `LuaExecutor.shared` round-robin.
public final class LuaExecutor: TaskExecutor, @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var closures: [() -> Void] = []

    init(name: String) {
        let thread = Thread { [unowned self] in
            orbiter_set_thread_name(name) // else it keeps the name of the thread that made it
            self.work()
        }
        thread.name = name
        thread.stackSize = 16 << 20 // Lua's C recursion (200 levels) and JSON conversion (200) fit easily
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on this executor's thread (serially with the actors it runs) and returns its value.
    /// `LuaLogContext.metadata` goes along, so a script's top level logs as the task loading it.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let metadata = LuaLogContext.metadata
        return try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            closures.append { continuation.resume(with: Result { try LuaLogContext.$metadata.withValue(metadata) { try body() } }) }
            condition.signal()
            condition.unlock()
        }
    }

    private func work() {
        var batch: [UnownedJob] = []
        var calls: [() -> Void] = []
        while true {
            condition.lock()
            while jobs.isEmpty && closures.isEmpty { condition.wait() }
            swap(&batch, &jobs)
            swap(&calls, &closures)
            condition.unlock()
            for call in calls { call() }
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
            calls.removeAll(keepingCapacity: true)
        }
    }

    /// The process's Lua threads: as many as there are cores (at least two), made on first use.
    static let shared = Pool(count: max(2, ProcessInfo.processInfo.activeProcessorCount))

    /// Hands out executors round-robin.
    final class Pool: Sendable {
        private let executors: [LuaExecutor]
        private let next = Atomic<Int>(0)

        init(count: Int) {
            executors = (0..<count).map { LuaExecutor(name: "orbiter-lua-\($0)") }
        }

        func executor() -> LuaExecutor {
            let i = next.add(1, ordering: .relaxed).oldValue
            return executors[i % executors.count]
        }
    }
}
