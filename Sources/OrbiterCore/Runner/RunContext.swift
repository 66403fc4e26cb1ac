import Synchronization

/// What every agent of one run shares: where events go, whether they are detailed, and the
/// running totals of usage and steps across agents (team workers included).
struct RunContext: Sendable {
    let detailed: Bool
    let sink: @Sendable (StreamEvent) async -> Void
    let ledger: Ledger
    let providers: ProviderRegistry
    /// Records progress for resuming; `nil` when the run neither checkpoints nor resumes.
    var checkpoints: Checkpointer? = nil
    /// Where approvals and questions for a person go.
    var human: any HumanInput = NoHumanInput()

    /// Sends an event, dropping the detailed-only kinds when `detailed` is off (a wait for a
    /// person is always sent, as a parked task's stream always has it).
    func emit(_ event: StreamEvent) async {
        if !detailed && !event.isBasic && !event.isWaitingForInput { return }
        await sink(event)
    }

    /// The same run without checkpoints, for work that is redone rather than resumed.
    var withoutCheckpoints: RunContext {
        var copy = self
        copy.checkpoints = nil
        return copy
    }

    /// Usage and step totals of the whole run, and its spend by agent and model (`meter`).
    final class Ledger: Sendable {
        let meter: SpendMeter
        init(meter: SpendMeter = SpendMeter()) { self.meter = meter }
        private let totals = Mutex<(usage: Usage, steps: Int)>((.zero, 0))
        func add(usage: Usage, steps: Int) { totals.withLock { $0.usage += usage; $0.steps += steps } }
        var usage: Usage { totals.withLock { $0.usage } }
        var steps: Int { totals.withLock { $0.steps } }
    }
}

/// An error already reported as an `error` event by the agent it happened in, so the run's
/// top level does not report it twice.
struct ReportedFailure: Error {
    let underlying: any Error
    let agentName: String
}
