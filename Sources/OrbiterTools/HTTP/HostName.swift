/// Host names as the policy compares them.
enum HostName {
    /// Lower case, without the trailing dot of a fully qualified name; IP literals in their
    /// canonical form, without brackets.
    static func normalized(_ host: String) -> String {
        if let address = IPAddress(host) { return address.description }
        var name = host.lowercased()
        if name.hasSuffix("."), name.count > 1 { name.removeLast() }
        return name
    }

    /// Letters, digits, `-` and `_` in dot-separated labels of 1 to 63 characters (a final dot allowed).
    static func isValid(_ name: String) -> Bool {
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count > 1, labels.last == "" { labels.removeLast() }
        guard !labels.isEmpty, name.utf8.count <= 254 else { return false }
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.lowercased().allSatisfy { labelCharacters.contains($0) }
        }
    }

    private static let labelCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789-_")
}
