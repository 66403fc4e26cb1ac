import Foundation
import OrbiterCore
import Synchronization

/// A Swift test double of a model: answers each step from a list of scripted replies and records
/// the requests. The real providers (HTTP, Lua models) have their own tests.
final class ScriptedProvider: ModelProvider {
    struct Reply: Sendable {
        var chunks: [String] = []
        var calls: [ToolCall] = []
        var usage = Usage(inputTokens: 1, outputTokens: 1)
        var delay: Duration = .zero
        var error: ModelError?
    }

    private let replies: Mutex<[Reply]>
    let requests = Mutex<[ModelRequest]>([])

    init(_ replies: [Reply]) { self.replies = Mutex(replies) }

    func complete(_ request: ModelRequest, onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        requests.withLock { $0.append(request) }
        let reply = replies.withLock { $0.isEmpty ? Reply(chunks: ["(no more replies)"]) : $0.removeFirst() }
        if reply.delay > .zero { try await Task.sleep(for: reply.delay) }
        if let error = reply.error { throw error }
        for t in reply.chunks { try await onEvent(.text(t)) }
        for c in reply.calls { try await onEvent(.toolCall(c)) }
        try await onEvent(.usage(reply.usage))
        try await onEvent(.finish(reply.calls.isEmpty ? "stop" : "tool_calls"))
    }
}

extension ScriptedProvider.Reply {
    static func text(_ chunks: String..., delay: Duration = .zero) -> Self { Self(chunks: chunks, delay: delay) }
    static func call(_ name: String, _ args: String, id: String = "") -> Self {
        Self(calls: [ToolCall(id: id, name: name, arguments: args)])
    }
}

/// A compact description of an event sequence for order assertions: `status:starting`, `step:started`, `text`, ...
func shape(_ events: [StreamEvent]) -> [String] {
    events.map { e in
        switch e {
        case .status(let s): return "status:\(s.status.rawValue)"
        case .step(let s): return "step:\(s.status.rawValue)"
        default: return e.type
        }
    }
}
