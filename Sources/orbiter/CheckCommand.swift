import ArgumentParser
import OrbiterCore
import OrbiterLua

/// `orbiter check SCRIPT`: loads and validates a script without running it.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Load and validate a script, then print its to_dict JSON.",
        discussion: """
            Exit status 2 with `path:line: message` when the script does not load. It is also loaded as a \
            worker loads it (sandboxed, from its bundle alone); a warning on stderr says when that fails.
            """)

    @Argument(help: "The Lua script that returns an agent or swarm.")
    var script: String

    func run() async throws {
        let (runtime, root) = try ScriptLoading.load(script)
        ScriptLoading.warnIfWorkersCannotLoad(runtime, path: script)
        var dict = root.toDict()
        if case .object(var members) = dict {
            members["bundle"] = ["sha256": .string(runtime.bundle.sha256), "modules": .array(runtime.bundle.modules.keys.sorted().map(JSONValue.string))]
            dict = .object(members)
        }
        Terminal.out(dict.prettyString + "\n")
    }
}
