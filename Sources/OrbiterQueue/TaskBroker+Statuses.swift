import Foundation
import OrbiterCore

extension TaskBroker {
    /// The status of each task (nil: no such task, or it expired), read in pipelined chunks of
    /// 2,000 `HGET`s: how a batch is followed without a subscription per task.
    public func statuses(_ taskIDs: [String]) async throws -> [TaskStatus?] {
        var statuses: [TaskStatus?] = []
        statuses.reserveCapacity(taskIDs.count)
        for start in stride(from: 0, to: taskIDs.count, by: 2000) {
            let chunk = taskIDs[start..<min(taskIDs.count, start + 2000)]
            for id in chunk { try TaskID.validate(id) }
            let replies = try await client.pipeline(chunk.map { ["HGET", keys.task($0), "status"] })
            statuses.append(contentsOf: replies.map { $0.string.flatMap(TaskStatus.init(rawValue:)) })
        }
        return statuses
    }
}
