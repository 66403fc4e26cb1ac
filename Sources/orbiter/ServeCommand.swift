import ArgumentParser
import Foundation
import OrbiterQueue
import OrbiterServer

/// `orbiter serve`: the HTTP API (see the README's "HTTP API").
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API: submit tasks, follow their events (SSE), read queues and workers.",
        discussion: """
            Endpoints are described at /openapi.json. Requests carry Authorization: Bearer TOKEN; a \
            token's scope is read (GET), submit (also submit, cancel, reply/approve/reject) or admin \
            (also retry and purge). --token T gives one admin token; --tokens-file F one token a line: \
            TOKEN SCOPE [NAME] [queues=a,b] (# comments; queues= limits what the token sees). Without a \
            token the API is open, which is only allowed on a loopback --host. /healthz needs no token.

            Tasks are submitted as `orbiter submit` does: signed with ORBITER_SECRET when it is set, \
            the script loaded as a worker loads it (a script that does not load is a 422 with \
            path:line: message).
            """)

    @Option(help: "Address to listen on (a token is required unless it is a loopback address).")
    var host: String = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port to listen on (0: any free port, printed at start).")
    var port: Int = 8080

    @Option(help: "One admin token (at least 16 characters), e.g. from `openssl rand -hex 24`.")
    var token: String?

    @Option(name: .customLong("tokens-file"), help: "A file of tokens: TOKEN SCOPE [NAME] [queues=a,b] a line.")
    var tokensFile: String?

    @Option(help: "Allow browsers on this origin (e.g. https://app.example.com) to call the API; default: no CORS.")
    var cors: String?

    @Option(name: .customLong("max-body"), parsing: .unconditional, help: "Largest request body in bytes (larger: 413).")
    var maxBody: Int = 1 << 20

    @OptionGroup var redis: RedisOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup(title: "Durability") var durability: DurabilityOptions

    func validate() throws {
        if token != nil && tokensFile != nil { throw ValidationError("use --token or --tokens-file, not both") }
        if !(0...65535).contains(port) { throw ValidationError("--port must be 0 to 65535") }
    }

    func run() async throws {
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.redisURL = try redis.server.url()
        configuration.defaultQueue = redis.queue
        configuration.corsOrigin = cors
        configuration.bodyLimit = maxBody
        configuration.settings.durability = try durability.resolved()
        do {
            if let token { configuration.tokens = try TokenTable.single(token) }
            if let tokensFile {
                let text: String
                do { text = try String(contentsOfFile: tokensFile, encoding: .utf8) } catch {
                    throw CLIFailure.usage("orbiter: cannot read --tokens-file \(tokensFile): \(error.localizedDescription)")
                }
                configuration.tokens = try TokenTable.parse(fileText: text, path: tokensFile)
            }
            // A wrong URL or a down Redis fails here, with status 2, not at the first request.
            _ = try await redis.broker()
            let logger = logging.logger(label: "orbiter.serve")
            let open = configuration.tokens.isOpen
            let server = try APIServer(configuration: configuration, logger: logger) { host, port in
                Terminal.err("orbiter serve: listening on http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
                             + (open ? " (no token: open to anyone on this machine)" : "") + "\n")
            }
            try await server.runUntilSignalled()
        } catch let error as TokenFileError {
            throw CLIFailure.usage("orbiter: \(error)")
        }
    }
}
