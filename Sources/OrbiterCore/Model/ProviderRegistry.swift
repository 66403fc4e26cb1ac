import Synchronization

/// Makes a provider for one model id with an agent's settings.
public typealias ProviderFactory = @Sendable (_ model: String, _ settings: ModelSettings) throws -> any ModelProvider

/// Maps the `provider` part of `"provider:model"` to a factory.
///
/// The CLI registers the built-in HTTP providers at start; a Swift program may add its own under
/// any name. Lookups happen once per agent run, so a lock is cheap enough.
public final class ProviderRegistry: Sendable {
    /// The process-wide registry used by the runner.
    public static let shared = ProviderRegistry()

    private let factories = Mutex<[String: ProviderFactory]>([:])

    public init() {}

    /// Adds or replaces the provider called `name`.
    public func register(_ name: String, factory: @escaping ProviderFactory) {
        factories.withLock { $0[name] = factory }
    }

    /// Names of all registered providers, sorted.
    public var names: [String] { factories.withLock { $0.keys.sorted() } }

    /// Whether `name` is registered.
    public func contains(_ name: String) -> Bool { factories.withLock { $0[name] != nil } }

    /// Resolves `"provider:model"`; an unknown provider is an error listing the known ones.
    public func provider(for qualifiedModel: String, settings: ModelSettings = ModelSettings()) throws -> any ModelProvider {
        let (provider, model) = try Self.split(qualifiedModel)
        guard let factory = factories.withLock({ $0[provider] }) else {
            let known = names
            throw OrbiterError.invalidConfiguration(
                "unknown model provider '\(provider)' in \"\(qualifiedModel)\"; known providers: "
                + (known.isEmpty ? "(none registered)" : known.joined(separator: ", ")))
        }
        return try factory(model, settings)
    }

    /// A new registry whose providers are this one's, each passed through `wrap` when it is made
    /// (`provider` is the registered name, e.g. `openai`). A worker wraps its providers in a
    /// shared rate limiter this way; providers registered here later are not copied.
    public func decorated(by wrap: @escaping @Sendable (_ provider: String, _ model: String, _ settings: ModelSettings,
                                                        _ inner: any ModelProvider) -> any ModelProvider) -> ProviderRegistry {
        let copy = ProviderRegistry()
        for (name, factory) in factories.withLock({ $0 }) {
            copy.register(name) { model, settings in wrap(name, model, settings, try factory(model, settings)) }
        }
        return copy
    }

    /// Splits on the first colon: `"openai:gpt-4o"` → (`openai`, `gpt-4o`).
    public static func split(_ qualifiedModel: String) throws -> (provider: String, model: String) {
        guard let colon = qualifiedModel.firstIndex(of: ":"), colon != qualifiedModel.startIndex,
              qualifiedModel.index(after: colon) != qualifiedModel.endIndex else {
            throw OrbiterError.invalidConfiguration(
                "model \"\(qualifiedModel)\" must be written \"provider:model\", e.g. \"openai:gpt-4o\"")
        }
        return (String(qualifiedModel[..<colon]), String(qualifiedModel[qualifiedModel.index(after: colon)...]))
    }
}
