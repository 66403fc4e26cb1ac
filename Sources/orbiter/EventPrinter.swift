import OrbiterCore

/// Shows a run's events: reply text on stdout as it streams, the rest on stderr for a person, or
/// every event as one JSON object a line on stdout (`--json`).
struct EventPrinter: Sendable {
    enum Style: Sendable { case plain, detailed, json }
    let style: Style

    /// Whether the run must produce detailed events for this style.
    static func needsDetailed(style: Style, detailedFlag: Bool) -> Bool {
        style == .json ? detailedFlag : true
    }

    /// Tracks whether stdout ends mid-line, to finish it before other output.
    final class State: @unchecked Sendable {
        // Only touched from the single task that consumes the event stream.
        var midLine = false
        var lastTextAgent: String?
    }

    let state = State()

    func show(_ event: StreamEvent) {
        switch style {
        case .json:
            Terminal.out(event.jsonString + "\n")
        case .plain, .detailed:
            if case .text(let e) = event {
                // In a swarm, each agent's text starts on a line of its own.
                if let last = state.lastTextAgent, last != e.agentName, state.midLine { Terminal.out("\n") }
                state.lastTextAgent = e.agentName
                Terminal.out(e.text)
                state.midLine = !e.text.hasSuffix("\n")
                return
            }
            guard let line = describe(event) else { return }
            Terminal.err(line + "\n")
        }
    }

    /// Ends the reply with a newline if it had none.
    func finish() {
        if style != .json, state.midLine {
            Terminal.out("\n")
            state.midLine = false
        }
    }

    private func describe(_ event: StreamEvent) -> String? {
        let detailed = style == .detailed
        switch event {
        case .text: return nil
        case .toolCall(let e):
            return breakLine() + Terminal.dim("→ [\(e.agentName)] calling \(e.toolName)")
        case .toolResult(let e):
            let ms = e.durationMs < 10 ? String(format1: e.durationMs) : String(Int(e.durationMs.rounded()))
            if e.success {
                let preview = detailed ? " → " + clip(e.result) : ""
                return Terminal.dim("✓ [\(e.agentName)] \(e.toolName) \(e.arguments.jsonString) (\(ms) ms)\(preview)")
            }
            return Terminal.red("✗ [\(e.agentName)] \(e.toolName) failed: \(e.error ?? "") (\(ms) ms)")
        case .step(let e):
            guard detailed else { return nil }
            if e.status == .started { return breakLine() + Terminal.dim("· [\(e.agentName)] step \(e.stepNumber) started") }
            return breakLine() + Terminal.dim("· [\(e.agentName)] step \(e.stepNumber) completed")
        case .status(let e):
            if e.status == .running { return breakLine() + Terminal.dim("» \(e.agentName)") }
            guard detailed else { return nil }
            return breakLine() + Terminal.dim("status: \(e.status.rawValue)" + (e.message.isEmpty ? "" : " — \(e.message)"))
        case .error(let e):
            return breakLine() + Terminal.red("error [\(e.agentName)] \(e.errorType): \(e.error)")
        case .usage(let e):
            guard detailed else { return nil }
            return Terminal.dim("· [\(e.agentName)] \(e.model): \(e.usage.inputTokens) in / \(e.usage.outputTokens) out tokens")
        case .reasoning(let e):
            return Terminal.dim(e.text)
        }
    }

    private func breakLine() -> String {
        if state.midLine {
            state.midLine = false
            Terminal.out("\n")
        }
        return ""
    }

    private func clip(_ s: String) -> String {
        let flat = s.replacingOccurrences(of: "\n", with: " ")
        return flat.count > 120 ? String(flat.prefix(117)) + "..." : flat
    }
}

extension String {
    init(format1 value: Double) {
        let scaled = (value * 10).rounded() / 10
        self = String(scaled)
    }
}
