import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterLimits
import OrbiterRedis

/// `orbiter limits set|list|remove`: the rate limits every worker (and `orbiter run --limits`)
/// shares, kept in Redis under `{orbiter:limits}`.
struct LimitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits",
        abstract: "Rate limits per model that every worker shares (requests and tokens per minute).",
        discussion: """
            Workers started with --limits (and `orbiter run --limits`) book room under a model's limit before each call and give back what the call did not use. Limits live in Redis ($ORBITER_REDIS_URL or --redis-url).
            """,
        subcommands: [LimitsSetCommand.self, LimitsListCommand.self, LimitsRemoveCommand.self])
}

/// `--redis-url`, for commands that touch only the limits (not a queue).
struct LimitsRedisOptions: ParsableArguments {
    @OptionGroup var server: RedisServerOptions

    /// A limiter on a client connected now, so a wrong URL or a down Redis fails fast with status 2.
    func limiter() async throws -> RateLimiter {
        let url = try server.parsedURL()
        do {
            let client = RedisClient(url: url)
            try await client.connect()
            return RateLimiter(client: client)
        } catch {
            throw CLIFailure.usage("orbiter: \(error)")
        }
    }
}

/// A limit's name from `MODEL` and `--key`; bad input is a usage error naming what is wrong.
private func limitName(_ model: String, key: String?) throws -> LimitName {
    do {
        let name = try LimitName(parsing: model)
        guard let key else { return name }
        guard name.key == nil else { throw ValidationError("give the key either as MODEL#\(name.key!) or with --key, not both") }
        return try LimitName(provider: name.provider, model: name.model, key: key)
    } catch let error as OrbiterError {
        throw ValidationError("\(error)")
    }
}

struct LimitsSetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Create or change a model's limit.",
        discussion: """
            Examples:
              orbiter limits set openai:gpt-4o-mini --rpm 500 --tpm 200000
              orbiter limits set anthropic:claude-sonnet-4-5 --itpm 30000 --otpm 8000

            Give at least one of --rpm, --itpm, --otpm, --tpm. --tpm counts input and output together (as OpenAI does), --itpm and --otpm count them apart (as Anthropic does), so --tpm does not go with them. Setting a limit again replaces all its numbers: the ones not given are removed.
            """)

    @Argument(help: "provider:model (e.g. openai:gpt-4o-mini); provider:model#KEY_VAR limits only calls made with that key.")
    var model: String

    @Option(help: "Limit only calls made with the key in this environment variable (e.g. OPENAI_API_KEY_TEAM_B).")
    var key: String?

    @Option(parsing: .unconditional, help: "Requests per period.")
    var rpm: Int?
    @Option(parsing: .unconditional, help: "Input tokens per period.")
    var itpm: Int?
    @Option(parsing: .unconditional, help: "Output tokens per period.")
    var otpm: Int?
    @Option(parsing: .unconditional, help: "Input and output tokens together per period.")
    var tpm: Int?
    @Option(name: .customLong("output-estimate"), parsing: .unconditional,
            help: "Output tokens booked for a call that sets no max_tokens (default 1024; corrected after the call).")
    var outputEstimate: Int?
    @Option(help: "The window the numbers are per: 60s (default), 1m, 500ms, 1h. A short one scales a limit down for tests.")
    var period: String = "60s"

    @OptionGroup var redis: LimitsRedisOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        _ = try limitName(model, key: key)
        _ = try limit()
    }

    /// The limit the flags describe; a `ValidationError` naming the flag that is wrong.
    func limit() throws -> ModelLimit {
        guard let periodMs = ModelLimit.periodMs(period) else {
            throw ValidationError("--period expects a duration such as 60s, 1m, 500ms or 1h, not '\(period)'")
        }
        do {
            return try ModelLimit(requests: rpm, inputTokens: itpm, outputTokens: otpm, totalTokens: tpm, periodMs: periodMs,
                                  outputEstimate: outputEstimate)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        let name = try limitName(model, key: key)
        let limit = try limit()
        let limiter = try await redis.limiter()
        let created = try await limiter.set(name, limit)
        if output.json {
            Terminal.out(JSONValue.object(["name": .string(name.description), "created": .bool(created)]).jsonString + "\n")
        } else {
            Terminal.out("\(created ? "set" : "changed") limit \(name): \(describe(limit))\n")
        }
    }
}

struct LimitsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Every limit: its numbers, what is in use in the current window, and when the next call may start.",
        discussion: "--json: one array of {name, rpm?, itpm?, otpm?, tpm?, period_ms, in_use, next_free_ms, rejections}.")

    @OptionGroup var redis: LimitsRedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let limits = try await redis.limiter().list()
        if output.json {
            Terminal.out(JSONValue.array(limits.map(\.json)).jsonString + "\n")
            return
        }
        if limits.isEmpty {
            Terminal.out("no limits (orbiter limits set MODEL --rpm N to add one)\n")
            return
        }
        for status in limits {
            guard let limit = status.limit else {
                Terminal.out("\(status.name)  broken: a stored field is not a valid number; set the limit again\n")
                continue
            }
            let use = limit.dimensions.map { "\($0.name) \(status.inUse[$0.name] ?? 0)/\($0.limit)" }.joined(separator: "  ")
            let next = status.nextFreeMs == 0 ? "now" : String(format: "in %.1f s", Double(status.nextFreeMs) / 1000)
            Terminal.out("\(status.name)  \(use)  per \(periodText(limit.periodMs))  next free \(next)  429s \(status.rejections)\n")
        }
    }
}

struct LimitsRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Delete a model's limit (its calls are no longer held back). Exit 1 when there was none.")

    @Argument(help: "provider:model, or provider:model#KEY_VAR.")
    var model: String
    @Option(help: "The key variable the limit is for.")
    var key: String?

    @OptionGroup var redis: LimitsRedisOptions
    @OptionGroup var output: JSONOption

    func validate() throws { _ = try limitName(model, key: key) }

    func run() async throws {
        let name = try limitName(model, key: key)
        let removed = try await redis.limiter().remove(name)
        if output.json {
            Terminal.out(JSONValue.object(["name": .string(name.description), "removed": .bool(removed)]).jsonString + "\n")
            if !removed { throw CLIFailure.failed() }
        } else if removed {
            Terminal.out("removed limit \(name)\n")
        } else {
            throw CLIFailure.failed("orbiter: no limit for \(name) (orbiter limits list shows them)")
        }
    }
}

private func describe(_ limit: ModelLimit) -> String {
    var parts = limit.dimensions.map { "\($0.name) \($0.limit)" }
    parts.append("per \(periodText(limit.periodMs))")
    if let e = limit.outputEstimate { parts.append("output estimate \(e)") }
    return parts.joined(separator: ", ")
}

private func periodText(_ ms: Int) -> String {
    ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
}
