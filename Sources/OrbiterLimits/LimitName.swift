import OrbiterCore

/// What a limit applies to: a provider's model, optionally only the calls made with one API key
/// (named by its environment variable). Written `provider:model` or `provider:model#KEY_VAR`.
public struct LimitName: Sendable, Hashable, CustomStringConvertible {
    public let provider: String
    public let model: String
    /// The environment variable of the key this limit is for; nil for every key.
    public let key: String?

    /// Checks each part; the error says which part is wrong and how a good name looks.
    public init(provider: String, model: String, key: String? = nil) throws {
        func bad(_ why: String) -> OrbiterError {
            .invalidConfiguration("limit name \"\(provider):\(model)\(key.map { "#" + $0 } ?? "")\": \(why); write it provider:model, e.g. openai:gpt-4o-mini")
        }
        guard !provider.isEmpty, provider.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }) else {
            throw bad("the provider must be lower-case letters, digits, '-' or '_'")
        }
        guard !model.isEmpty, model.utf8.count <= 200 else { throw bad("the model must be 1 to 200 bytes") }
        guard model.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && $0 != "#" }) else {
            throw bad("the model must not contain spaces, control characters or '#'")
        }
        if let key {
            let ok = !key.isEmpty && key.utf8.count <= 128 && key.utf8.first.map { !($0 >= 0x30 && $0 <= 0x39) } == true
                && key.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
            guard ok else { throw bad("the key must be an environment variable name (letters, digits, '_', not starting with a digit)") }
        }
        self.provider = provider
        self.model = model
        self.key = key
    }

    /// Parses `provider:model` or `provider:model#KEY_VAR`.
    public init(parsing text: String) throws {
        var rest = Substring(text), key: String?
        if let hash = rest.lastIndex(of: "#") {
            key = String(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
        }
        guard let colon = rest.firstIndex(of: ":") else {
            throw OrbiterError.invalidConfiguration("limit name \"\(text)\" has no provider; write it provider:model, e.g. openai:gpt-4o-mini")
        }
        try self.init(provider: String(rest[..<colon]), model: String(rest[rest.index(after: colon)...]), key: key)
    }

    /// The same model for every key.
    public var withoutKey: LimitName { (try? LimitName(provider: provider, model: model)) ?? self }

    public var description: String { "\(provider):\(model)" + (key.map { "#" + $0 } ?? "") }
}

/// The limiter's keys. All share the hash tag `{orbiter:limits}`, so every script touches one
/// slot (and stays valid on Redis Cluster); a limit's state is one hash.
public enum LimitKeys {
    public static let tag = "{orbiter:limits}"
    /// The set of every limit's name (`orbiter limits list`).
    public static let index = tag + ":models"
    /// One limit: its settings (`rpm`, `itpm`, `otpm`, `tpm`, `period_ms`, `out_est`) and state
    /// (`tat_<dim>`, `blocked_until`, `rejections`).
    public static func limit(_ name: LimitName) -> String { tag + ":m:" + name.description }
}
