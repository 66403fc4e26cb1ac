import OrbiterCore

/// Asks the person at a terminal (`orbiter run`, `orbiter chat`): `approve refund {"amount": 30}?
/// [y/N]`, or the question. One question at a time, even when parallel calls ask at once.
///
/// `y`/`yes` approves; an empty line or `n`/`no` rejects; any other text rejects with that text
/// as the reason (the model sees `rejected: <reason>`). End of input rejects a call and declines a
/// question.
struct TerminalInput: HumanInput {
    /// Writes the prompt and returns the line typed (nil at end of input); throws
    /// `ControllingTerminal.Unavailable` when there is no terminal.
    let readLine: @Sendable (String) async throws -> String?
    private let turns = OneAtATime()

    init(readLine: @escaping @Sendable (String) async throws -> String? = ControllingTerminal.ask) {
        self.readLine = readLine
    }

    var waitsInProcess: Bool { true }

    func ask(_ request: InputRequest) async throws -> InputReply {
        try await turns.run {
            let speaker = request.agentName.isEmpty ? "" : "[\(request.agentName)] "
            do {
                switch request.kind {
                case .approval:
                    guard let line = try await readLine("\(speaker)\(request.prompt) [y/N] ") else {
                        return .rejected(reason: "no answer at the terminal (end of input)")
                    }
                    return Self.decision(line)
                case .question:
                    guard let line = try await readLine("\(speaker)\(request.toolName) asks: \(request.prompt) ") else {
                        return .rejected(reason: "no answer at the terminal (end of input)")
                    }
                    return .answer(line)
                }
            } catch is ControllingTerminal.Unavailable {
                throw OrbiterError.humanInputUnavailable(Self.noTerminal(request))
            }
        }
    }

    /// What a typed line means for an approval.
    static func decision(_ line: String) -> InputReply {
        let text = line.trimmingCharacters(in: .whitespaces)
        switch text.lowercased() {
        case "y", "yes": return .approved
        case "", "n", "no": return .rejected(reason: "declined at the terminal")
        default: return .rejected(reason: text)
        }
    }

    /// Why a request cannot be put to anyone here, and what to do instead.
    static func noTerminal(_ request: InputRequest) -> String {
        switch request.kind {
        case .approval:
            return "tool '\(request.toolName)' needs a person's approval, and there is no terminal to ask on; "
                + "run it on a terminal, pass --approve-all to approve every call, or submit it to a worker (the task waits for orbiter task approve)"
        case .question:
            return "tool '\(request.toolName)' asks \"\(request.question ?? "")\", and there is no terminal to ask on; "
                + "run it on a terminal, or submit it to a worker (the task waits for orbiter task reply)"
        }
    }
}

/// Runs bodies one after another, in the order they arrive.
actor OneAtATime {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        }
        busy = true
        defer {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
