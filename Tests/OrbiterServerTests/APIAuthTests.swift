import AsyncHTTPClient
import Foundation
import OrbiterCore
import OrbiterServer
import OrbiterTestSupport
import Testing

/// Bearer tokens, scopes, queue limits and CORS.
@Suite("HTTP API auth", .serialized)
struct APIAuthTests {
    @Test("401 without or with a wrong token, 403 for a scope too small, /healthz open")
    func tokensAndScopes() async throws {
        try await withServer { s in
            let none = try await s.call(.GET, "/v1/tasks", token: nil)
            #expect(none.status == 401 && none.code == "unauthorized", "\(none.text)")
            #expect(none.headers["WWW-Authenticate"].first?.hasPrefix("Bearer") == true)
            let wrong = try await s.call(.GET, "/v1/tasks", token: "not-a-token-of-this-server")
            #expect(wrong.status == 401)
            let basic = try await s.call(.GET, "/v1/tasks", token: nil, headers: [("Authorization", "Basic YWRtaW46YWRtaW4=")])
            #expect(basic.status == 401)
            let readSubmits = try await s.call(.POST, "/v1/tasks", token: ServerFixture.read, json: ["script": .string(try Scripts.calculator)])
            #expect(readSubmits.status == 403 && readSubmits.code == "forbidden", "\(readSubmits.text)")
            #expect(readSubmits.message.contains("viewer") && readSubmits.message.contains("submit"))
            let appPurges = try await s.call(.DELETE, "/v1/tasks?status=completed&older_than=7d", token: ServerFixture.submit)
            #expect(appPurges.status == 403)
            let metrics = try await s.call(.GET, "/metrics", token: nil)
            #expect(metrics.status == 401)
            let health = try await s.call(.GET, "/healthz", token: nil)
            #expect(health.status == 200)
        }
    }

    @Test("a token in the URL is refused, even a valid one")
    func tokenInQueryString() async throws {
        try await withServer { s in
            for name in ["token", "access_token"] {
                let reply = try await s.call(.GET, "/v1/tasks?\(name)=\(ServerFixture.admin)", token: nil)
                #expect(reply.status == 401 && reply.code == "token_in_url", "\(reply.text)")
                let withHeader = try await s.call(.GET, "/v1/tasks?\(name)=\(ServerFixture.admin)")
                #expect(withHeader.status == 401, "a token in the URL is refused even beside a header: \(withHeader.text)")
            }
        }
    }

    @Test("a reader limited to another queue gets 404 for a task it cannot see, 403 for the queue's lists")
    func queueLimitedToken() async throws {
        try await withServer { s in
            let id = try await s.submit(try Scripts.calculator, input: "1 + 1")
            let hidden = try await s.call(.GET, "/v1/tasks/\(id)", token: ServerFixture.elsewhere)
            #expect(hidden.status == 404 && hidden.code == "not_found", "\(hidden.text)")
            let hiddenEvents = try await s.call(.GET, "/v1/tasks/\(id)/events", token: ServerFixture.elsewhere)
            #expect(hiddenEvents.status == 404)
            let unknown = try await s.call(.GET, "/v1/tasks/\(String(repeating: "0", count: 32))", token: ServerFixture.elsewhere)
            #expect(unknown.message.replacingOccurrences(of: String(repeating: "0", count: 32), with: id) == hidden.message,
                    "a hidden task reads exactly like a missing one")
            let list = try await s.call(.GET, "/v1/tasks", token: ServerFixture.elsewhere)
            #expect(list.status == 403, "\(list.text)")
            let queues = try await s.call(.GET, "/v1/queues", token: ServerFixture.elsewhere)
            #expect(queues.json?.arrayValue?.contains { $0["queue"]?.stringValue == s.queue } == false, "\(queues.text)")
            let visible = try await s.call(.GET, "/v1/tasks/\(id)", token: ServerFixture.read)
            #expect(visible.status == 200)
        }
    }

    @Test("CORS headers only with --cors")
    func cors() async throws {
        try await withServer { s in
            let reply = try await s.call(.GET, "/healthz", token: nil, headers: [("Origin", "https://evil.example")])
            #expect(reply.headers["Access-Control-Allow-Origin"].isEmpty)
            let preflight = try await s.call(.OPTIONS, "/v1/tasks", token: nil, headers: [("Origin", "https://evil.example")])
            #expect(preflight.headers["Access-Control-Allow-Origin"].isEmpty)
        }
        try await withServer({ $0.corsOrigin = "https://app.example" }) { s in
            let preflight = try await s.call(.OPTIONS, "/v1/tasks", token: nil, headers: [("Origin", "https://app.example")])
            #expect(preflight.status == 204)
            #expect(preflight.headers["Access-Control-Allow-Origin"] == ["https://app.example"])
            #expect(preflight.headers["Access-Control-Allow-Headers"].first?.contains("Authorization") == true)
            let reply = try await s.call(.GET, "/v1/tasks", token: nil)
            #expect(reply.status == 401 && reply.headers["Access-Control-Allow-Origin"] == ["https://app.example"])
        }
    }

    @Test("tokens files: good lines parse, bad ones name FILE:LINE; digests only, constant-time match")
    func tokensFile() throws {
        let table = try TokenTable.parse(fileText: """
            # ops
            aaaaaaaaaaaaaaaaaaaa admin ops
            bbbbbbbbbbbbbbbbbbbb read dashboard queues=a,b

            """, path: "tokens")
        #expect(table.tokens.count == 2)
        #expect(table.match("aaaaaaaaaaaaaaaaaaaa")?.scope == .admin)
        #expect(table.match("bbbbbbbbbbbbbbbbbbbb")?.queues == ["a", "b"])
        #expect(table.match("bbbbbbbbbbbbbbbbbbbb")?.name == "dashboard")
        #expect(table.match("aaaaaaaaaaaaaaaaaaab") == nil)
        #expect(table.match("") == nil)
        let cases: [(String, String)] = [
            ("aaaaaaaaaaaaaaaaaaaa owner", "tokens:1: unknown scope 'owner'"),
            ("short admin", "tokens:1: a token must be at least 16 characters"),
            ("aaaaaaaaaaaaaaaaaaaa", "tokens:1: expected TOKEN SCOPE"),
            ("aaaaaaaaaaaaaaaaaaaa read\naaaaaaaaaaaaaaaaaaaa admin", "tokens:2: this token is listed twice"),
            ("aaaaaaaaaaaaaaaaaaaa read queues=", "tokens:1: queues= names no queue"),
            ("# nothing\n", "tokens: no tokens"),
        ]
        for (text, message) in cases {
            #expect(throws: TokenFileError.self) { try TokenTable.parse(fileText: text, path: "tokens") }
            do { _ = try TokenTable.parse(fileText: text, path: "tokens") } catch {
                #expect("\(error)".hasPrefix(message), "\(error)")
            }
        }
        var open = ServerConfiguration()
        open.host = "0.0.0.0"
        #expect(throws: TokenFileError.self) { try open.validate() }
    }
}
