import Foundation
import OrbiterCore

/// A `--secrets-file`: a JSON object of names to string values, or `NAME=value` lines (blank
/// lines and `#` comments skipped, one pair of surrounding quotes removed). Errors name the file
/// and line; values never appear in them.
enum SecretsFile {
    static func load(path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIFailure.usage("orbiter: --secrets-file \(path): cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIFailure.usage("orbiter: --secrets-file \(path): not UTF-8 text")
        }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
           let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            Terminal.error("orbiter: warning: \(path) can be read by other users (mode \(String(mode, radix: 8))); chmod 600 it")
        }
        if text.drop(while: \.isWhitespace).hasPrefix("{") {
            return try json(text, path: path)
        }
        var values: [String: String] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let place = "\(path):\(index + 1)"
            guard let equals = line.firstIndex(of: "=") else {
                throw CLIFailure.usage("orbiter: \(place): expected NAME=value")
            }
            var name = line[..<equals].trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("export ") { name = String(name.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard isName(name) else { throw CLIFailure.usage("orbiter: \(place): '\(name)' is not a secret name (letters, digits, '_')") }
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            if values[name] != nil { throw CLIFailure.usage("orbiter: \(place): secret '\(name)' is given twice") }
            values[name] = value
        }
        return values
    }

    private static func json(_ text: String, path: String) throws -> [String: String] {
        guard let object = (try? JSONValue.parse(text))?.objectValue else {
            throw CLIFailure.usage("orbiter: --secrets-file \(path): not a JSON object of \"NAME\": \"value\"")
        }
        var values: [String: String] = [:]
        for (name, value) in object {
            guard isName(name) else { throw CLIFailure.usage("orbiter: \(path): '\(name)' is not a secret name (letters, digits, '_')") }
            guard let string = value.stringValue else { throw CLIFailure.usage("orbiter: \(path): the value of '\(name)' must be a string") }
            values[name] = string
        }
        return values
    }

    private static func isName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
