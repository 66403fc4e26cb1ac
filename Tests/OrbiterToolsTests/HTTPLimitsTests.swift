import OrbiterCore
import OrbiterTestSupport
import Testing
@testable import OrbiterTools

@Suite("HTTP limits: size, time, cancellation, early stop")
struct HTTPLimitsTests {
    @Test("a streamed body larger than maxBytes fails with the cap; one that fits comes whole")
    func maxBytesStreamed() async throws {
        try await withServer(["/huge": .bytes(count: 3 << 20), "/fits": .bytes(count: 1 << 20)]) { server throws in
            var request = get(server.url("/huge?token=abc"))
            request.maxBytes = 1 << 20
            let error = await #expect(throws: HTTPToolError.self) { try await ToolHTTPClient(.unrestricted).perform(request) }
            #expect(error?.description == "GET \(server.url("/huge")): response body is larger than 1 MiB (max_bytes)")
            request.url = server.url("/fits")
            #expect(try await ToolHTTPClient(.unrestricted).perform(request).body.count == 1 << 20)
        }
    }

    @Test("an announced length over the cap fails before the body is read")
    func maxBytesAnnounced() async throws {
        try await withServer(["/huge": .bytes(count: 2 << 20, announced: true)]) { server throws in
            var request = get(server.url("/huge"))
            request.maxBytes = 1000
            let error = await #expect(throws: HTTPToolError.self) {
                try await allowing("127.0.0.1:\(server.port)").perform(request)
            }
            #expect(error?.cause == .bodyTooLarge(1000))
            #expect(error?.description.hasSuffix("response body is larger than 1000 bytes (max_bytes)") == true)
        }
    }

    @Test("the timeout covers the whole exchange and names the hop that was under way")
    func timeout() async throws {
        try await withServer(["/slow": .delayed(.seconds(10), .text("late")), "/go": .redirect(to: "/slow")]) { server throws in
            let start = ContinuousClock.now
            let error = await #expect(throws: HTTPToolError.self) {
                try await allowing("127.0.0.1:\(server.port)").perform(get(server.url("/go?k=v"), timeout: .milliseconds(1500)))
            }
            #expect(error?.description == "GET \(server.url("/slow")): timed out after 1.5 s")
            #expect(seconds(since: start) < 3)
        }
    }

    @Test("the timeout also bounds a body that keeps coming")
    func timeoutDuringBody() async throws {
        try await withServer(["/stream": .endless(piece: "data: {n}\n\n", every: .milliseconds(20))]) { server throws in
            let error = await #expect(throws: HTTPToolError.self) {
                try await ToolHTTPClient(.unrestricted).perform(get(server.url("/stream"), timeout: .milliseconds(300)))
            }
            #expect(error?.cause == .timedOut(.milliseconds(300)))
            #expect(await server.waitForClosedConnections(1))
        }
    }

    @Test("cancelling the calling task stops the request promptly", arguments: ["/slow", "/stream"])
    func cancellation(path: String) async throws {
        try await withServer(["/slow": .delayed(.seconds(10), .text("late")),
                              "/stream": .endless(piece: "data: {n}\n\n", every: .milliseconds(20))]) { server throws in
            let client = try allowing("127.0.0.1:\(server.port)")
            let request = get(server.url(path), timeout: .seconds(20))
            let task = Task { try await client.perform(request) }
            #expect(await server.waitForRequests(1))
            let start = ContinuousClock.now
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(seconds(since: start) < 2)
            if path == "/stream" {
                // The server writes on, so it sees the connection go (a sleeping one would not).
                #expect(await server.waitForClosedConnections(1))
            }
        }
    }

    @Test("isComplete ends the read of a stream that never ends, with what arrived")
    func earlyStop() async throws {
        try await withServer(["/stream": .endless(piece: "data: {n}\n\n", every: .milliseconds(10))]) { server throws in
            let start = ContinuousClock.now
            let response = try await ToolHTTPClient(.unrestricted).perform(get(server.url("/stream"))) { body in
                String(decoding: body, as: UTF8.self).contains("data: 3\n\n")
            }
            #expect(response.status == 200)
            #expect(response.text.hasPrefix("data: 1\n\ndata: 2\n\ndata: 3\n\n"))
            #expect(seconds(since: start) < 2)
            #expect(await server.waitForClosedConnections(1))
        }
    }
}
