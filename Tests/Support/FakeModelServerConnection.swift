import NIOCore
import NIOHTTP1

/// Serves one client connection: reads requests, answers each with the next scripted turn.
enum FakeModelServerConnection {
    typealias Channel = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    static func serve(_ channel: Channel, state: FakeModelServerState) async {
        try? await channel.executeThenClose { inbound, outbound in
            var parts = inbound.makeAsyncIterator()
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            while let part = try await parts.next() {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                case .body(var bytes):
                    body.writeBuffer(&bytes)
                case .end:
                    guard let head else { continue }
                    let turn = state.take(record(head, body))
                    guard try await respond(turn, outbound) else {
                        switch turn {
                        case .stall, .silent:
                            // Hold the connection open, silent, until the client hangs up or the server stops.
                            while try await parts.next() != nil {}
                        default: break
                        }
                        return
                    }
                }
            }
        }
        state.locked { $0.closedConnections += 1 }
    }

    private static func record(_ head: HTTPRequestHead, _ body: ByteBuffer) -> FakeModelServer.RecordedRequest {
        var headers: [String: String] = [:]
        for (name, value) in head.headers {
            let key = name.lowercased()
            headers[key] = headers[key].map { $0 + ", " + value } ?? value
        }
        return FakeModelServer.RecordedRequest(method: head.method.rawValue, path: head.uri, headers: headers,
                                               body: String(buffer: body))
    }

    /// Writes the turn; returns whether the connection may serve another request.
    private static func respond(_ turn: FakeModelServer.Turn, _ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
        switch turn {
        case .stream(let chunks, let status, let headers):
            try await writeHead(out, status: status, headers: headers)
            try await write(chunks, out)
            try await out.write(.end(nil))
            return true
        case .error(let status, let body, let headers):
            var all = ["content-type": "application/json", "content-length": String(body.utf8.count)]
            all.merge(headers) { _, new in new }
            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status),
                                                       headers: HTTPHeaders(all.map { ($0.key, $0.value) }))))
            try await out.write(.body(.byteBuffer(ByteBuffer(string: body))))
            try await out.write(.end(nil))
            return true
        case .silent:
            return false
        case .cut(let chunks), .stall(let chunks):
            try await writeHead(out, status: 200, headers: [:])
            try await write(chunks, out)
            return false
        }
    }

    private static func writeHead(_ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, status: Int,
                                  headers: [String: String]) async throws {
        var all = ["content-type": "text/event-stream", "cache-control": "no-cache"]
        all.merge(headers) { _, new in new }
        try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status),
                                                   headers: HTTPHeaders(all.map { ($0.key, $0.value) }))))
    }

    /// One write per chunk: the async writer flushes each, so the client sees them one by one.
    private static func write(_ chunks: [FakeModelServer.Chunk], _ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        for chunk in chunks {
            if chunk.delay > .zero { try await Task.sleep(for: chunk.delay) }
            try await out.write(.body(.byteBuffer(ByteBuffer(string: chunk.text))))
        }
    }
}
