import NIOCore
import NIOHTTP1

/// Serves one client connection of a `TestHTTPServer`: reads requests, answers each by its route.
enum TestHTTPServerConnection {
    typealias Channel = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    typealias Writer = NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>

    static func serve(_ channel: Channel, state: TestHTTPServerState) async {
        try? await channel.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body = []
                case .body(let bytes):
                    body += bytes.readableBytesView
                case .end:
                    guard let head else { continue }
                    let request = record(head, body)
                    try await respond(state.take(request), to: request, outbound)
                }
            }
        }
        state.locked { $0.closedConnections += 1 }
    }

    private static func record(_ head: HTTPRequestHead, _ body: [UInt8]) -> TestHTTPServer.Request {
        var headers: [String: String] = [:]
        for (name, value) in head.headers {
            let key = name.lowercased()
            headers[key] = headers[key].map { $0 + ", " + value } ?? value
        }
        return TestHTTPServer.Request(method: head.method.rawValue, uri: head.uri, headers: headers, body: body)
    }

    private static func respond(_ route: TestHTTPServer.Route, to request: TestHTTPServer.Request, _ out: Writer) async throws {
        switch route {
        case .text(let text, let status, let headers):
            try await whole(Array(text.utf8), status: status, headers: [("content-type", "text/plain")] + headers, out)
        case .json(let value, let status):
            try await whole(Array(value.jsonString.utf8), status: status, headers: [("content-type", "application/json")], out)
        case .echo:
            try await whole(Array(request.echo.jsonString.utf8), status: 200, headers: [("content-type", "application/json")], out)
        case .redirect(let location, let status):
            try await whole([], status: status, headers: [("location", location)], out)
        case .delayed(let delay, let route):
            try await Task.sleep(for: delay)
            try await respond(route, to: request, out)
        case .bytes(let count, let chunk, let announced):
            let headers = announced ? [("content-length", String(count))] : [("transfer-encoding", "chunked")]
            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: HTTPHeaders(headers))))
            var left = count
            while left > 0 {
                let size = min(chunk, left)
                try await out.write(.body(.byteBuffer(ByteBuffer(repeating: UInt8(ascii: "x"), count: size))))
                left -= size
            }
            try await out.write(.end(nil))
        case .endless(let piece, let interval):
            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .ok,
                                                       headers: ["content-type": "text/event-stream", "transfer-encoding": "chunked"])))
            var n = 0
            while true {
                n += 1
                try await out.write(.body(.byteBuffer(ByteBuffer(string: piece.replacing("{n}", with: String(n))))))
                try await Task.sleep(for: interval)
            }
        case .dynamic(let make):
            try await respond(make(request), to: request, out)
        }
    }

    private static func whole(_ body: [UInt8], status: Int, headers: [(String, String)], _ out: Writer) async throws {
        var all = HTTPHeaders(headers)
        all.replaceOrAdd(name: "content-length", value: String(body.count))
        try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: all)))
        if !body.isEmpty { try await out.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        try await out.write(.end(nil))
    }
}
