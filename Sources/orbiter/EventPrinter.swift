import OrbiterCore
import Synchronization

/// Shows a run's events: reply text on stdout as it streams, the rest on stderr for a person, or
/// every event as one JSON object a line on stdout (`--json`).
///
/// stdout carries the run's answer, the same text `submit --wait` prints. A single agent's text
/// streams there as it comes. In a swarm or group the members' text is progress: it streams to
/// stderr a line at a time, each line prefixed with its member's name (parallel branches never mix
/// within a line), and the run's output goes to stdout when it completes (`finish(output:)`).
///
/// `--json` lines: text, tool calls, errors and waits for a person (`waiting_for_input`), then one
/// terminal status (completed, error or cancelled), as a worker's stream has; with `--detailed`
/// every event.
final class EventPrinter: Sendable {
    enum Style: Sendable { case plain, detailed, json }
    let style: Style
    /// With `.json`: every event, not only text, tool calls, errors and the terminal status.
    let jsonDetailed: Bool
    /// The run is a swarm or group, or an agent with an output schema: text is progress, the
    /// output (for structured output, the answer that matched the schema, after any repair
    /// turn) comes at the end.
    let members: Bool

    /// How a wait for a person is shown (a task's: how to reply); `nil`: as any status (a local
    /// run asks on the terminal itself).
    let waitingHint: (@Sendable (StatusEvent) -> String)?

    init(style: Style, jsonDetailed: Bool = true, root: Runnable? = nil, waitingHint: (@Sendable (StatusEvent) -> String)? = nil) {
        self.style = style
        self.jsonDetailed = jsonDetailed
        self.waitingHint = waitingHint
        if case .agent(let agent) = root { members = agent.output != nil } else { members = root != nil }
    }

    /// Events are produced detailed for every style; the printer leaves out what its style does not show.
    static let runsDetailed = true

    /// What has been written so far. Parallel branches may report at once (chat's sink), hence the lock.
    private struct State {
        /// stdout ends mid-line.
        var midLine = false
        var lastTextAgent: String?
        /// Per member: text of its line not yet shown (swarms).
        var partial: [String: String] = [:]
    }

    private let state = Mutex<State>(State())

    func show(_ event: StreamEvent) {
        switch style {
        case .json:
            // Without --detailed: what a non-detailed run sends, plus its end (as a worker's stream has).
            if jsonDetailed || event.isBasic || event.isTerminal || event.isWaitingForInput { Terminal.out(event.jsonString + "\n") }
        case .plain, .detailed:
            if case .text(let e) = event {
                members ? memberText(e) : replyText(e)
                return
            }
            if members, case .step(let e) = event, e.status == .completed { endMemberLine(e.agentName) }
            guard let line = describe(event) else { return }
            Terminal.err(line + "\n")
        }
    }

    private func replyText(_ e: TextEvent) {
        state.withLock { state in
            // Each agent's text starts on a line of its own.
            if let last = state.lastTextAgent, last != e.agentName, state.midLine { Terminal.out("\n") }
            state.lastTextAgent = e.agentName
            Terminal.out(e.text)
            state.midLine = !e.text.hasSuffix("\n")
        }
    }

    /// A member's complete lines go to stderr with its name; the rest waits for its line to end.
    private func memberText(_ e: TextEvent) {
        state.withLock { state in
            var pending = (state.partial[e.agentName] ?? "") + e.text
            while let newline = pending.firstIndex(of: "\n") {
                Terminal.err(prefix(e.agentName) + pending[..<newline] + "\n")
                pending = String(pending[pending.index(after: newline)...])
            }
            state.partial[e.agentName] = pending
        }
    }

    private func endMemberLine(_ agent: String) {
        state.withLock { state in
            guard let rest = state.partial.removeValue(forKey: agent), !rest.isEmpty else { return }
            Terminal.err(prefix(agent) + rest + "\n")
        }
    }

    private func prefix(_ agent: String) -> String { Terminal.cyan("[\(agent)]") + " " }

    /// Ends the reply with a newline if it had none; for a swarm, shows what members left
    /// unfinished and prints `output` (the run's result) on stdout.
    func finish(output: String? = nil) {
        guard style != .json else { return }
        if members {
            for agent in state.withLock({ $0.partial.keys.sorted() }) { endMemberLine(agent) }
            if let output { Terminal.out(output.hasSuffix("\n") || output.isEmpty ? output : output + "\n") }
            return
        }
        state.withLock { state in
            if state.midLine {
                Terminal.out("\n")
                state.midLine = false
            }
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
            if e.status == .waitingForInput, let waitingHint { return breakLine() + waitingHint(e) }
            guard detailed else { return nil }
            return breakLine() + Terminal.dim("status: \(e.status.rawValue)" + (e.message.isEmpty ? "" : " — \(e.message)"))
        case .error(let e):
            return breakLine() + Terminal.red("error [\(e.agentName)] \(e.errorType): \(e.error)")
        case .usage(let e):
            guard detailed else { return nil }
            let cache = e.usage.cacheReadInputTokens + e.usage.cacheCreationInputTokens == 0 ? ""
                : " (cache: \(e.usage.cacheReadInputTokens) read, \(e.usage.cacheCreationInputTokens) written)"
            return Terminal.dim("· [\(e.agentName)] \(e.model): \(e.usage.inputTokens) in / \(e.usage.outputTokens) out tokens\(cache)")
        case .reasoning(let e):
            return Terminal.dim(e.text)
        }
    }

    private func breakLine() -> String {
        state.withLock { state in
            if state.midLine {
                state.midLine = false
                Terminal.out("\n")
            }
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
