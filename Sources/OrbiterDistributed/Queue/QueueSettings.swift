/// How long what a queue stores is kept. Defaults: finished tasks 24 h, event streams 1 h,
/// bundles 7 days after their last submit.
public struct QueueSettings: Sendable, Hashable {
    public var taskTTL: Int
    public var eventsTTL: Int
    public var bundleTTL: Int
    /// Approximate cap of the queue stream (entries are deleted as tasks end, so this only bounds
    /// a queue that nobody works on).
    public var maxQueueLength: Int
    /// Cap of one task's event stream.
    public var maxEventsPerTask: Int

    public init(taskTTL: Int = 86_400, eventsTTL: Int = 3_600, bundleTTL: Int = 7 * 86_400,
                maxQueueLength: Int = 1_000_000, maxEventsPerTask: Int = 100_000) {
        self.taskTTL = taskTTL
        self.eventsTTL = eventsTTL
        self.bundleTTL = bundleTTL
        self.maxQueueLength = maxQueueLength
        self.maxEventsPerTask = maxEventsPerTask
    }
}
