import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterModels

/// The `orbiter` command: run agents written in Lua, here or on Redis workers.
@main
struct Orbiter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orbiter",
        abstract: "Run LLM agents, swarms and tools written in Lua — in this process or on Redis workers.",
        discussion: """
            Exit status: 0 when the run completed, 1 when it failed, 2 for a usage or script error.
            A closed stdout (e.g. `orbiter run ... | head -1`) ends orbiter at once with status 0.
            Models: "openai:<model>", "anthropic:<model>", "ollama:<model>", or an orbiter.model written in Lua.
            """,
        version: "orbiter \(OrbiterVersion.current)",
        subcommands: [RunCommand.self, ChatCommand.self, CheckCommand.self, ToolsCommand.self, SubmitCommand.self, StartCommand.self, TaskCommand.self,
                      WorkerGroupCommand.self, QueueCommand.self, BudgetCommand.self, ScheduleCommand.self, LimitsCommand.self,
                      ServeCommand.self])

    /// Parses and runs, mapping every usage error to exit status 2 (ArgumentParser's default is 64).
    static func main() async {
        Terminal.ignoreSIGPIPE()
        BuiltinProviders.register()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch let error as CLIFailure {
            if let message = error.message { Terminal.error(message) }
            Foundation.exit(error.exitCode.rawValue)
        } catch where isParserError(error) {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            Terminal.error(fullMessage(for: error))
            Foundation.exit(2)
        } catch {
            let failure = CLIFailure(error)
            if let message = failure.message { Terminal.error(message) }
            Foundation.exit(failure.exitCode.rawValue)
        }
    }
}

/// Exit statuses of the CLI.
enum Exit {
    /// The run failed (the agent's error, a failed task).
    static let failed = ExitCode(1)
    /// Usage error, script error, unreachable service.
    static let usage = ExitCode(2)
}

/// Errors ArgumentParser reports itself (usage, validation, `--help`, `--version`).
private func isParserError(_ error: any Error) -> Bool {
    error is ValidationError || error is CleanExit || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
}
