import ArgumentParser
import Foundation
import Logging
import OrbiterCore
import OrbiterLua
import Synchronization

/// `orbiter chat SCRIPT`: a conversation with an agent, reloading the script between turns.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk with an agent or swarm script; edits to the script apply from the next turn.",
        discussion: """
            Type a message after "you> "; the reply streams to stdout. The conversation is kept across
            turns. Before each turn the script and its modules are reloaded if they changed (a script
            that no longer loads prints path:line: message and the previous version answers).
            Commands: /reset clears the conversation, /events toggles detailed events on stderr,
            /quit (or end of input) leaves; start a message with // to send one that begins with /.
            Ctrl-C during a reply cancels that turn (the conversation stays as it was before it);
            Ctrl-C at the prompt leaves.
            """)

    @Argument(help: "The Lua script that returns an agent or swarm.")
    var script: String

    @Option(name: .long, parsing: .unconditional, help: "Override max_steps of every agent.")
    var maxSteps: Int?

    @OptionGroup var toolFolder: ToolFolderOptions
    @OptionGroup var human: HumanInputOptions

    func validate() throws {
        if let maxSteps, maxSteps < 1 { throw ValidationError("--max-steps must be at least 1") }
    }

    func run() async throws {
        let folder = try await toolFolder.load(log: { line in Terminal.err(Terminal.dim(line) + "\n") })
        let access = HostAccess.trusted(logger: Logger.localRun(label: "orbiter.tools"))
        try await withHostAccess(access) { try await converse(folder: folder, access: access) }
    }

    private func converse(folder: ToolFolder?, access: HostAccess) async throws {
        let reloader = ScriptReloader(path: script, access: access)
        if case .failed(let message) = reloader.refresh() {
            throw CLIFailure.usage(message)
        }
        var history: [Message] = []
        var showEvents = false
        let lines = ChatLines(LineReader.stdinLines())
        // Approvals and questions: on the terminal the conversation is typed in, else on /dev/tty.
        let terminal = isatty(0) == 1
            ? TerminalInput(readLine: { prompt in Terminal.err(prompt); return await lines.next() })
            : TerminalInput()
        let humanInput = human.input(terminal: terminal)
        // Ctrl-C cancels the turn under way; at the prompt it leaves.
        let currentTurn = Mutex<Task<[Message]?, Never>?>(nil)
        let interrupts = SignalWatcher(signals: [SIGINT]) { _ in
            let cancelled = currentTurn.withLock { turn -> Bool in
                turn?.cancel()
                return turn != nil
            }
            if !cancelled {
                Terminal.out("\n")
                Foundation.exit(130)
            }
        }
        defer { interrupts.cancel() }
        Terminal.err(Terminal.dim("chatting with \(reloader.name): \(Self.commands.joined(separator: ", ")); Ctrl-C cancels a reply") + "\n")
        Terminal.out("you> ")
        while let line = await lines.next() {
            let text = line.trimmingCharacters(in: .whitespaces)
            switch text {
            case "/quit", "/exit":
                return
            case "/reset":
                history = []
                Terminal.err(Terminal.dim("(conversation cleared)") + "\n")
            case "/events":
                showEvents.toggle()
                Terminal.err(Terminal.dim("(detailed events \(showEvents ? "on" : "off"))") + "\n")
            case "":
                break
            case _ where text.hasPrefix("/") && !text.hasPrefix("//"):
                let name = text.split(separator: " ", maxSplits: 1)[0]
                Terminal.error("unknown command \(name); commands: \(Self.commands.joined(separator: ", ")) "
                               + "(start a message with // to send one that begins with /)")
            default:
                let message = text.hasPrefix("//") ? String(text.dropFirst()) : text
                await folder?.scan()
                switch reloader.refresh() {
                case .unchanged: break
                case .reloaded: Terminal.err(Terminal.dim("(reloaded \(reloader.name))") + "\n")
                case .failed(let message): Terminal.error(message + " (keeping the previous version)")
                }
                let events = showEvents, past = history, runtime = reloader.runtime, name = reloader.name
                let turn = Task {
                    await self.turn(message, history: past, runtime: runtime, name: name, folder: folder, showEvents: events,
                                    humanInput: humanInput)
                }
                currentTurn.withLock { $0 = turn }
                let messages = await turn.value
                currentTurn.withLock { $0 = nil }
                if turn.isCancelled {
                    Terminal.err(Terminal.dim("(reply cancelled; the conversation is as it was before it — Ctrl-C again to leave)") + "\n")
                } else if let messages {
                    history = messages
                }
            }
            Terminal.out("you> ")
        }
        Terminal.out("\n")
    }

    /// What can be typed instead of a message.
    static let commands = ["/reset", "/events", "/quit"]

    /// One exchange; returns the conversation after it, or `nil` when the turn failed.
    private func turn(_ text: String, history: [Message], runtime: LuaRuntime?, name: String, folder: ToolFolder?,
                      showEvents: Bool, humanInput: any HumanInput) async -> [Message]? {
        guard let runtime else { return nil }
        var root: Runnable
        do {
            root = try await runtime.boundRoot(hostTools: folder?.registry.snapshot() ?? [:])
        } catch {
            Terminal.error("\(name): \(errorMessage(error))")
            return nil
        }
        if let maxSteps { root = root.withMaxSteps(maxSteps) }
        let printer = EventPrinter(style: showEvents ? .detailed : .plain, root: root)
        do {
            let result = try await OrbiterCore.run.execute(root, input: text, messages: history, detailed: EventPrinter.runsDetailed,
                                                           humanInput: humanInput) { event in
                printer.show(event)
            }
            printer.finish(output: result.output)
            return result.messages
        } catch {
            printer.finish()
            return nil
        }
    }
}
