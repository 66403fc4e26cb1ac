import ArgumentParser
import Foundation
import Logging
import OrbiterCore
import OrbiterTools

/// What scripts run by this command may reach: `--allow-host`, `--secret`, `--secrets-file`,
/// `--mcp`. A worker (and `run --sandbox`) grants shipped scripts exactly these; a trusted local
/// run of a file grants everything (any host, the environment's secrets, programs, MCP servers as
/// declared) and refuses these flags as meaningless.
struct HostAccessOptions: ParsableArguments {
    @Option(name: .customLong("allow-host"),
            help: ArgumentHelp("A host scripts may reach with orbiter.http and MCP URLs: HOST, HOST:PORT, *.example.com, or * for any public host (repeatable). Loopback, private and metadata addresses only when named exactly.",
                               valueName: "host"))
    var allowHost: [String] = []

    @Option(name: .customLong("secret"),
            help: ArgumentHelp("A secret scripts may read with orbiter.secret(NAME), its value from this process's environment variable NAME (repeatable).",
                               valueName: "name"))
    var secret: [String] = []

    @Option(name: .customLong("secrets-file"),
            help: ArgumentHelp("Secrets scripts may read: a JSON object {\"NAME\": \"value\"} or NAME=value lines.", valueName: "file"))
    var secretsFile: String?

    @Option(name: .customLong("mcp"),
            help: ArgumentHelp("MCP servers scripts may use, in the common {\"mcpServers\": {...}} JSON format; a stdio server runs only from here, never from a script's command.",
                               valueName: "file"))
    var mcpFile: String?

    var isEmpty: Bool { allowHost.isEmpty && secret.isEmpty && secretsFile == nil && mcpFile == nil }

    /// What a trusted local run of a file is granted, refusing the worker flags (`--sandbox` is
    /// how to try them).
    func trusted(logger: Logger) throws -> HostAccess {
        guard isEmpty else {
            throw CLIFailure.usage("orbiter: --allow-host, --secret, --secrets-file and --mcp limit what shipped scripts reach; "
                                   + "a local run of a file reaches everything. Add --sandbox to run it as a worker would, with these grants.")
        }
        return HostAccess.trusted(logger: logger)
    }

    /// What shipped scripts are granted: the flags' hosts, secrets and MCP servers, never programs.
    /// Says so in one info line (names only, never values).
    func shipped(logger: Logger) throws -> HostAccess {
        do {
            let servers = try mcpFile.map { try MCPServersFile.load(path: $0) } ?? [:]
            let access = try HostAccess.shipped(allowing: allowHost, secrets: try grantedSecrets(), mcpServers: servers, logger: logger)
            let hosts = allowHost.isEmpty ? "no hosts" : allowHost.joined(separator: ", ")
            let secrets = access.secrets.names.isEmpty ? "no secrets" : "secrets " + access.secrets.names.joined(separator: ", ")
            let mcp = servers.isEmpty ? "none" : servers.keys.sorted().joined(separator: ", ")
            logger.info("shipped scripts may reach: \(hosts); \(secrets); MCP servers: \(mcp)")
            return access
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure.usage("orbiter: \(error)")
        }
    }

    /// `--secret` values from the environment, then `--secrets-file`.
    private func grantedSecrets() throws -> [String: String] {
        var values: [String: String] = [:]
        let environment = ProcessInfo.processInfo.environment
        for name in secret {
            guard let value = environment[name], !value.isEmpty else {
                throw CLIFailure.usage("orbiter: --secret \(name): the environment variable \(name) is not set")
            }
            values[name] = value
        }
        if let secretsFile {
            for (name, value) in try SecretsFile.load(path: secretsFile) {
                if values[name] != nil { throw CLIFailure.usage("orbiter: secret '\(name)' is given by both --secret and \(secretsFile)") }
                values[name] = value
            }
        }
        return values
    }
}

/// Runs `body` with `access`, then stops what it started (MCP server processes), also when
/// `body` throws or is cancelled.
func withHostAccess<T: Sendable>(_ access: HostAccess, _ body: () async throws -> T) async throws -> T {
    do {
        let value = try await body()
        await access.shutdown()
        return value
    } catch {
        await access.shutdown()
        throw error
    }
}
