/// An API key that never prints itself.
///
/// Providers are values that people log and dump while debugging; keeping the key in a type whose
/// description and mirror are redacted stops it leaking into logs or error text by accident.
struct APIKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let value: String

    init?(_ value: String?) {
        guard let value, !value.isEmpty else { return nil }
        self.value = value
    }

    var description: String { "[redacted]" }
    var debugDescription: String { "[redacted]" }
    var customMirror: Mirror { Mirror(self, children: [:]) }

    /// `text` with every occurrence of the key replaced, for anything that may echo it back.
    func redact(_ text: String) -> String {
        text.replacing(value, with: "[redacted]")
    }
}
