/// The model call running in this task: which agent makes it, and where a provider (or a
/// decorator around one) reports what the run should see while it waits, such as a wait for
/// room under a shared rate limit (`status rate_limited`).
///
/// Set by the agent loop around each `ModelProvider.complete`; a provider called outside a run
/// sees `nil` and reports nothing.
public struct ModelCallScope: Sendable {
    /// The call in progress in this task, if any.
    @TaskLocal public static var current: ModelCallScope?

    /// The agent making the call.
    public let agentName: String
    /// Sends an event to the run (detailed-only kinds are dropped when the run is not detailed).
    public let emit: @Sendable (StreamEvent) async -> Void

    public init(agentName: String, emit: @escaping @Sendable (StreamEvent) async -> Void) {
        self.agentName = agentName
        self.emit = emit
    }
}
