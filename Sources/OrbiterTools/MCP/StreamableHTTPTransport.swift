import Logging
import OrbiterCore
import Synchronization

/// Messages to a streamable HTTP MCP server (protocol revision 2025-06-18): every message is a
/// POST; the server answers a request with `application/json` or a `text/event-stream` that may
/// carry its notifications and requests before the answer, and a notification or answer with
/// 202 Accepted. The session id from `initialize` (`Mcp-Session-Id`) and the negotiated
/// `MCP-Protocol-Version` go with every later message.
///
/// The optional GET stream, on which a server may send messages outside any request, is not
/// opened: what a server sends only there (e.g. `tools/list_changed` outside a call) is not seen,
/// and its tool list is read again only after re-initialisation. Servers must not rely on it.
final class StreamableHTTPChannel: MCPChannel {
    let server: String
    let url: String
    let headers: [String: String]
    private let http: any HTTPAccess
    private let logger: Logger
    private let session = Mutex<(id: String?, protocolVersion: String?)>((nil, nil))
    private let background: AsyncStream<JSONRPCMessage>
    private let backgroundQueue: AsyncStream<JSONRPCMessage>.Continuation
    /// The largest answer accepted.
    static let maxAnswerBytes = 16 << 20

    init(server: String, url: String, headers: [String: String], http: any HTTPAccess, logger: Logger) {
        self.server = server
        self.url = url
        self.headers = headers
        self.http = http
        self.logger = logger
        (background, backgroundQueue) = AsyncStream.makeStream()
    }

    /// The negotiated version, sent as `MCP-Protocol-Version` from now on.
    func established(protocolVersion: String) {
        session.withLock { $0.protocolVersion = protocolVersion }
    }

    /// Forgets the session (after the server dropped it), so the next `initialize` starts a new one.
    func resetSession() {
        session.withLock { $0 = (nil, nil) }
    }

    /// The current session id, if the server gave one.
    var sessionID: String? { session.withLock { $0.id } }

    func send(_ message: JSONRPCMessage, timeout: Duration) async throws -> [JSONRPCMessage] {
        let (sessionID, version) = session.withLock { ($0.id, $0.protocolVersion) }
        var requestHeaders = ownHeaders
        requestHeaders.append(("Content-Type", "application/json"))
        requestHeaders.append(("Accept", "application/json, text/event-stream"))
        if let sessionID { requestHeaders.append(("Mcp-Session-Id", sessionID)) }
        if let version { requestHeaders.append(("MCP-Protocol-Version", version)) }
        // The peer's own timeout comes first and names the call; this one only bounds the exchange.
        let request = HTTPToolRequest(method: "POST", url: url, headers: requestHeaders, body: Array(message.text.utf8),
                                      timeout: timeout + .seconds(5), maxBytes: Self.maxAnswerBytes, maxRedirects: 3)
        let awaited: JSONValue? = if case .request(let id, _, _) = message { id } else { nil }
        let response = try await http.perform(request, isComplete: awaited.map { AnswerWatch(id: $0).isComplete })
        if let newID = response.headers["mcp-session-id"], !newID.isEmpty {
            session.withLock { $0.id = newID }
        }
        let what = Self.describe(message)
        switch response.status {
        case 202 where awaited == nil:
            return []
        case 200..<300:
            break
        case 404 where sessionID != nil:
            throw MCPError("MCP server '\(server)' no longer knows session \(sessionID!) (HTTP 404)", kind: .sessionExpired(sessionID!))
        default:
            throw MCPError("MCP server '\(server)': \(what) got HTTP \(response.status) from \(Self.withoutQuery(url))"
                           + Self.summary(of: response.body).map { ": \($0)" }.orEmpty)
        }
        let messages = try parse(response)
        if let awaited, !messages.contains(where: { $0.id == awaited && $0.isAnswer }) {
            throw MCPError("MCP server '\(server)': the answer to \(what) ended without a result (HTTP \(response.status), "
                           + "\(response.headers["content-type"] ?? "no content type"))")
        }
        return messages
    }

    func post(_ message: JSONRPCMessage) {
        backgroundQueue.yield(message)
    }

    /// Sends what `post` queued, in order, handing what comes back to `deliver`, until `close`.
    func runBackground(deliver: @Sendable ([JSONRPCMessage]) -> Void) async {
        for await message in background {
            do {
                deliver(try await send(message, timeout: .seconds(30)))
            } catch {
                logger.debug("MCP server '\(server)': could not send \(Self.describe(message)): \(error)")
            }
        }
    }

    /// Stops the background sender and ends the session on the server (DELETE; a server that
    /// does not allow it answers 405, which is fine).
    func close() async {
        backgroundQueue.finish()
        guard let sessionID else { return }
        _ = try? await http.perform(HTTPToolRequest(method: "DELETE", url: url, headers: ownHeaders + [("Mcp-Session-Id", sessionID)],
                                                    timeout: .seconds(2), maxBytes: 1 << 16, maxRedirects: 3))
        resetSession()
    }

    /// The server's configured headers (e.g. authorization), less those the protocol sets itself.
    private var ownHeaders: [(name: String, value: String)] {
        let protocolHeaders: Set<String> = ["content-type", "accept", "mcp-session-id", "mcp-protocol-version", "content-length"]
        return headers.sorted { $0.key < $1.key }.filter { !protocolHeaders.contains($0.key.lowercased()) }.map { ($0.key, $0.value) }
    }

    private func parse(_ response: HTTPToolResponse) throws -> [JSONRPCMessage] {
        let type = response.headers["content-type"]?.lowercased() ?? ""
        if type.hasPrefix("text/event-stream") {
            var parser = SSEParser()
            var events = parser.feed(response.body)
            if let last = parser.finish() { events.append(last) }
            return events.flatMap { event -> [JSONRPCMessage] in
                guard !event.data.allSatisfy(\.isWhitespace) else { return [] }  // priming events carry no message
                do { return try JSONRPCMessage.messages(inText: event.data) } catch {
                    logger.warning("MCP server '\(server)' sent an event that is not JSON-RPC: \(event.data.prefix(200))")
                    return []
                }
            }
        }
        guard response.body.contains(where: { !isBlank($0) }) else { return [] }
        do {
            return try JSONRPCMessage.messages(in: JSONValue.parse(bytes: response.body))
        } catch {
            throw MCPError("MCP server '\(server)' answered with something that is not JSON-RPC (\(type.isEmpty ? "no content type" : type)): "
                           + (Self.summary(of: response.body) ?? "empty"))
        }
    }

    static func describe(_ message: JSONRPCMessage) -> String {
        switch message {
        case .request(_, let method, let params), .notification(let method, let params):
            if let tool = params?["name"]?.stringValue, method == "tools/call" { return "tools/call '\(tool)'" }
            return method
        case .result, .error:
            return "an answer to the server"
        }
    }

    /// The start of a body for an error message: a JSON-RPC error's message, or the text on one line.
    static func summary(of body: [UInt8]) -> String? {
        if let value = try? JSONValue.parse(bytes: body),
           let message = value["error"]?["message"]?.stringValue ?? value["error"]?.stringValue ?? value["message"]?.stringValue {
            return String(message.prefix(200))
        }
        let text = String(decoding: body.prefix(400), as: UTF8.self).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return text.isEmpty ? nil : String(text.prefix(200))
    }

    static func withoutQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" && $0 != "#" })
    }
}

/// Tells `HTTPAccess` when an event stream holds the answer to request `id`, so the rest of a
/// stream the server keeps open is not awaited. Sees the body so far each time, parses only what is new.
private final class AnswerWatch: Sendable {
    private let id: JSONValue
    private let state = Mutex<(parser: SSEParser, seen: Int, isJSON: Bool?)>((SSEParser(), 0, nil))

    init(id: JSONValue) { self.id = id }

    func isComplete(_ body: [UInt8]) -> Bool {
        state.withLock { state in
            if state.isJSON == nil {
                guard let first = body.first(where: { !isBlank($0) }) else { return false }
                state.isJSON = first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
            }
            guard state.isJSON == false, body.count > state.seen else { return false }  // a JSON body ends by itself
            let events = state.parser.feed(body[state.seen...])
            state.seen = body.count
            return events.contains { event in
                guard let messages = try? JSONRPCMessage.messages(inText: event.data) else { return false }
                return messages.contains { $0.id == id && $0.isAnswer }
            }
        }
    }
}

extension JSONRPCMessage {
    /// A result or an error: what ends a request.
    var isAnswer: Bool {
        switch self {
        case .result, .error: return true
        case .request, .notification: return false
        }
    }
}

/// Space, tab, CR or LF.
func isBlank(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}

extension Optional where Wrapped == String {
    fileprivate var orEmpty: String { self ?? "" }
}
