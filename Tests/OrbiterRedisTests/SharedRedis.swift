import Foundation
@testable import OrbiterRedis
import OrbiterTestSupport
import Testing

/// The shared test server of scripts/test.sh. Fails (never skips) when `ORBITER_TEST_REDIS_URL` is unset.
func sharedRedisURL() throws -> RedisURL {
    try RedisURL(TestRedis.url())
}

/// A connected client on the shared test server.
func sharedClient() async throws -> RedisClient {
    let client = RedisClient(url: try sharedRedisURL())
    try await client.connect()
    return client
}

/// A key no other test (or run) uses.
func uniqueKey(_ label: String = #function) -> String {
    "orbiter-redis-test:\(label.prefix(while: { $0 != "(" })):\(UUID().uuidString)"
}

extension PrivateRedis {
    /// Its TCP address with optional credentials and database.
    func redisURL(user: String? = nil, password: String? = nil, db: Int = 0) throws -> RedisURL {
        var u = try RedisURL(url)
        u.username = user
        u.password = password
        u.database = db
        return u
    }
}

/// Expects `input` to be refused as `RedisError.invalidURL` with a message containing `expected`.
func expectInvalidURL(_ input: String, naming expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try RedisURL(input)
        Issue.record("\(input) should not parse", sourceLocation: sourceLocation)
    } catch RedisError.invalidURL(let message) {
        #expect(message.contains(expected), "\(message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(input): expected invalidURL, got \(error)", sourceLocation: sourceLocation)
    }
}
