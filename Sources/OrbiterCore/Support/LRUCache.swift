import Synchronization

/// A bounded cache that evicts the least recently used entry, safe to share between tasks.
///
/// For what a worker keeps per script (Lua states, bundles): a busy worker's few scripts stay
/// cached however many others pass through, where clearing everything at the bound would reload
/// them all at once.
public final class LRUCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Storage {
        var values: [Key: (value: Value, used: UInt64)] = [:]
        var clock: UInt64 = 0
    }

    private let storage = Mutex(Storage())
    /// Entries kept at most.
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity > 0, "an LRU cache needs room for one entry")
        self.capacity = capacity
    }

    /// The value for `key`, marking it used.
    public subscript(key: Key) -> Value? {
        storage.withLock { s in
            guard let entry = s.values[key] else { return nil }
            s.clock += 1
            s.values[key] = (entry.value, s.clock)
            return entry.value
        }
    }

    /// Stores `value` unless `key` already has one; returns the value now cached (the earlier one
    /// when two tasks raced to load the same key). Evicts the least recently used entry when full.
    @discardableResult
    public func insert(_ value: Value, for key: Key) -> Value {
        storage.withLock { s in
            s.clock += 1
            if let existing = s.values[key] {
                s.values[key] = (existing.value, s.clock)
                return existing.value
            }
            if s.values.count >= capacity, let oldest = s.values.min(by: { $0.value.used < $1.value.used })?.key {
                s.values[oldest] = nil
            }
            s.values[key] = (value, s.clock)
            return value
        }
    }

    /// Entries held now.
    public var count: Int { storage.withLock { $0.values.count } }
}
