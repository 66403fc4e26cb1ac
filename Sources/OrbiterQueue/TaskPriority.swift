import Foundation

/// A task's priority: 0...9, 9 first; FIFO within a level. Each level is a queue stream of its own
/// (`QueueKeys.stream(level:)`); the default level's stream is the queue stream every older
/// task and worker knows, so a queue that uses no priorities works exactly as before.
public enum TaskPriority {
    public static let defaultLevel = 5
    public static let range = 0...9

    /// Throws `invalidArgument` naming `name` (a flag or a parameter) unless `value` is 0...9.
    public static func validate(_ value: Int, name: String = "priority") throws {
        guard range.contains(value) else {
            throw DistributedError.invalidArgument("\(name) must be 0 to 9 (9 runs first, default 5), got \(value)")
        }
    }

    /// Reads a priority given as text (a flag): an integer 0...9.
    public static func parse(_ text: String, name: String = "--priority") throws -> Int {
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw DistributedError.invalidArgument("\(name) must be an integer 0 to 9 (9 runs first, default 5), got '\(text.prefix(40))'")
        }
        try validate(value, name: name)
        return value
    }
}
