import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterLimits
import OrbiterRedis

/// `orbiter run --limits`: the run's model calls book room under the fleet's shared limits, as a
/// worker's do, in the Redis named by `ORBITER_REDIS_URL`.
struct RunLimitsOptions: ParsableArguments {
    @Flag(help: "Book room under the shared rate limits (orbiter limits) in $ORBITER_REDIS_URL before each model call, as workers do.")
    var limits = false

    /// The runner of one run, and the Redis client to close after it (nil without `--limits`).
    func runner(environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> (Run, RedisClient?) {
        guard limits else { return (OrbiterCore.run, nil) }
        guard let text = environment["ORBITER_REDIS_URL"], !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw CLIFailure.usage("orbiter: --limits needs ORBITER_REDIS_URL, the Redis the fleet's limits are kept in (e.g. ORBITER_REDIS_URL=redis://127.0.0.1:6379)")
        }
        let client: RedisClient
        do {
            client = RedisClient(url: try RedisURL.fromEnvironment(environment))
            try await client.connect()
        } catch {
            throw CLIFailure.usage("orbiter: --limits: \(error)")
        }
        return (Run(providers: RateLimitSettings().applied(to: .shared, client: client)), client)
    }
}
