import ArgumentParser
import Foundation
import OrbiterQueue

/// `--durability` and `--durability-timeout`, for `submit` and `start worker`.
struct DurabilityOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Acknowledgement after each write: none, replica (WAIT 1: a replica has it) or aof (WAITAOF 1 0: fsynced to the master's AOF; Redis 7.2+).",
        discussion: "Default: $ORBITER_DURABILITY, else none. A missing acknowledgement fails a submit (the task MAY still exist); a worker retries its write."))
    var durability: String?

    @Option(name: .customLong("durability-timeout"), parsing: .unconditional, help: "How long to wait for the acknowledgement: e.g. 200ms, 2s (default: $ORBITER_DURABILITY_TIMEOUT, else 1s; at most 20s).")
    var durabilityTimeout: String?

    /// The flags over the environment; a bad value is a usage error naming the flag or variable.
    func resolved(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Durability {
        do {
            var base = try Durability.fromEnvironment(env)
            if let durability { base = try Durability.parse(level: durability, timeout: nil) }
            if let durabilityTimeout { base.timeoutMs = try Durability.parse(level: "none", timeout: durabilityTimeout).timeoutMs }
            return base
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func validate() throws { _ = try resolved() }
}
