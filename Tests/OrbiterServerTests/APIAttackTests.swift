import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrbiterCore
import OrbiterTestSupport
import Testing

/// Hostile and broken requests: each gets its documented status and a message naming what is
/// wrong; nothing is stored, nothing crashes or hangs.
@Suite("HTTP API bad input", .serialized)
struct APIAttackTests {
    @Test("a body over the limit is a 413, with or without Content-Length")
    func hugeBody() async throws {
        try await withServer({ $0.bodyLimit = 64 * 1024 }) { s in
            let huge = "{\"script\": \"" + String(repeating: "x", count: 200 * 1024) + "\"}"
            let sized = try await s.call(.POST, "/v1/tasks", body: huge)
            #expect(sized.status == 413 && sized.code == "body_too_large", "\(sized.text.prefix(300))")
            // Chunked: no length up front, refused while reading.
            var request = HTTPClientRequest(url: s.baseURL + "/v1/tasks")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(ServerFixture.admin)")
            let chunks = (0..<50).map { _ in ByteBuffer(string: String(repeating: "y", count: 4096)) }
            let stream = AsyncStream<ByteBuffer> { sink in
                for chunk in chunks { sink.yield(chunk) }
                sink.finish()
            }
            request.body = .stream(stream, length: .unknown)
            let response = try await s.http.execute(request, timeout: .seconds(30))
            #expect(response.status.code == 413)
            let health = try await s.call(.GET, "/healthz", token: nil)
            #expect(health.status == 200, "the server still answers")
        }
    }

    @Test("bad JSON, wrong types, unknown fields and bad priorities are 400s naming the field")
    func badFields() async throws {
        try await withServer { s in
            let calculator = try Scripts.calculator
            let cases: [(String, String)] = [
                ("{\"script\": ", "not valid JSON"),
                ("[1, 2]", "must be a JSON object"),
                ("", "empty"),
                ("{}", "give 'script'"),
                (#"{"script": 42}"#, "'script' must be a string"),
                (JSONValue.object(["script": .string(calculator), "priority": "high"]).jsonString, "'priority' must be an integer"),
                (JSONValue.object(["script": .string(calculator), "priority": 10]).jsonString, "priority"),
                (JSONValue.object(["script": .string(calculator), "priority": -1]).jsonString, "priority"),
                (JSONValue.object(["script": .string(calculator), "priority": 2.5]).jsonString, "'priority' must be an integer"),
                (JSONValue.object(["script": .string(calculator), "timeout": "soon"]).jsonString, "'timeout' must be a number"),
                (JSONValue.object(["script": .string(calculator), "timeout": -5]).jsonString, "'timeout' must be a positive"),
                (JSONValue.object(["script": .string(calculator), "modules": ["lib.x": 1]]).jsonString, "'modules.lib.x' must be a string"),
                (JSONValue.object(["script": .string(calculator), "metadata": ["a": ["b": 1]]]).jsonString, "'metadata.a' must be a string"),
                (JSONValue.object(["script": .string(calculator), "messages": [["role": "wizard"]]]).jsonString, "'messages[0]'"),
                (JSONValue.object(["script": .string(calculator), "prority": 5]).jsonString, "unknown field 'prority'"),
                (JSONValue.object(["script": .string(calculator), "queue": "no spaces"]).jsonString, "invalid queue name"),
                (JSONValue.object(["script": .string(calculator), "idempotency_key": "  "]).jsonString, "'idempotency_key' is empty"),
                (JSONValue.object(["script": .string(calculator), "bundle": "abc"]).jsonString, "not both"),
                (JSONValue.object(["bundle": "../../etc/passwd"]).jsonString, "'bundle' must be a sha256"),
                (JSONValue.object(["script": .string(calculator), "delay": 1e12]).jsonString, "'delay'"),
            ]
            for (body, message) in cases {
                let reply = try await s.call(.POST, "/v1/tasks", body: body)
                #expect(reply.status == 400, "\(body.prefix(80)): \(reply.text)")
                #expect(reply.message.contains(message), "\(body.prefix(80)): \(reply.text)")
            }
            let tasks = try await s.call(.GET, "/v1/tasks")
            #expect(tasks.json?["tasks"]?.arrayValue?.isEmpty == true, "nothing was stored: \(tasks.text)")
        }
    }

    @Test("module names and entries cannot reach outside the bundle")
    func pathTraversal() async throws {
        try await withServer { s in
            for name in ["../etc/passwd", "a/b", "/etc/passwd", ".hidden", "lib..x", "lib.", "1abc", "orbiter", "a b", "..", "lib\\x"] {
                let reply = try await s.call(.POST, "/v1/tasks", json: ["script": .string(Scripts.greeter), "modules": .object([name: "return {}"])])
                #expect(reply.status == 400 && reply.code == "invalid_module_name", "\(name): \(reply.text)")
            }
            for entry in ["../x.lua", "/tmp/x.lua", "x.txt", "a/b.lua", ".lua"] {
                let reply = try await s.call(.POST, "/v1/tasks", json: ["script": .string(try Scripts.calculator), "entry": .string(entry)])
                #expect(reply.status == 400 && reply.message.contains("'entry'"), "\(entry): \(reply.text)")
            }
        }
    }

    @Test("unknown ids are 404s, malformed ids 400s, on every task endpoint")
    func unknownAndMalformedIDs() async throws {
        try await withServer { s in
            let unknown = String(repeating: "ab", count: 16)
            let endpoints: [(HTTPMethod, String)] = [(.GET, ""), (.GET, "/result"), (.GET, "/events"), (.POST, "/cancel"),
                                                     (.POST, "/retry"), (.POST, "/approve"), (.POST, "/reject")]
            for (method, suffix) in endpoints {
                let reply = try await s.call(method, "/v1/tasks/\(unknown)\(suffix)")
                #expect(reply.status == 404 && reply.code == "not_found", "\(method) \(suffix): \(reply.text)")
                for bad in ["nope", String(repeating: "AB", count: 16), "%2e%2e%2fetc", String(repeating: "a", count: 33)] {
                    let malformed = try await s.call(method, "/v1/tasks/\(bad)\(suffix)")
                    #expect(malformed.status == 400 && malformed.code == "invalid_task_id", "\(method) \(bad)\(suffix): \(malformed.text)")
                }
            }
            let reply = try await s.call(.POST, "/v1/tasks/\(unknown)/reply", json: ["text": "hi"])
            #expect(reply.status == 404)
            let endpoint = try await s.call(.GET, "/v1/nothing")
            #expect(endpoint.status == 404 && endpoint.json?["error"] != nil, "\(endpoint.text)")
            let method = try await s.call(.PUT, "/v1/tasks")
            #expect(method.status == 404, "\(method.text)")
        }
    }

    @Test("bad query parameters are 400s naming them")
    func badParameters() async throws {
        try await withServer { s in
            let id = try await s.submit(try Scripts.calculator, input: "1 + 1")
            let cases: [(String, String)] = [
                ("/v1/tasks/\(id)/result?wait=-1", "'wait'"), ("/v1/tasks/\(id)/result?wait=1e9", "'wait'"),
                ("/v1/tasks/\(id)/result?wait=soon", "'wait'"), ("/v1/tasks?limit=0", "'limit'"), ("/v1/tasks?limit=x", "'limit'"),
                ("/v1/tasks?status=sleeping", "unknown status"), ("/v1/tasks?cursor=zz", "'cursor'"),
                ("/v1/tasks/\(id)/events?after=abc", "Last-Event-ID"),
                ("/v1/tasks/\(id)/events?after=08134615603339323097270327456257998-898", "Last-Event-ID"), ("/v1/tasks?queue=a%20b", "invalid queue name"),
                ("/v1/dead?limit=100000", "'limit'"),
            ]
            for (path, message) in cases {
                let reply = try await s.call(.GET, path)
                #expect(reply.status == 400 && reply.message.contains(message), "\(path): \(reply.text)")
            }
            let header = try await s.call(.GET, "/v1/tasks/\(id)/events", headers: [("Last-Event-ID", "1-2-3")])
            #expect(header.status == 400)
            let purge = try await s.call(.DELETE, "/v1/tasks?status=running&older_than=1d")
            #expect(purge.status == 400 && purge.message.contains("'status'"))
            let age = try await s.call(.DELETE, "/v1/tasks?status=completed&older_than=-1d")
            #expect(age.status == 400 && age.message.contains("'older_than'"))
            // Found by schemathesis: an age too large for milliseconds in an Int64 crashed the purge.
            let huge = try await s.call(.DELETE, "/v1/tasks?status=completed&older_than=99999999999999999999d")
            #expect(huge.status == 200 && huge.json?["purged"]?.intValue == 0, "\(huge.text)")
            let infinite = try await s.call(.DELETE, "/v1/tasks?status=completed&older_than=1e400")
            #expect(infinite.status == 400, "\(infinite.text)")
        }
    }

    @Test("Redis gone: 503s that say so, /healthz says unavailable, and the server recovers")
    func redisGone() async throws {
        let redis = try PrivateRedis(persistent: false)
        defer { redis.stop() }
        try await withServer({ $0.redisURL = redis.url }) { s in
            let id = try await s.submit(try Scripts.calculator, input: "1 + 1")
            redis.stop()
            let start = ContinuousClock.now
            let health = try await s.call(.GET, "/healthz", token: nil)
            #expect(health.status == 503 && health.json?["status"]?.stringValue == "unavailable", "\(health.text)")
            let status = try await s.call(.GET, "/v1/tasks/\(id)")
            #expect(status.status == 503 && status.code == "redis_unavailable", "\(status.text)")
            let submit = try await s.call(.POST, "/v1/tasks", json: ["script": .string(try Scripts.calculator)])
            #expect(submit.status == 503, "\(submit.text)")
            #expect(ContinuousClock.now - start < .seconds(30), "no request hangs while Redis is away")
            try redis.start()
            let deadline = ContinuousClock.now + .seconds(20)
            var back = try await s.call(.GET, "/healthz", token: nil)
            while back.status != 200 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                back = try await s.call(.GET, "/healthz", token: nil)
            }
            #expect(back.status == 200, "\(back.text)")
        }
    }
}
