import Foundation

/// A pseudo-terminal for a process to ask a person on: the process gets it as its controlling
/// terminal (`/dev/tty`) while its stdin, stdout and stderr stay pipes, so a test can tell what
/// was read from the terminal from what was read from stdin. The test plays the person: it reads
/// what the process wrote on the terminal and types lines.
public final class PseudoTerminal: @unchecked Sendable {
    private let master: Int32
    /// The test holds the terminal open too: a master with no open terminal side reads EIO.
    private let keeper: Int32
    /// `/dev/pts/N`.
    public let path: String
    private let lock = NSLock()
    private var written = Data()

    public init() throws {
        // posix_openpt, unlockpt and ptsname, which Swift's Glibc does not import: /dev/ptmx and
        // two ioctls (TIOCSPTLCK, TIOCGPTN; the same numbers on x86_64 and arm64 Linux).
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: CInt = 0
        var number: CUnsignedInt = 0
        guard master >= 0, ioctl(master, 0x4004_5431, &unlock) == 0, ioctl(master, 0x8004_5430, &number) == 0 else {
            throw TestFailure("cannot open a pseudo-terminal (errno \(errno))")
        }
        path = "/dev/pts/\(number)"
        keeper = open(path, O_RDWR | O_NOCTTY)
        let thread = Thread { [master, weak self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(master, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                guard n > 0, let self else { return } // EIO once no process holds the terminal
                self.lock.lock(); self.written.append(contentsOf: buffer[0..<n]); self.lock.unlock()
            }
        }
        thread.start()
    }

    deinit {
        close(keeper) // the reader then reads EIO (once the process is gone too) and ends
        close(master)
    }

    /// Everything shown on the terminal so far (prompts and the echo of what was typed).
    public var screen: String { lock.lock(); defer { lock.unlock() }; return String(decoding: written, as: UTF8.self) }

    /// Types `line` and Enter.
    public func type(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBufferPointer { write(master, $0.baseAddress, $0.count) }
    }

    /// Waits until the screen contains `text`.
    public func waitFor(_ text: String, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !screen.contains(text) {
            guard ContinuousClock.now < deadline else { throw TestFailure("the terminal never showed \"\(text)\"; it shows: \(screen)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

extension OrbiterBinary {
    /// Starts `orbiter args...` in a session of its own whose controlling terminal is `terminal`
    /// (`setsid`, then the terminal opened as descriptor 3); stdin gets `stdin` and is closed.
    public static func start(_ args: [String], on terminal: PseudoTerminal, stdin: String? = nil,
                             environment: [String: String] = [:]) throws -> Running {
        let (running, input) = try launch(["-w", "/bin/bash", "-c", #"exec 3<>"$ORBITER_TEST_TTY"; exec "$0" "$@""#, path] + args,
                                          environment: environment.merging(["ORBITER_TEST_TTY": terminal.path]) { $1 },
                                          through: "/usr/bin/setsid")
        if let stdin { input.write(Data(stdin.utf8)) }
        try? input.close()
        return running
    }

    /// Runs `orbiter args...` in a session of its own with no controlling terminal at all (as
    /// under a service manager or in CI); stdin gets `stdin`.
    public static func runWithoutTerminal(_ args: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws -> Outcome {
        let (running, input) = try launch(["-w", path] + args, environment: environment, through: "/usr/bin/setsid")
        if let stdin { input.write(Data(stdin.utf8)) }
        try? input.close()
        return try await running.finish()
    }
}
