import AsyncHTTPClient
import OrbiterTestSupport
import Testing
@testable import OrbiterTools

@Suite("Pinned HTTP clients")
struct PinnedClientsTests {
    @Test("a pinned client reaches the checked address whatever DNS would say, and keeps the host name")
    func pinsTheAddress() async throws {
        try await withServer(["/echo": .echo]) { server throws in
            let clients = PinnedClients(capacity: 2)
            // `.invalid` never resolves: only the pin can get this request to the server.
            let key = PinnedClients.Key(host: "rebound.invalid", address: try #require(IPAddress("127.0.0.1")))
            let status = try await clients.withClient(for: key) { client in
                let response = try await client.execute(HTTPClientRequest(url: "http://rebound.invalid:\(server.port)/echo"), timeout: .seconds(5))
                _ = try await response.body.collect(upTo: 1 << 20)
                return response.status.code
            }
            #expect(status == 200)
            #expect(server.requests.first?.header("host") == "rebound.invalid:\(server.port)")
        }
    }

    @Test("unused clients beyond the capacity are shut down, least recently used first; clients in use stay")
    func evicts() async throws {
        let clients = PinnedClients(capacity: 2)
        let address = try #require(IPAddress("127.0.0.1"))
        for host in ["a.invalid", "b.invalid", "c.invalid"] {
            try await clients.withClient(for: .init(host: host, address: address)) { _ in }
        }
        #expect(clients.count == 2)
        try await clients.withClient(for: .init(host: "d.invalid", address: address)) { _ in
            try await clients.withClient(for: .init(host: "e.invalid", address: address)) { _ in
                try await clients.withClient(for: .init(host: "f.invalid", address: address)) { _ in
                    #expect(clients.count == 3)
                }
            }
        }
        #expect(clients.count == 2)
    }
}
