import Foundation
import OrbiterCore
import OrbiterTestSupport
import Testing
@testable import OrbiterTools

@Suite("HTTP responses and error texts")
struct HTTPResponseAndErrorTests {
    @Test("an error status is a response, body included")
    func serverError() async throws {
        try await withServer(["/fail": .text(#"{"error":"boom"}"#, status: 500)]) { server throws in
            let response = try await ToolHTTPClient(.unrestricted).perform(get(server.url("/fail")))
            #expect(response.status == 500)
            #expect(response.text == #"{"error":"boom"}"#)
        }
    }

    @Test("method, headers and body go as the script wrote them; the method in upper case")
    func sends() async throws {
        try await withServer(["/echo": .echo]) { server throws in
            let request = HTTPToolRequest(method: "post", url: server.url("/echo?a=1"), headers: [("X-Custom", "v"), ("Accept", "application/json")],
                                          body: Array(#"{"n":1}"#.utf8))
            let echo = try JSONValue.parse(try await allowing("127.0.0.1:\(server.port)").perform(request).text)
            #expect(echo["method"]?.stringValue == "POST")
            #expect(echo["uri"]?.stringValue == "/echo?a=1")
            #expect(echo["headers"]?["x-custom"]?.stringValue == "v")
            #expect(echo["body"]?.stringValue == #"{"n":1}"#)
        }
    }

    @Test("repeated response headers are joined (set-cookie with newlines); names are lower case")
    func repeatedHeaders() async throws {
        try await withServer(["/h": .text("", headers: [("X-Multi", "a"), ("X-Multi", "b"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])]) { server throws in
            let response = try await ToolHTTPClient(.unrestricted).perform(get(server.url("/h")))
            #expect(response.headers["x-multi"] == "a, b")
            #expect(response.headers["set-cookie"] == "a=1\nb=2")
        }
    }

    @Test("connection refused names the URL without query, fragment or credentials")
    func refused() async throws {
        let port = try freePort()
        for client in [ToolHTTPClient(.unrestricted), try allowing("127.0.0.1:\(port)")] {
            let error = await #expect(throws: HTTPToolError.self) {
                try await client.perform(HTTPToolRequest(method: "POST", url: "http://user:pw@127.0.0.1:\(port)/v1/x?token=secret#frag",
                                                         timeout: .seconds(5)))
            }
            #expect(error?.description == "POST http://127.0.0.1:\(port)/v1/x: connection refused")
        }
    }

    @Test("https to a server that speaks plain HTTP fails the TLS handshake")
    func tls() async throws {
        try await withServer { server throws in
            let error = await #expect(throws: HTTPToolError.self) {
                try await ToolHTTPClient(.unrestricted).perform(get("https://127.0.0.1:\(server.port)/x?k=1"))
            }
            #expect(error?.description.hasPrefix("GET https://127.0.0.1:\(server.port)/x: TLS handshake failed: ") == true)
        }
    }

    @Test("only http and https", arguments: ["ftp://example.com/x", "file:///etc/passwd", "not a url", "http:///nohost"])
    func schemes(url: String) async throws {
        let error = await #expect(throws: HTTPToolError.self) { try await ToolHTTPClient(.unrestricted).perform(get(url)) }
        guard case .invalidRequest = error?.cause else {
            Issue.record("expected an invalid request, got \(String(describing: error))")
            return
        }
    }

    @Test("URLs shown in errors and responses lose query, fragment and credentials", arguments: [
        ("https://api.example.com/v1/x?key=abc", "https://api.example.com/v1/x"),
        ("https://u:p@api.example.com/v1#frag", "https://api.example.com/v1"),
        ("http://h/p?x=1#y", "http://h/p"),
        ("http://h", "http://h"),
        ("/relative/path?q", "/relative/path"),
    ])
    func shownURL(url: String, shown: String) {
        #expect(URLText.shown(url) == shown)
    }
}
