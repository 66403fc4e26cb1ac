import Foundation
import OrbiterCore

/// The real provider streams and error bodies recorded in `shared/data/provider-transcripts`
/// (next to the repository, or `ORBITER_TRANSCRIPTS`), served as they are by the fake model server.
public enum ProviderTranscripts {
    /// The folder holding the transcripts.
    public static var folder: URL {
        if let path = ProcessInfo.processInfo.environment["ORBITER_TRANSCRIPTS"] { return URL(fileURLWithPath: path) }
        let beside = OrbiterBinary.repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data/provider-transcripts")
        if FileManager.default.fileExists(atPath: beside.path) { return beside }
        return URL(fileURLWithPath: "/work/shared/data/provider-transcripts")
    }

    /// A file's text, its `:` comment lines included (SSE clients skip them).
    public static func text(_ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }

    /// The SSE events of a stream transcript, each `event:`/`data:` block without comments.
    public static func events(_ name: String) throws -> [String] {
        try text(name).components(separatedBy: "\n\n").compactMap { block in
            let lines = block.split(separator: "\n").filter { !$0.hasPrefix(":") }
            return lines.isEmpty ? nil : lines.joined(separator: "\n")
        }
    }
}

extension FakeModelServer.Turn {
    /// A recorded stream, served byte for byte (`.sse`).
    public static func transcript(_ name: String) throws -> Self {
        .stream([FakeModelServer.Chunk(try ProviderTranscripts.text(name))])
    }

    /// A stream made of recorded events, in this order.
    public static func recordedEvents(_ events: [String]) -> Self {
        .stream(events.map { FakeModelServer.Chunk($0 + "\n\n") })
    }
}
