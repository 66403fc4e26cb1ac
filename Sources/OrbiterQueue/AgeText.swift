/// Seconds in `90`, `90s`, `30m`, `12h`, `7d`, `500ms`; nil when unreadable or negative. The one
/// reader of ages and delays for the CLI (`--older-than`, `--delay`) and the HTTP API (`older_than`).
public func parseAge(_ text: String) -> Double? {
    if text.hasSuffix("ms") { return Double(text.dropLast(2)).map { $0 / 1000 }.flatMap { $0 >= 0 ? $0 : nil } }
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    if let last = text.last, let unit = units[last] { return Double(text.dropLast()).map { $0 * unit }.flatMap { $0 >= 0 ? $0 : nil } }
    return Double(text).flatMap { $0 >= 0 ? $0 : nil }
}
