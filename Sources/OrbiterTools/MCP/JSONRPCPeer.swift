import Logging
import OrbiterCore
import Synchronization

/// The JSON-RPC side of one session with an MCP server: numbers requests, matches answers to them,
/// enforces timeouts and cancellation, and answers the server's own requests. Bytes move through
/// its channel; messages from the server come in through `receive`.
final class JSONRPCPeer: Sendable {
    let server: String
    let channel: any MCPChannel
    private let logger: Logger
    private let answers = Mailbox<JSONValue>()
    private let nextID = Atomic<Int>(1)
    /// Notifications from the server (e.g. `notifications/tools/list_changed`).
    private let onNotification: @Sendable (String, JSONValue?) -> Void

    init(server: String, channel: any MCPChannel, logger: Logger,
         onNotification: @escaping @Sendable (String, JSONValue?) -> Void) {
        self.server = server
        self.channel = channel
        self.logger = logger
        self.onNotification = onNotification
    }

    /// Sends a request and waits for its result. `label` names the call in errors ("tools/call 'x'").
    /// On timeout or cancellation the server is told (`notifications/cancelled`) unless `cancellable` is false.
    func request(_ method: String, params: JSONValue?, label: String, timeout: Duration,
                 cancellable: Bool = true) async throws -> JSONValue {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        try answers.open(id, label: label)
        let message = JSONRPCMessage.request(id: .int(id), method: method, params: params)
        do {
            return try await withThrowingTaskGroup(of: JSONValue?.self) { group in
                group.addTask {
                    self.receive(try await self.channel.send(message, timeout: timeout))
                    return nil
                }
                group.addTask { try await self.answers.wait(id) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw MCPError("MCP server '\(self.server)': \(label) timed out after \(timeout.secondsText) s", kind: .timedOut)
                }
                while let value = try await group.next() {
                    if let value {
                        group.cancelAll()
                        return value
                    }
                }
                throw CancellationError()  // unreachable: the waiting task returns or throws
            }
        } catch {
            answers.remove(id)
            // A session that ended fills its requests with why (MCPError), which says more than a cancellation.
            let cancelled = error is CancellationError || (Task.isCancelled && !(error is MCPError))
            if cancellable, cancelled || (error as? MCPError)?.kind == .timedOut {
                channel.post(.notification(method: "notifications/cancelled", params: [
                    "requestId": .int(id), "reason": .string(cancelled ? "the caller was cancelled" : "timed out"),
                ]))
            }
            if cancelled { throw CancellationError() }
            if let refusal = error as? JSONRPCErrorObject {
                throw MCPError("MCP server '\(server)': \(label) failed: \(refusal.message) (JSON-RPC error \(refusal.code))")
            }
            throw error
        }
    }

    /// Sends a notification from the calling task.
    func notify(_ method: String, params: JSONValue? = nil, timeout: Duration) async throws {
        receive(try await channel.send(.notification(method: method, params: params), timeout: timeout))
    }

    /// Handles messages the server sent: answers go to their requests, the server's requests are
    /// answered (`ping`; anything else is "method not found"), notifications go to `onNotification`.
    func receive(_ messages: [JSONRPCMessage]) {
        for message in messages { receive(message) }
    }

    func receive(_ message: JSONRPCMessage) {
        switch message {
        case .result(let id, let result):
            deliver(id, .success(result))
        case .error(let id, let error):
            guard let id else {
                logger.warning("MCP server '\(server)' reported an error: \(error.message) (\(error.code))")
                return
            }
            deliver(id, .failure(error))
        case .request(let id, let method, _):
            if method == "ping" {
                channel.post(.result(id: id, [:]))
            } else {
                channel.post(.error(id: id, JSONRPCErrorObject(code: JSONRPCErrorObject.methodNotFound,
                                                              message: "Method not found: \(method) (Orbiter only calls tools)")))
            }
        case .notification(let method, let params):
            onNotification(method, params)
        }
    }

    /// Fails every request in flight with the error `inFlight(label)` makes, and every later one
    /// with the error `later(label)` makes: the session is over.
    func close(inFlight: @Sendable (String) -> any Error, later: @escaping @Sendable (String) -> any Error) {
        answers.fillAll(with: inFlight, closing: later)
    }

    private func deliver(_ id: JSONValue, _ result: Result<JSONValue, any Error>) {
        guard let key = id.intValue, answers.fill(key, with: result) else {
            logger.debug("MCP server '\(server)' answered request \(id.jsonString), which no one awaits (cancelled or timed out)")
            return
        }
    }
}
