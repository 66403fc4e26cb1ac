import Foundation
import OrbiterRedis

/// A Redis `NOPERM` reply as a person reads it: which Redis user lacked which right, and where the
/// README lists the rights a worker and a client need. Nil for any other error.
enum PermissionDenied {
    static func message(for error: any Error, arguments: [String] = CommandLine.arguments,
                        environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let text = "\(error)"
        var what: String
        if let range = text.range(of: "NOPERM") {
            // "NOPERM this user has no permissions to run the 'xadd' command" → "run the 'xadd' command"
            what = String(text[range.upperBound...]).trimmingCharacters(in: .whitespaces)
            if let to = what.range(of: "permissions to ") { what = String(what[to.upperBound...]) }
        } else if let range = text.range(of: "The user executing the script can't ") {
            // Redis 7.0 inside a script: "ERR The user executing the script can't run this command or subcommand script: …"
            what = String(text[range.upperBound...]).replacingOccurrences(of: "this command or subcommand", with: "a command")
            if let script = what.range(of: " script:") { what = String(what[..<script.lowerBound]) }
            what += " that a queue script (EVALSHA) calls"
        } else {
            return nil
        }
        if let script = what.range(of: " script:") { what = String(what[..<script.lowerBound]) }
        what = what.trimmingCharacters(in: CharacterSet(charactersIn: " .\n"))
        return "orbiter: Redis user '\(user(arguments: arguments, environment: environment))' may not \(what) (NOPERM). "
            + "Grant the rights listed under \"ACL users\" in the README with ACL SETUSER, or use another user in the Redis URL"
    }

    /// The ACL user of the Redis URL this command uses (`--redis-url`, else `ORBITER_REDIS_URL`);
    /// `default` when the URL names none.
    static func user(arguments: [String], environment: [String: String]) -> String {
        var given: String?
        for (i, arg) in arguments.enumerated() {
            if arg == "--redis-url", i + 1 < arguments.count { given = arguments[i + 1] }
            if arg.hasPrefix("--redis-url=") { given = String(arg.dropFirst("--redis-url=".count)) }
        }
        let url = (given ?? environment["ORBITER_REDIS_URL"]).flatMap { try? RedisURL($0) }
        return url?.username ?? "default"
    }
}
