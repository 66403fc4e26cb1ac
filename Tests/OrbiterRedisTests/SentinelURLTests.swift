import Foundation
import Testing
@testable import OrbiterRedis

@Suite("Redis Sentinel URLs")
struct SentinelURLTests {
    @Test("the full form: sentinels, master name, credentials for both")
    func fullForm() throws {
        let u = try RedisURL("redis-sentinel://alice:s3cret@10.0.0.1:26380,sentinel-b,[::1]:5000/mymaster?db=3&sentinel_password=sp%40ss&sentinel_username=watch")
        let target = try #require(u.sentinel)
        #expect(target.sentinels == [.init(host: "10.0.0.1", port: 26380), .init(host: "sentinel-b", port: 26379),
                                     .init(host: "::1", port: 5000)])
        #expect(target.masterName == "mymaster")
        #expect(target.password == "sp@ss" && target.username == "watch")
        #expect(u.username == "alice" && u.password == "s3cret" && u.database == 3)
        #expect(u.description == "redis-sentinel://alice:***@10.0.0.1:26380,sentinel-b:26379,[::1]:5000/mymaster?db=3&sentinel_username=watch&sentinel_password=***")
    }

    @Test("without credentials the sentinels get no AUTH")
    func withoutCredentials() throws {
        let u = try RedisURL("redis-sentinel://127.0.0.1:26379/m")
        #expect(u.sentinel?.password == nil && u.sentinel?.username == nil && u.password == nil)
        #expect(u.description == "redis-sentinel://127.0.0.1:26379/m")
    }

    @Test("bad Sentinel URLs name the problem", arguments: [
        ("redis-sentinel://h1:26379,h2:26379", "missing master name"),
        ("redis-sentinel://h1:26379/", "missing master name after '/'"),
        ("redis-sentinel:///mymaster", "no sentinel hosts"),
        ("redis-sentinel://h1:26379,,h2/mymaster", "empty sentinel host"),
        ("redis-sentinel://h1:26379,/mymaster", "empty sentinel host"),
        ("redis-sentinel://h1:99999/mymaster", "sentinel 'h1:99999': port '99999'"),
        ("redis-sentinel://h1:abc/mymaster", "port 'abc'"),
        ("redis-sentinel://:26379/mymaster", "sentinel ':26379': missing host"),
        ("redis-sentinel://::1:26379/mymaster", "must be written in brackets"),
        ("redis-sentinel://h1/my/master", "must be one word"),
        ("redis-sentinel://h1/mymaster?db=x", "database 'x'"),
        ("redis-sentinel://h1/mymaster?timeout=3", "unknown query parameter 'timeout'"),
        ("redis-sentinel://h1/mymaster?sentinel_password", "has no '=value'"),
        ("redis://h1?sentinel_password=x", "unknown query parameter 'sentinel_password'"),
    ])
    func badURLsNameTheProblem(input: String, expected: String) {
        expectInvalidURL(input, naming: expected)
    }

    @Test("errors never show either password")
    func errorsNeverShowEitherPassword() throws {
        do {
            _ = try RedisURL("redis-sentinel://:topsecret@h1:0/m?sentinel_password=alsosecret&db=2")
            Issue.record("port 0 should not parse")
        } catch {
            #expect(!"\(error)".contains("topsecret") && !"\(error)".contains("alsosecret"), "\(error)")
            #expect("\(error)".contains("sentinel_password=***"), "\(error)")
        }
    }
}
