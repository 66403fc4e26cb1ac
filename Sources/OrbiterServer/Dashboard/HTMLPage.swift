import Foundation
import Hummingbird
import HTTPTypes
import NIOCore

/// Server-rendered HTML: escaping, the page frame (its own CSS and JS only, a strict CSP), and
/// small builders for tables.
enum HTMLPage {
    /// Text made safe for element content and quoted attribute values.
    static func esc(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A whole page; `csrf` goes into a meta tag the script reads for its calls.
    static func page(title: String, csrf: String, body: String, status: HTTPResponse.Status = .ok, setCookie: String? = nil) -> Response {
        let html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="csrf" content="\(esc(csrf))">
            <title>\(esc(title)) · Orbiter</title>
            <link rel="stylesheet" href="/ui/app.css">
            <script src="/ui/app.js" defer></script>
            </head>
            <body>
            <header><a href="/" class="brand">Orbiter</a><span class="title">\(esc(title))</span></header>
            <main>
            <p id="message" role="status" aria-live="polite"></p>
            \(body)
            </main>
            </body>
            </html>
            """
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` on the page's
        // own form posts, which the cross-site check would refuse.
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        headers[.cacheControl] = "no-store"
        if let setCookie { headers[.setCookie] = setCookie }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// A 303 to `location`, optionally setting a cookie.
    static func redirect(_ location: String, setCookie: String? = nil) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        if let setCookie { headers[.setCookie] = setCookie }
        return Response(status: .seeOther, headers: headers)
    }

    /// A table in a section with a caption (none: the bare table), header cells and rows of already-escaped cells.
    static func table(_ caption: String, id: String? = nil, headers: [String], rows: [String], empty: String) -> String {
        let (open, close) = caption.isEmpty ? ("", "") : ("<section><h2>\(esc(caption))</h2>", "</section>")
        guard !rows.isEmpty else { return "\(open)<p class=\"empty\">\(esc(empty))</p>\(close)" }
        return """
            \(open)<div class="scroll"><table\(id.map { " id=\"\($0)\"" } ?? "")>
            <thead><tr>\(headers.map { "<th scope=\"col\">\(esc($0))</th>" }.joined())</tr></thead>
            <tbody>\(rows.joined(separator: "\n"))</tbody></table></div>\(close)
            """
    }

    /// `2026-12-02 14:05:09` (UTC) of seconds since 1970, or `-`.
    static func time(_ seconds: Double?) -> String {
        guard let seconds, seconds > 0 else { return "-" }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }
}
