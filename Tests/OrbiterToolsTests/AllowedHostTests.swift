import OrbiterCore
import Testing
@testable import OrbiterTools

@Suite("--allow-host entries")
struct AllowedHostTests {
    @Test("each spelling parses to its pattern and port", arguments: [
        ("api.example.com", "api.example.com", nil),
        ("API.Example.com.", "api.example.com", nil),
        ("api.example.com:8443", "api.example.com:8443", 8443),
        ("*.example.com", "*.example.com", nil),
        ("*.example.com:443", "*.example.com:443", 443),
        ("*", "*", nil),
        ("*:443", "*:443", 443),
        ("127.0.0.1:8080", "127.0.0.1:8080", 8080),
        ("169.254.169.254", "169.254.169.254", nil),
        ("[::1]:9000", "[::1]:9000", 9000),
        ("[fd00:ec2::254]", "[fd00:ec2::254]", nil),
        ("fd00:ec2::254", "[fd00:ec2::254]", nil),
        ("localhost:9000", "localhost:9000", 9000),
    ] as [(String, String, Int?)])
    func parses(value: String, shown: String, port: Int?) throws {
        let entry = try AllowedHost(parsing: value)
        #expect(entry.description == shown)
        #expect(entry.port == port)
    }

    @Test("a bad value is named with what is wrong", arguments: [
        ("a b", "--allow-host 'a b': 'a b' is not a host name"),
        ("", "--allow-host '': no host given"),
        ("api.example.com:0", "--allow-host 'api.example.com:0': the port must be a number from 1 to 65535"),
        ("api.example.com:http", "--allow-host 'api.example.com:http': the port must be a number from 1 to 65535"),
        ("a.*.example.com", "--allow-host 'a.*.example.com': a wildcard may only stand alone (*) or start the entry (*.example.com)"),
        ("https://api.example.com", "--allow-host 'https://api.example.com': give a host (and port), not a URL, e.g. api.example.com or api.example.com:443"),
        ("[::1", "--allow-host '[::1': an IPv6 address needs its closing ]"),
        ("[nope]:80", "--allow-host '[nope]:80': '[nope]' is not an IPv6 address"),
        ("*.", "--allow-host '*.': '' is not a host name"),
    ])
    func refuses(value: String, message: String) {
        let error = #expect(throws: OrbiterError.self) { try AllowedHost(parsing: value) }
        #expect(error?.description == message)
    }

    @Test("matching: exact names, subdomains below a wildcard, ports")
    func matching() throws {
        let policy = try HTTPPolicy.allowList(parsing: ["api.example.com", "*.github.com:443", "localhost:9000"])
        #expect(try policy.admit(host: "API.example.com.", port: 8080) == .anyAddress)
        #expect(try policy.admit(host: "raw.github.com", port: 443) == .publicAddressesOnly)
        #expect(try policy.admit(host: "a.b.github.com", port: 443) == .publicAddressesOnly)
        #expect(try policy.admit(host: "localhost", port: 9000) == .anyAddress)
        #expect(throws: HTTPToolError.Cause.refusedByPolicy(
            "github.com is not in --allow-host (allowed: api.example.com, *.github.com:443, localhost:9000)")) {
            try policy.admit(host: "github.com", port: 443)
        }
        #expect(throws: HTTPToolError.Cause.refusedByPolicy(
            "raw.github.com:80 is not in --allow-host (allowed: api.example.com, *.github.com:443, localhost:9000)")) {
            try policy.admit(host: "raw.github.com", port: 80)
        }
        #expect(throws: HTTPToolError.Cause.refusedByPolicy(
            "localhost:9001 is not in --allow-host (allowed: api.example.com, *.github.com:443, localhost:9000)")) {
            try policy.admit(host: "localhost", port: 9001)
        }
    }

    @Test("an exact entry wins over a wildcard that also matches")
    func exactWins() throws {
        let policy = try HTTPPolicy.allowList(parsing: ["*", "localhost:9000"])
        #expect(try policy.admit(host: "localhost", port: 9000) == .anyAddress)
        #expect(try policy.admit(host: "localhost", port: 9001) == .publicAddressesOnly)
    }

    @Test("a wildcard-admitted name is refused when any one of its addresses is special; an exact entry reaches them all")
    func everyAddress() throws {
        let addresses = try ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "10.0.0.7"].map { try #require(IPAddress($0)) }
        #expect(throws: HTTPToolError.Cause.refusedByPolicy(
            "mixed.example.com resolves to 10.0.0.7, a private address; allow it with --allow-host mixed.example.com")) {
            try HTTPPolicy.check(addresses, of: "Mixed.Example.com.", reach: .publicAddressesOnly)
        }
        try HTTPPolicy.check(Array(addresses.prefix(2)), of: "mixed.example.com", reach: .publicAddressesOnly)
        try HTTPPolicy.check(addresses, of: "mixed.example.com", reach: .anyAddress)
    }

    @Test("no entries: nothing is allowed, and the error says none were given")
    func empty() throws {
        #expect(throws: HTTPToolError.Cause.refusedByPolicy("example.com is not in --allow-host (none given)")) {
            try HTTPPolicy.allowList(parsing: []).admit(host: "example.com", port: 443)
        }
    }
}
