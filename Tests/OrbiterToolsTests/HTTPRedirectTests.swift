import OrbiterCore
import OrbiterTestSupport
import Testing
@testable import OrbiterTools

@Suite("HTTP redirects")
struct HTTPRedirectTests {
    /// `/hop/1` → `/hop/2` → … → `/hop/N` → `/end`.
    private func chain(_ hops: Int, on server: TestHTTPServer) {
        for n in 1...hops { server.route("/hop/\(n)", .redirect(to: n == hops ? "/end" : "/hop/\(n + 1)")) }
        server.route("/end", .text("end"))
    }

    @Test("a chain of maxRedirects redirects is followed; the response names the final URL")
    func followsUpToMax() async throws {
        try await withServer { server throws in
            chain(5, on: server)
            let response = try await allowing("127.0.0.1:\(server.port)").perform(get(server.url("/hop/1")))
            #expect(response.text == "end")
            #expect(response.url == server.url("/end"))
            #expect(server.requests.map(\.path) == ["/hop/1", "/hop/2", "/hop/3", "/hop/4", "/hop/5", "/end"])
        }
    }

    @Test("one redirect more than maxRedirects fails")
    func tooMany() async throws {
        try await withServer { server throws in
            chain(3, on: server)
            var request = get(server.url("/hop/1"))
            request.maxRedirects = 2
            let error = await #expect(throws: HTTPToolError.self) { try await ToolHTTPClient(.unrestricted).perform(request) }
            #expect(error?.description == "GET \(server.url("/hop/3")): too many redirects (more than 2)")
        }
    }

    @Test("303 turns a POST into a GET without body; 307 and 308 keep method and body", arguments: [
        (303, "POST", "GET", ""), (301, "POST", "GET", ""), (302, "POST", "GET", ""), (302, "PUT", "PUT", "payload"),
        (307, "POST", "POST", "payload"), (308, "PATCH", "PATCH", "payload"), (303, "DELETE", "GET", ""),
    ])
    func methods(status: Int, method: String, after: String, body: String) async throws {
        try await withServer(["/from": .redirect(to: "/echo", status: status), "/echo": .echo]) { server throws in
            let request = HTTPToolRequest(method: method, url: server.url("/from"),
                                          headers: [("Content-Type", "text/plain"), ("X-Keep", "1")], body: Array("payload".utf8))
            let response = try await ToolHTTPClient(.unrestricted).perform(request)
            let echo = try JSONValue.parse(response.text)
            #expect(echo["method"]?.stringValue == after)
            #expect(echo["body"]?.stringValue == body)
            #expect(echo["headers"]?["x-keep"]?.stringValue == "1")
            #expect((echo["headers"]?["content-type"] != nil) == !body.isEmpty)
        }
    }

    @Test("credentials do not follow a redirect to another origin; other headers do")
    func credentialsStayHome() async throws {
        try await withServer(["/echo": .echo]) { other throws in
            try await withServer(["/away": .redirect(to: other.url("/echo")), "/here": .redirect(to: "/echo"), "/echo": .echo]) { server throws in
                let headers: [(name: String, value: String)] = [
                    ("Authorization", "Bearer secret"), ("Proxy-Authorization", "Basic x"), ("Cookie", "session=1"), ("X-Trace", "t1"),
                ]
                let client = try allowing("127.0.0.1:\(server.port)", "127.0.0.1:\(other.port)")
                let away = try JSONValue.parse(try await client.perform(get(server.url("/away"), headers: headers)).text)
                #expect(away["headers"]?["authorization"] == nil)
                #expect(away["headers"]?["proxy-authorization"] == nil)
                #expect(away["headers"]?["cookie"] == nil)
                #expect(away["headers"]?["x-trace"]?.stringValue == "t1")
                let here = try JSONValue.parse(try await client.perform(get(server.url("/here"), headers: headers)).text)
                #expect(here["headers"]?["authorization"]?.stringValue == "Bearer secret")
                #expect(here["headers"]?["cookie"]?.stringValue == "session=1")
            }
        }
    }

    @Test("relative locations resolve against the current URL")
    func relative() async throws {
        try await withServer(["/a/b/start": .redirect(to: "../c/next?q=1"), "/a/c/next": .redirect(to: "final"),
                              "/a/c/final": .text("done")]) { server throws in
            let response = try await ToolHTTPClient(.unrestricted).perform(get(server.url("/a/b/start")))
            #expect(response.text == "done")
            #expect(response.url == server.url("/a/c/final"))
            #expect(server.requests.map(\.uri) == ["/a/b/start", "/a/c/next?q=1", "/a/c/final"])
        }
    }

    @Test("a redirect to another scheme is an error that names the hop")
    func otherScheme() async throws {
        try await withServer(["/ftp": .redirect(to: "ftp://files.example.com/x")]) { server throws in
            let error = await #expect(throws: HTTPToolError.self) { try await ToolHTTPClient(.unrestricted).perform(get(server.url("/ftp"))) }
            #expect(error?.description == "GET \(server.url("/ftp")): redirected to ftp://files.example.com/x: "
                    + "only http and https URLs can be requested, not ftp")
        }
    }

    @Test("statuses that are not followed come back as responses")
    func notFollowed() async throws {
        try await withServer(["/304": .redirect(to: "/elsewhere", status: 304), "/300": .redirect(to: "/elsewhere", status: 300)]) { server throws in
            #expect(try await ToolHTTPClient(.unrestricted).perform(get(server.url("/304"))).status == 304)
            #expect(try await ToolHTTPClient(.unrestricted).perform(get(server.url("/300"))).headers["location"] == "/elsewhere")
        }
    }
}
