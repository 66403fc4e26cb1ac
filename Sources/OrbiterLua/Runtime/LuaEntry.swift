import CLua

/// The memory one task holds in a Lua state that several tasks share.
///
/// Every block the task's calls allocate is charged to it until freed (whoever runs the
/// collector), so one task cannot take the memory of the others: the allocator refuses what
/// would pass the task's cap, and so does Swift before it pushes a value (a decoded JSON
/// document, arguments).
public final class LuaTaskAccount: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<OrbiterLuaAccount>?

    public init() { pointer = orbiter_account_new() }
    deinit { if let pointer { orbiter_account_release(pointer) } }

    /// Bytes the task holds now (read on the runtime's thread).
    var held: Int64 { pointer?.pointee.used ?? 0 }
}

/// The cancel flag of one call, set from any thread; the budget hook reads it between
/// instructions, so cancelling interrupts even a CPU-bound loop.
final class LuaCancelFlag: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>

    init(set: Bool = false) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: set ? 1 : 0)
    }

    deinit { pointer.deallocate() }

    func set() { orbiter_flag_set(pointer) }
    var isSet: Bool { orbiter_flag_get(pointer) != 0 }

    /// A flag that is always set: entering Lua with it stops at the first instruction.
    static let raised = LuaCancelFlag(set: true)
}

/// The limits of one entry into Lua: installed in the state's budget before Lua runs, and read
/// back after it returns or yields (calls interleave at yields, each with its own budget).
struct LuaEntry {
    var deadline: ContinuousClock.Instant?
    /// `nil`: unlimited.
    var instructionsLeft: Int64?
    var cancel: LuaCancelFlag?
    var account: LuaTaskAccount?
    var taskMemoryLimit: Int?
    /// Preemption: the thread that may be yielded, and how long it may run before it is.
    var preemptible: OpaquePointer?
    var slice: Duration?

    func enter(_ budget: UnsafeMutablePointer<OrbiterLuaBudget>) {
        let now = orbiter_now_ns()
        budget.pointee.deadline_ns = deadline.map { Self.monotonicNanoseconds(until: $0, now: now) } ?? 0
        budget.pointee.instructions_left = instructionsLeft ?? 0
        budget.pointee.counting = instructionsLeft == nil ? 0 : 1
        budget.pointee.cancel = cancel?.pointer
        budget.pointee.interrupted = 0
        budget.pointee.preemptible = preemptible
        budget.pointee.slice_end_ns = slice.map { now + $0.inNanoseconds } ?? 0
        budget.pointee.preempted = 0
        budget.pointee.account = account?.pointer
        budget.pointee.task_limit = taskMemoryLimit.map { max(1, $0) } ?? 0
    }

    /// Reads back what the entry used and clears the call's limits from the budget.
    mutating func leave(_ budget: UnsafeMutablePointer<OrbiterLuaBudget>) {
        if instructionsLeft != nil { instructionsLeft = budget.pointee.instructions_left }
        budget.pointee.deadline_ns = 0
        budget.pointee.counting = 0
        budget.pointee.cancel = nil
        budget.pointee.preemptible = nil
        budget.pointee.slice_end_ns = 0
        budget.pointee.task_limit = 0
        budget.pointee.account = nil
    }

    /// Why the budget stopped the last entry, if it did.
    static func interruption(_ budget: UnsafeMutablePointer<OrbiterLuaBudget>) -> Int32 { budget.pointee.interrupted }

    private static func monotonicNanoseconds(until deadline: ContinuousClock.Instant, now: Int64) -> Int64 {
        now + max((deadline - ContinuousClock.now).inNanoseconds, 1)
    }
}
