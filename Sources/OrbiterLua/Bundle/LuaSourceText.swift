import Foundation
import OrbiterCore

/// Reading Lua source as stock Lua does, with errors that name the file.
///
/// `lua script.lua` accepts a UTF-8 byte-order mark and a `#!` first line; editors on Windows
/// write the first, executable scripts need the second. Compiled chunks are refused: they can
/// crash the VM, and a worker only ever runs source.
enum LuaSourceText {
    /// The text Lua should compile: a leading BOM dropped, a `#` first line turned into a comment
    /// (so line numbers stay those of the file). Throws for a compiled chunk.
    static func prepared(_ source: String, chunkName: String) throws -> String {
        var text = Substring(source)
        if text.unicodeScalars.first == "\u{FEFF}" { text = Substring(text.unicodeScalars.dropFirst()) }
        if text.utf8.first == 0x1B { throw compiledChunk(chunkName) }
        if text.utf8.first == UInt8(ascii: "#") { return "--" + text }
        return String(text)
    }

    /// The text of a script file, or an error naming the file and what is wrong with it.
    /// - Parameter shownAs: how errors name the file (default: `path`).
    static func read(path: String, shownAs: String? = nil) throws -> String {
        let shown = shownAs ?? path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LuaError(message: "\(shown): no such file")
        }
        if isDirectory.boolValue { throw LuaError(message: "\(shown): is a directory, not a Lua script") }
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.isReadableFile(atPath: path) ? "cannot be read" : "cannot be read (permission denied)"
            throw LuaError(message: "\(shown): \(why)")
        }
        return try decode(Array(data), path: shown)
    }

    /// UTF-8 text, or an error naming the first line and column that is not UTF-8.
    static func decode(_ bytes: [UInt8], path: String) throws -> String {
        if bytes.first == 0x1B { throw compiledChunk(path) }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        let offset = UTF8Text.firstInvalidOffset(bytes) ?? 0
        let lineStart = bytes[..<offset].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        let line = bytes[..<offset].count(where: { $0 == 0x0A }) + 1
        throw LuaError(message: String(format: "%@:%d: not UTF-8 text (byte 0x%02X at column %d); save the file as UTF-8 "
                                       + "(e.g. iconv -f latin1 -t utf-8)", path, line, bytes[offset], offset - lineStart + 1))
    }

    /// Lua's signature byte starts the file: bytecode, which can crash the VM.
    private static func compiledChunk(_ name: String) -> LuaError {
        LuaError(message: "\(name): a compiled Lua chunk; Orbiter loads Lua source only (use the .lua file itself)")
    }
}
