/// Small helpers for the base URLs people type into environment variables.
enum URLJoin {
    /// `http://host:1234/v1/` → `http://host:1234/v1`, so paths can be appended blindly.
    static func trimmingTrailingSlash(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// `OLLAMA_HOST` as Ollama itself accepts it: `host`, `host:port` or a full URL.
    static func ollamaBase(_ host: String) -> String {
        var host = trimmingTrailingSlash(host)
        if !host.contains("://") { host = "http://" + host }
        let afterScheme = host.split(separator: "://", maxSplits: 1).last ?? ""
        if !afterScheme.contains(":") { host += ":11434" }
        return host
    }
}
