import Foundation
import OrbiterClient
import OrbiterCore

/// The inputs of `orbiter submit --batch FILE`: JSON Lines, one task a line — a JSON string (the
/// input), or an object `{"input": "...", "metadata": {...}, "idempotency_key": "..."}`. Blank
/// lines are skipped. The whole file is checked before anything is submitted: one bad line
/// refuses the batch, and every bad line is reported as `FILE:LINE: message`.
struct BatchInputFile {
    /// The name errors give the file (`<stdin>` for `-`).
    let name: String
    /// Each input with its line number (from 1).
    let inputs: [(line: Int, input: BatchInput)]

    /// At most this many bad lines are listed (then how many more there were).
    static let maxReported = 20

    /// Reads `path` (`-`: stdin); throws a usage failure listing the bad lines.
    static func read(_ path: String) throws -> BatchInputFile {
        let name = path == "-" ? "<stdin>" : path
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let read = FileManager.default.contents(atPath: path) else {
                throw CLIFailure.usage("orbiter: --batch \(path): no such file (or not readable)")
            }
            data = read
        }
        return try parse(data, name: name)
    }

    static func parse(_ data: Data, name: String) throws -> BatchInputFile {
        var inputs: [(line: Int, input: BatchInput)] = []
        var errors: [String] = []
        var keys: [String: (line: Int, input: String)] = [:]
        for (index, bytes) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            do {
                guard let item = try parseLine(Data(bytes)) else { continue }
                if let key = item.idempotencyKey {
                    if let earlier = keys[key], earlier.input != item.input {
                        throw LineError("idempotency_key '\(key)' is also on line \(earlier.line) with another input")
                    }
                    keys[key] = (line, item.input)
                }
                inputs.append((line, item))
            } catch let error as LineError {
                errors.append("\(name):\(line): \(error.message)")
            }
        }
        if !errors.isEmpty {
            var lines = errors.prefix(maxReported).map { $0 }
            if errors.count > maxReported { lines.append("… and \(errors.count - maxReported) more bad lines") }
            lines.append("orbiter: nothing was submitted: fix the \(errors.count == 1 ? "line" : "lines") above and submit the batch again")
            throw CLIFailure.usage(lines.joined(separator: "\n"))
        }
        guard !inputs.isEmpty else {
            throw CLIFailure.usage("orbiter: --batch \(name) holds no inputs (one JSON string or {\"input\": ...} object a line)")
        }
        return BatchInputFile(name: name, inputs: inputs)
    }

    private struct LineError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// One line's input; nil for a blank line.
    private static func parseLine(_ bytes: Data) throws -> BatchInput? {
        guard var text = String(validating: bytes, as: UTF8.self) else {
            let offset = UTF8Text.firstInvalidOffset(Array(bytes)) ?? 0
            throw LineError(String(format: "not UTF-8 text (byte 0x%02X at column %d)", Array(bytes)[offset], offset + 1))
        }
        if text.hasSuffix("\r") { text.removeLast() }
        if text.allSatisfy(\.isWhitespace) { return nil }
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch {
            throw LineError("not JSON (\(error)); each line is a JSON string, or an object {\"input\": \"...\"}")
        }
        if let input = json.stringValue { return BatchInput(input) }
        guard let object = json.objectValue else {
            throw LineError("expected a JSON string or an object {\"input\": \"...\"}, got \(kind(json))")
        }
        for key in object.keys.sorted() where !["input", "metadata", "idempotency_key"].contains(key) {
            throw LineError("unknown field '\(key)' (a line has input, metadata, idempotency_key)")
        }
        guard let inputValue = object["input"] else { throw LineError("field 'input' is missing") }
        guard let input = inputValue.stringValue else { throw LineError("field 'input' must be a string, got \(kind(inputValue))") }
        var metadata: [String: String] = [:]
        if let value = object["metadata"], !value.isNull {
            guard let members = value.objectValue else { throw LineError("field 'metadata' must be an object, got \(kind(value))") }
            for (key, member) in members {
                guard !key.isEmpty else { throw LineError("metadata has an empty key") }
                switch member {
                case .string(let s): metadata[key] = s
                case .int, .double, .bool: metadata[key] = member.jsonString
                default: throw LineError("metadata.\(key) must be a string, number or boolean, got \(kind(member))")
                }
            }
        }
        var key: String?
        if let value = object["idempotency_key"], !value.isNull {
            guard let k = value.stringValue, !k.allSatisfy(\.isWhitespace) else {
                throw LineError("field 'idempotency_key' must be a non-empty string")
            }
            key = k
        }
        return BatchInput(input, metadata: metadata, idempotencyKey: key)
    }

    private static func kind(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
