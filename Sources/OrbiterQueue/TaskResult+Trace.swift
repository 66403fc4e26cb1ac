extension TaskResult {
    /// The trace id of the task's `traceparent` (in `metadata`), for joining with the worker's
    /// `trace_id` log metadata.
    public var traceID: String? {
        metadata[TraceContext.metadataKey].flatMap(TraceContext.init(traceparent:))?.traceID
    }
}
