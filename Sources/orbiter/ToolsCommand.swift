import ArgumentParser
import Logging
import OrbiterCore
import OrbiterLua

/// `orbiter tools SCRIPT`: every tool each agent of a script will be offered, with its schema.
struct ToolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tools",
        abstract: "List every tool each agent of a script is offered, with its input schema.",
        discussion: """
            Starts the MCP servers the script uses (as a local run would, or with --sandbox as a worker \
            with the given --mcp and --allow-host would) and asks them for their tools; lists the script's \
            own tools, the --tools folder's tools it uses, and the transfer_to_<agent> tools of handoffs. \
            Exit status 2 when the script does not load or a server cannot be reached.
            """)

    @Argument(help: "The Lua script that returns an agent or swarm.")
    var script: String

    @Flag(help: "List the tools as a worker would offer them (sandboxed, with the grants below).")
    var sandbox = false

    @OptionGroup var output: JSONOption
    @OptionGroup var toolFolder: ToolFolderOptions
    @OptionGroup(title: "What a --sandbox script may reach (as on a worker)") var hostAccess: HostAccessOptions

    func run() async throws {
        let folder = try await toolFolder.load(log: { line in Terminal.err(Terminal.dim(line) + "\n") })
        let logger = Logger.localRun(label: "orbiter.tools")
        let access = try sandbox ? hostAccess.shipped(logger: logger) : hostAccess.trusted(logger: logger)
        try await withHostAccess(access) {
            let (_, root) = try await ScriptLoading.loadForRun(script, hostTools: folder?.registry.snapshot() ?? [:],
                                                               sandboxed: sandbox, access: access)
            let listing = Self.agents(of: root).map { agent in
                (agent, agent.tools.map(\.spec) + agent.handoffs.map {
                    ToolSpec(name: "transfer_to_\($0)", description: "Hand the conversation to the agent '\($0)'.",
                             parameters: ["type": "object", "properties": .object([:])])
                })
            }
            if output.json {
                Terminal.out(JSONValue.array(listing.map { agent, specs in
                    ["agent": .string(agent.name), "model": .string(agent.model),
                     "tools": .array(specs.map { ["name": .string($0.name), "description": .string($0.description), "parameters": $0.parameters] })]
                }).prettyString + "\n")
                return
            }
            for (agent, specs) in listing {
                Terminal.out("\(agent.name) (\(agent.model)): \(specs.count) tool\(specs.count == 1 ? "" : "s")\n")
                for spec in specs {
                    Terminal.out("  \(spec.name)" + (spec.description.isEmpty ? "" : " — \(spec.description.split(separator: "\n").first ?? "")") + "\n")
                    Terminal.out(Terminal.dim("    \(spec.parameters.jsonString)") + "\n")
                }
            }
        }
    }

    /// Every agent of the node, depth first.
    static func agents(of node: Runnable) -> [Agent] {
        switch node {
        case .agent(let agent): return [agent]
        case .swarm(let swarm): return swarm.agents.flatMap(agents(of:))
        case .group(let group): return group.agents.flatMap(agents(of:))
        }
    }
}
