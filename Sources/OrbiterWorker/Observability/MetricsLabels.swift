import Synchronization

/// Which tool and model names become Prometheus label values.
///
/// Tool and model names arrive in task payloads, which anyone who can submit a task writes; as
/// label values they would let a submitter create any number of series. A worker labels names it
/// knows from its own configuration (its host tools and tool folder, `knownModels`) plus the
/// first `limit` other distinct names of each label it sees; every later name, and any name longer
/// than `maxLength` bytes, is counted as `other`.
public struct MetricsLabelPolicy: Sendable, Hashable {
    /// Distinct unconfigured names per label (tool, model) that get a series of their own.
    public var limit: Int
    /// Models (`provider:model`, as agents name them) always labelled by name.
    public var knownModels: Set<String>
    /// Longer names are `other` unless known.
    public var maxLength: Int

    public init(limit: Int = 100, knownModels: Set<String> = [], maxLength: Int = 128) {
        self.limit = max(0, limit)
        self.knownModels = knownModels
        self.maxLength = maxLength
    }

    /// The value that stands for every name beyond the limit.
    public static let other = "other"
}

/// The label values of one label: known names, then the first `limit` others, then `other`.
final class BoundedLabel: Sendable {
    private let limit: Int
    private let maxLength: Int
    private let isKnown: @Sendable (String) -> Bool
    private let admitted = Mutex<Set<String>>([])

    init(limit: Int, maxLength: Int, isKnown: @escaping @Sendable (String) -> Bool) {
        self.limit = limit
        self.maxLength = maxLength
        self.isKnown = isKnown
    }

    func value(for name: String) -> String {
        if isKnown(name) { return name }
        guard name.utf8.count <= maxLength, name != MetricsLabelPolicy.other else { return MetricsLabelPolicy.other }
        return admitted.withLock { seen in
            if seen.contains(name) { return name }
            guard seen.count < limit else { return MetricsLabelPolicy.other }
            seen.insert(name)
            return name
        }
    }
}
