import Crypto
import Foundation

/// What a bearer token may do. Each scope includes the ones before it.
public enum APIScope: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    /// Read tasks, events, results, queues, workers, dead letters, metrics.
    case read
    /// Also submit tasks, cancel them and answer parked ones (reply, approve, reject).
    case submit
    /// Also retry tasks and purge finished ones.
    case admin

    public init?(name: String) {
        switch name.lowercased() {
        case "read": self = .read
        case "submit": self = .submit
        case "admin": self = .admin
        default: return nil
        }
    }

    public var description: String { ["read", "submit", "admin"][rawValue] }
    public static func < (a: APIScope, b: APIScope) -> Bool { a.rawValue < b.rawValue }
}

/// One accepted token: only its SHA-256 is kept, so a memory dump does not give the token away.
public struct APIToken: Sendable {
    public let name: String
    public let scope: APIScope
    /// The queues the token may see (nil: all). A task on another queue is "not found" for it.
    public let queues: Set<String>?
    let digest: [UInt8]

    public init(token: String, scope: APIScope, name: String, queues: Set<String>? = nil) {
        self.name = name
        self.scope = scope
        self.queues = queues
        self.digest = Array(SHA256.hash(data: Data(token.utf8)))
    }

    /// Whether the token may see `queue`.
    public func sees(_ queue: String) -> Bool { queues?.contains(queue) ?? true }
}

/// The tokens a server accepts. A presented token is hashed and compared with every stored
/// digest in constant time (no early exit), so timing tells nothing about how close a guess was.
public struct TokenTable: Sendable {
    public let tokens: [APIToken]

    /// Tokens shorter than this are refused: a guessable token is no lock.
    public static let minimumLength = 16

    public init(_ tokens: [APIToken]) { self.tokens = tokens }

    /// Nobody is asked for a token (only allowed on a loopback address; see `ServerConfiguration`).
    public var isOpen: Bool { tokens.isEmpty }

    /// The token matching `presented`, or nil.
    public func match(_ presented: String) -> APIToken? {
        let digest = Array(SHA256.hash(data: Data(presented.utf8)))
        var found: APIToken?
        for token in tokens {
            var difference: UInt8 = 0
            for (a, b) in zip(token.digest, digest) { difference |= a ^ b }
            if difference == 0 && found == nil { found = token }
        }
        return found
    }

    /// `--token T`: one admin token.
    public static func single(_ token: String) throws -> TokenTable {
        try checkLength(token, where: "--token")
        return TokenTable([APIToken(token: token, scope: .admin, name: "admin")])
    }

    /// A tokens file: one token a line, `TOKEN SCOPE [NAME] [queues=a,b]` (scope read, submit or
    /// admin; NAME for logs, default the line number; `queues=` limits what it sees). Blank
    /// lines and lines starting with `#` are skipped. Errors say `FILE:LINE: message`.
    public static func parse(fileText: String, path: String) throws -> TokenTable {
        var tokens: [APIToken] = []
        var seen = Set<[UInt8]>()
        for (index, raw) in fileText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let place = "\(path):\(index + 1)"
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard words.count >= 2 else { throw TokenFileError("\(place): expected TOKEN SCOPE [NAME] [queues=a,b], got one word") }
            try checkLength(words[0], where: place)
            guard let scope = APIScope(name: words[1]) else {
                throw TokenFileError("\(place): unknown scope '\(words[1].prefix(20))'; use read, submit or admin")
            }
            var name = "line\(index + 1)"
            var queues: Set<String>?
            for word in words.dropFirst(2) {
                if word.hasPrefix("queues=") {
                    let list = word.dropFirst(7).split(separator: ",").map(String.init)
                    guard !list.isEmpty else { throw TokenFileError("\(place): queues= names no queue; give queues=a,b or leave it out") }
                    queues = Set(list)
                } else {
                    name = word
                }
            }
            let token = APIToken(token: words[0], scope: scope, name: name, queues: queues)
            guard seen.insert(token.digest).inserted else { throw TokenFileError("\(place): this token is listed twice") }
            tokens.append(token)
        }
        guard !tokens.isEmpty else { throw TokenFileError("\(path): no tokens (lines TOKEN SCOPE [NAME])") }
        return TokenTable(tokens)
    }

    private static func checkLength(_ token: String, where place: String) throws {
        guard token.count >= minimumLength else {
            throw TokenFileError("\(place): a token must be at least \(minimumLength) characters (e.g. `openssl rand -hex 24`)")
        }
    }
}

/// A tokens file or `--token` that cannot be used.
public struct TokenFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
