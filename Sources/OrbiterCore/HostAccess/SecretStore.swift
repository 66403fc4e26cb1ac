import Foundation
import Synchronization

/// The secrets a host gives its scripts (`orbiter.secret(name)`), and the redaction that keeps
/// their values out of everything that leaves a run: events, results, logs, errors, checkpoints.
///
/// A worker holds the secrets it was granted (`--secret`, `--secrets-file`) and redacts all of
/// them everywhere, whether a script asked for them or not. A local run reads the environment
/// and redacts each value once a script has asked for it.
public final class SecretStore: Sendable {
    public enum Source: Sendable {
        /// Granted values by name (a worker's `--secret` and `--secrets-file`).
        case values([String: String])
        /// The process's environment variable of the same name (trusted local runs).
        case environment
        /// No values: a script that is only loaded to be described or submitted gets a placeholder.
        case placeholders
    }

    /// Shorter values would redact ordinary text everywhere, so they are refused.
    public static let minimumLength = 6

    /// A store that gives no secrets and redacts nothing.
    public static let none = SecretStore(checked: .values([:]))
    /// A store that gives placeholders (`<secret NAME>`), for scripts loaded only to be described.
    public static let placeholders = SecretStore(checked: .placeholders)

    private let source: Source
    private let granted: [String: String]
    /// What `redact` replaces: (text to find, replacement), longest first.
    private let patterns: Mutex<[(find: String, replacement: String)]>
    private let hasPatterns: Atomic<Bool>

    /// Refuses granted values shorter than `minimumLength`, naming them.
    public convenience init(_ source: Source) throws {
        if case .values(let values) = source {
            for (name, value) in values.sorted(by: { $0.key < $1.key }) where value.count < Self.minimumLength {
                throw OrbiterError.invalidConfiguration(
                    "secret '\(name)' is \(value.count) characters; secrets shorter than \(Self.minimumLength) cannot be kept out of logs reliably")
            }
        }
        self.init(checked: source)
    }

    private init(checked source: Source) {
        self.source = source
        if case .values(let values) = source { granted = values } else { granted = [:] }
        patterns = Mutex([])
        hasPatterns = Atomic(false)
        for (name, value) in granted { remember(name: name, value: value) }
    }

    /// The names of the granted secrets (none for the environment).
    public var names: [String] { granted.keys.sorted() }

    /// The secret's value; the error says how a host provides it.
    public func value(named name: String) throws -> String {
        switch source {
        case .values:
            guard let value = granted[name] else {
                throw OrbiterError.invalidConfiguration(
                    "secret '\(name)' is not provided by this host (a worker gives secrets with --secret \(name) or --secrets-file FILE)")
            }
            return value
        case .environment:
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw OrbiterError.invalidConfiguration(
                    "secret '\(name)' is not provided by this host (set the environment variable \(name))")
            }
            guard value.count >= Self.minimumLength else {
                throw OrbiterError.invalidConfiguration(
                    "secret '\(name)' is \(value.count) characters; secrets shorter than \(Self.minimumLength) cannot be kept out of logs reliably")
            }
            remember(name: name, value: value)
            return value
        case .placeholders:
            return "<secret \(name)>"
        }
    }

    /// Whether `redact` may change anything (false: it returns its argument).
    public var isEmpty: Bool { !hasPatterns.load(ordering: .acquiring) }

    /// `text` with every known secret value (also as it appears inside JSON text) replaced by
    /// `[redacted:NAME]`.
    public func redact(_ text: String) -> String {
        guard !isEmpty else { return text }
        var result = text
        for (find, replacement) in patterns.withLock({ $0 }) where result.contains(find) {
            result = result.replacing(find, with: replacement)
        }
        return result
    }

    /// Every string (and object key) of `value` redacted.
    public func redact(_ value: JSONValue) -> JSONValue {
        guard !isEmpty else { return value }
        switch value {
        case .string(let s): return .string(redact(s))
        case .array(let items): return .array(items.map { redact($0) })
        case .object(let members):
            return .object(Dictionary(members.map { (redact($0.key), redact($0.value)) }, uniquingKeysWith: { a, _ in a }))
        default: return value
        }
    }

    private func remember(name: String, value: String) {
        guard value.count >= Self.minimumLength else { return }
        let replacement = "[redacted:\(name)]"
        // Inside JSON text a value with quotes, backslashes or control characters is escaped.
        let escaped = String(JSONValue.string(value).jsonString.dropFirst().dropLast())
        patterns.withLock { patterns in
            for find in Set([value, escaped]) where !patterns.contains(where: { $0.find == find }) {
                patterns.append((find, replacement))
            }
            patterns.sort { $0.find.count > $1.find.count }
        }
        hasPatterns.store(true, ordering: .releasing)
    }
}
