import Foundation

/// Turns a final answer into the JSON value its schema asks for.
enum OutputDecoding {
    /// The answer decoded and checked, or a message (naming JSON paths) saying what is wrong.
    /// A Markdown code fence around the JSON (```json … ```) is tolerated: models add them.
    static func decode(_ text: String, against schema: JSONSchema) -> Result<JSONValue, OutputProblem> {
        let body = unfenced(text)
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            let shown = body.count > 80 ? String(body.prefix(79)) + "…" : body
            return .failure(OutputProblem(message: "the answer is not JSON (\(error)): \(JSONValue.string(shown).jsonString)"))
        }
        let violations = schema.violations(of: value, limit: 5)
        guard violations.isEmpty else {
            return .failure(OutputProblem(message: violations.map(\.description).joined(separator: "; ")))
        }
        return .success(value)
    }

    /// The text inside one surrounding code fence, else the text trimmed.
    static func unfenced(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("```"), trimmed.hasSuffix("```"), trimmed.count >= 6,
              let firstBreak = trimmed.firstIndex(of: "\n") else { return trimmed }
        let inner = trimmed[trimmed.index(after: firstBreak)..<trimmed.index(trimmed.endIndex, offsetBy: -3)]
        return inner.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Why an answer was not accepted as structured output.
struct OutputProblem: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
