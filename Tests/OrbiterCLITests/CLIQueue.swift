import Foundation
import OrbiterTestSupport

/// The environment that points `orbiter` at the private Redis of scripts/test.sh, and a queue name
/// (`prefix-…`) no other test uses.
func testQueue(_ prefix: String) throws -> (env: [String: String], queue: String) {
    (["ORBITER_REDIS_URL": try TestRedis.url()], prefix + "-" + UUID().uuidString.prefix(8).lowercased())
}

/// A suite whose tests drive `orbiter` against a queue of their own.
protocol CLIQueueSuite {
    var env: [String: String] { get }
    var queue: String { get }
}

extension CLIQueueSuite {
    /// Runs `orbiter args...` with the suite's environment.
    func orbiter(_ args: [String], stdin: String? = nil) async throws -> OrbiterBinary.Outcome {
        try await OrbiterBinary.run(args, stdin: stdin, environment: env)
    }
}
