import ArgumentParser
import Logging
import OrbiterCore
import OrbiterLua

/// `orbiter run SCRIPT [INPUT]`: runs an agent or swarm in this process, streaming its reply.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an agent or swarm script in this process, streaming its reply.",
        discussion: """
            The reply streams to stdout; tool calls and errors go to stderr. For a swarm, each member's
            text streams to stderr with its name in front of every line, and the swarm's output (what
            `submit --wait` prints) goes to stdout at the end. With --json, events are printed one JSON
            object per line on stdout: text, tool calls, errors, waits for input and the final status
            (every event type with --detailed).
            Tools that need approval, and orbiter.ask, ask on the terminal (/dev/tty, also when the input
            comes from stdin); without one the run fails unless --approve-all approves every call.
            Exit status: 0 completed, 1 the run failed, 2 usage or script error.
            """)

    @Argument(help: "The Lua script that returns an agent or swarm.")
    var script: String

    @Argument(help: "The input text; '-' or absent reads stdin (its final line break dropped). Put '--' before an input that starts with '-'.")
    var input: String?

    @Flag(help: "Show every event (steps, usage, status), not just text and tool calls.")
    var detailed = false

    @Flag(help: "Print events as JSON lines on stdout.")
    var json = false

    @Option(name: .long, parsing: .unconditional, help: "Override max_steps of every agent.")
    var maxSteps: Int?

    @Flag(help: "Run again whenever the script or a module it requires changes (Ctrl-C to stop).")
    var watch = false

    @Flag(help: "Run the script as a worker would: sandboxed (no io, os.getenv, debug...) with the workers' limits.")
    var sandbox = false

    @OptionGroup var toolFolder: ToolFolderOptions
    @OptionGroup var human: HumanInputOptions
    @OptionGroup var rateLimits: RunLimitsOptions
    @OptionGroup(title: "What a --sandbox run's script may reach (as on a worker)") var hostAccess: HostAccessOptions
    @OptionGroup(title: "Cost and budget") var prices: PricesOption
    @OptionGroup(title: "Cost and budget") var budget: BudgetOptions

    func validate() throws {
        if let maxSteps, maxSteps < 1 { throw ValidationError("--max-steps must be at least 1") }
    }

    func run() async throws {
        _ = try prices.load() // a bad price table is a usage error before anything runs
        let folder = try await toolFolder.load(log: { line in Terminal.err(Terminal.dim(line) + "\n") })
        let logger = Logger.localRun(label: "orbiter.tools")
        let access = try sandbox ? hostAccess.shipped(logger: logger) : hostAccess.trusted(logger: logger)
        try await withHostAccess(access) {
            if watch {
                try await watchLoop(folder: folder, access: access)
                return
            }
            let (_, loaded) = try await ScriptLoading.loadForRun(script, hostTools: folder?.registry.snapshot() ?? [:],
                                                                 sandboxed: sandbox, access: access)
            guard try await runOnce(loaded, input: try resolveInput(input)) else { throw Exit.failed }
        }
    }

    /// Runs the root once, streaming its events; returns whether it completed.
    func runOnce(_ loaded: Runnable, input text: String) async throws -> Bool {
        var root = loaded
        if let maxSteps { root = root.withMaxSteps(maxSteps) }
        let style: EventPrinter.Style = json ? .json : (detailed ? .detailed : .plain)
        let printer = EventPrinter(style: style, jsonDetailed: detailed, root: root)
        let table = try prices.load()
        let meter = SpendMeter(prices: table, budget: budget.budget ?? SpendingBudget())
        let (runner, limitsClient) = try await rateLimits.runner()
        defer { limitsClient?.close() }
        do {
            let result = try await runner.execute(root, input: text, detailed: EventPrinter.runsDetailed,
                                                  humanInput: human.input(), meter: meter) { event in
                printer.show(event)
            }
            printer.finish(output: result.output)
            if table != nil { SpendLine.print(meter) }
            return true
        } catch {
            printer.finish()
            if table != nil { SpendLine.print(meter) }
            if style == .json { Terminal.error("orbiter: run failed: \(errorMessage(error))") }
            return false
        }
    }
}
