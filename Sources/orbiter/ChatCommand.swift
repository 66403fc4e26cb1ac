import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterLua

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
            /quit (or end of input) leaves.
            """)

    @Argument(help: "The Lua script that returns an agent or swarm.")
    var script: String

    @Option(name: .long, parsing: .unconditional, help: "Override max_steps of every agent.")
    var maxSteps: Int?

    @OptionGroup var toolFolder: ToolFolderOptions

    func validate() throws {
        if let maxSteps, maxSteps < 1 { throw ValidationError("--max-steps must be at least 1") }
    }

    func run() async throws {
        let folder = try await toolFolder.load(log: { line in Terminal.err(Terminal.dim(line) + "\n") })
        let reloader = ScriptReloader(path: script)
        if case .failed(let message) = reloader.refresh() {
            Terminal.error(message)
            throw Exit.usage
        }
        var history: [Message] = []
        var showEvents = false
        Terminal.err(Terminal.dim("chatting with \(reloader.name): /reset, /events, /quit") + "\n")
        Terminal.out("you> ")
        for await line in LineReader.stdinLines() {
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
            default:
                await folder?.scan()
                switch reloader.refresh() {
                case .unchanged: break
                case .reloaded: Terminal.err(Terminal.dim("(reloaded \(reloader.name))") + "\n")
                case .failed(let message): Terminal.error(message + " (keeping the previous version)")
                }
                if let messages = await turn(text, history: history, reloader: reloader, folder: folder, showEvents: showEvents) {
                    history = messages
                }
            }
            Terminal.out("you> ")
        }
        Terminal.out("\n")
    }

    /// One exchange; returns the conversation after it, or `nil` when the turn failed.
    private func turn(_ text: String, history: [Message], reloader: ScriptReloader, folder: ToolFolder?,
                      showEvents: Bool) async -> [Message]? {
        let printer = EventPrinter(style: showEvents ? .detailed : .plain)
        guard let runtime = reloader.runtime else { return nil }
        var root: Runnable
        do {
            root = try runtime.root(hostTools: folder?.registry.snapshot() ?? [:])
        } catch {
            Terminal.error("\(reloader.name): \(errorMessage(error))")
            return nil
        }
        if let maxSteps { root = root.withMaxSteps(maxSteps) }
        do {
            let result = try await OrbiterCore.run.execute(root, input: text, messages: history, detailed: true) { event in
                printer.show(event)
            }
            printer.finish()
            return result.messages
        } catch {
            printer.finish()
            return nil
        }
    }
}
