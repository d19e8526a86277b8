import Foundation
import CSandbox
import SandboxCore

/// Serves `run_student` for one grading box: a Unix socket the box sees at
/// /sockets/gradebox.sock. Each connection is one request (a JSON line, with
/// the caller's stdin, stdout and stderr as SCM_RIGHTS descriptors); the
/// student box it asks for is launched by the sandbox with those as its
/// standard streams, and its return code is the reply. While it runs, each
/// further line `{"signal": N}` is a signal the caller got, passed on to the
/// student's program. Requests are served one after another, on a thread of
/// the server's own, until `stop`.
final class RunStudentServer: @unchecked Sendable {
    struct Request {
        var cmd: String
        var environment: String?
        var time_limit: Int
        var hard_time_limit: Int
        var memory_limit: Int
        var share_network: Bool
        var working_dir: String
    }

    /// Launches the student box for a request, with a control for the signals
    /// its caller passes on; returns INGInious's return code, and when the
    /// box's program started (ms after the call) if it did.
    typealias Launch = @Sendable (Request, [Int32], RunControl) -> (retval: Int32, readyMs: Double?)

    /// The longest request line read.
    static let requestLimit = 1 << 20

    private let listener: Int32
    /// Signalled when the request that `stop` waits for is done.
    private let done = DispatchSemaphore(value: 0)
    /// When each request was asked for, its box ready, and its program exited (ms since `origin`).
    private(set) var phases: [JobPhase] = []
    private let lock = NSLock()
    /// Under `lock`: stop was called; a request is being served.
    private var stopping = false
    private var serving = false

    /// Listens at `path` (made connectable by the box's worker).
    init(path: String, launch: @escaping Launch, origin: Date) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw GradingError.sandbox("socket(AF_UNIX) for run_student: \(errnoName(errno))") }
        guard var address = unixAddress(path) else {
            close(fd)
            throw GradingError.sandbox("run_student socket path too long: \(path)")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(path, 0o777) == 0, listen(fd, 8) == 0 else {
            let e = errno
            close(fd)
            throw GradingError.sandbox("bind/listen(\(path)) for run_student: \(errnoName(e))")
        }
        listener = fd
        // The student boxes' later work goes with the job's, when its thread collects it.
        let collector = LaterWork.current
        if case .failure(let error) = startThread("run_student server", { [self] in
            if let collector { collector.collecting { self.serve(launch: launch, origin: origin) } } else { self.serve(launch: launch, origin: origin) }
            close(listener)   // the serving thread's to close: stop does not wait for an idle one
        }) {
            close(fd)
            throw GradingError.sandbox("\(error)")
        }
    }

    /// Stops accepting and waits for the request being served, if any (not
    /// for an idle server's thread to notice: that wait was a sleep and a
    /// wake-up of the job's thread at the end of every job).
    func stop() {
        let busy = lock.withLock { () -> Bool in
            stopping = true
            return serving
        }
        shutdown(listener, Int32(SHUT_RDWR))
        if busy { done.wait() }
    }

    /// Notes `name` now; returns when, in ms since `origin`.
    @discardableResult
    private func note(_ name: String, _ origin: Date, at ms: Double? = nil) -> Double {
        let ms = ms ?? Date().timeIntervalSince(origin) * 1000
        lock.lock()
        phases.append(JobPhase(name, ms: ms))
        lock.unlock()
        return ms
    }

    private func serve(launch: Launch, origin: Date) {
        while true {
            let connection = cs_accept_cloexec(listener)
            if connection < 0 {
                if connection == -EINTR || connection == -ECONNABORTED { continue }
                return   // stopped
            }
            // Taken only while the job has not stopped the server: else it is not waited for.
            guard lock.withLock({ () -> Bool in
                if stopping { return false }
                serving = true
                return true
            }) else {
                close(connection)
                return
            }
            serveOne(connection, launch: launch, origin: origin)
            close(connection)
            let waited = lock.withLock { () -> Bool in
                serving = false
                return stopping
            }
            if waited {
                done.signal()
                return
            }
        }
    }

    /// One run_student request on `connection`: its student box, then the reply.
    private func serveOne(_ connection: Int32, launch: Launch, origin: Date) {
        var fds = [Int32](repeating: -1, count: 3)
        var count: Int32 = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer { cs_recv_with_fds(connection, raw.baseAddress, raw.count, $0.baseAddress, 3, &count) }
        }
        let received = Array(fds.prefix(Int(max(0, count))))
        defer { received.forEach { close($0) } }
        guard n > 0 else { return }
        var line = Array(buffer[0..<n])
        // A request is a line of a few hundred bytes: one that does not end
        // within a MiB is refused, not held in the grader's memory.
        var scanned = 0
        while !line[scanned...].contains(10) {
            scanned = line.count
            guard line.count < Self.requestLimit else { break }
            let more = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if more <= 0 { break }
            line.append(contentsOf: buffer[0..<more])
        }
        let retval: Int32
        if received.count == 3, let request = Request(json: Array(line.prefix { $0 != 10 })) {
            let asked = note("run_student asked", origin)
            let control = RunControl()
            let relay = SignalRelay(connection: connection, control: control, already: Array(line.drop { $0 != 10 }.dropFirst()))
            let launched = launch(request, received, control)
            retval = launched.retval
            relay.stop()
            if let ready = launched.readyMs { note("run_student box ready", origin, at: asked + ready) }
            note("run_student exited", origin)
        } else {
            retval = 254
        }
        let reply = Array("{\"retval\": \(retval)}\n".utf8)
        // MSG_NOSIGNAL: a caller gone is EPIPE, not SIGPIPE (one call, where a write needs the signal mask changed around it).
        _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

/// The address of a Unix socket at `path`; nil when the path is too long for one.
func unixAddress(_ path: String) -> sockaddr_un? {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return address
}

extension RunStudentServer.Request {
    /// The request line gradebox's run_student sends; nil when it is not one.
    init?(json: [UInt8]) {
        guard case .object(let o)? = JSONReader.value(json), case .string(let cmd)? = o["cmd"] else { return nil }
        // As numbers were read before (NSNumber's intValue): a bool is 0 or 1, a fraction is cut.
        func int(_ key: String) -> Int {
            switch o[key] {
            case .number(let d)?: return Int(exactly: d.rounded(.towardZero)) ?? (d < 0 ? Int.min : Int.max)
            case .bool(let b)?: return b ? 1 : 0
            default: return 0
            }
        }
        func string(_ key: String) -> String? {
            if case .string(let s)? = o[key] { return s }
            return nil
        }
        let shareNetwork: Bool
        switch o["share_network"] {
        case .bool(let b)?: shareNetwork = b
        case .number(let d)?: shareNetwork = d != 0
        default: shareNetwork = false
        }
        self.init(cmd: cmd, environment: string("environment"), time_limit: int("time_limit"),
                  hard_time_limit: int("hard_time_limit"), memory_limit: int("memory_limit"),
                  share_network: shareNetwork, working_dir: string("working_dir") ?? "/task")
    }
}

/// Reads `{"signal": N}` lines from a run_student connection while its
/// student box runs, and passes each signal on. One thread serves every
/// connection of the process (`SignalLines`), woken only when a line comes:
/// a Dispatch read source per run_student woke Dispatch's threads four
/// times or more to register and cancel it, for signals that seldom come.
private final class SignalRelay {
    private let connection: Int32
    private let watched: Bool

    init(connection: Int32, control: RunControl, already: [UInt8]) {
        self.connection = connection
        watched = SignalLines.shared?.watch(connection, control: control, already: already) ?? false
    }

    /// Ends the relay (the box has ended); the connection may be closed once this returns.
    func stop() {
        if watched { SignalLines.shared?.unwatch(connection) }
    }
}

/// The thread that reads every run_student connection's signal lines
/// (epoll). A line is handled with the lock held, so once `unwatch`
/// returns no handler runs for that connection any more.
private final class SignalLines: @unchecked Sendable {
    /// nil where no epoll or thread could be had: signals are then not passed on.
    static let shared: SignalLines? = SignalLines()

    private let epoll: Int32
    private let lock = NSLock()
    private var watched: [Int32: (control: RunControl, pending: [UInt8])] = [:]

    private init?() {
        epoll = cs_epoll_new()
        guard epoll >= 0 else { return nil }
        guard case .success = startThread("run_student signal relay", { [self] in serve() }) else {
            close(epoll)
            return nil
        }
    }

    /// Starts passing on `connection`'s signals (first those in `already`, read with the request).
    func watch(_ connection: Int32, control: RunControl, already: [UInt8]) -> Bool {
        lock.withLock {
            watched[connection] = (control, [])
            take(connection, already)
        }
        guard cs_epoll_watch(epoll, connection) == 0 else {
            lock.withLock { _ = watched.removeValue(forKey: connection) }
            return false
        }
        return true
    }

    func unwatch(_ connection: Int32) {
        _ = cs_epoll_unwatch(epoll, connection)
        lock.withLock { _ = watched.removeValue(forKey: connection) }
    }

    private func serve() {
        var ready = [Int32](repeating: -1, count: 16)
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let n = ready.withUnsafeMutableBufferPointer { cs_epoll_ready(epoll, $0.baseAddress, 16, -1) }
            guard n >= 0 else { return }
            for fd in ready.prefix(Int(n)) {
                lock.withLock {
                    // Gone already (unwatched after epoll_wait returned): its number may be another's now.
                    guard watched[fd] != nil else { return }
                    let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    if got < 0 && (errno == EAGAIN || errno == EINTR) { return }
                    guard got > 0 else {
                        // The caller closed its end: nothing more to read until the box ends.
                        _ = cs_epoll_unwatch(epoll, fd)
                        return
                    }
                    take(fd, Array(buffer[0..<got]))
                }
            }
        }
    }

    /// Passes on each whole line's signal (the lock held).
    private func take(_ connection: Int32, _ bytes: [UInt8]) {
        guard var entry = watched[connection] else { return }
        entry.pending.append(contentsOf: bytes)
        // Signal lines are a dozen bytes: a "line" past 4 KiB is dropped, not kept growing.
        if entry.pending.count > 4096, !entry.pending.contains(10) { entry.pending.removeAll() }
        while let end = entry.pending.firstIndex(of: 10) {
            let line = Array(entry.pending[..<end])
            entry.pending.removeSubrange(...end)
            if case .object(let object)? = JSONReader.value(line), case .number(let n)? = object["signal"], n >= 1, n <= 64 {
                _ = entry.control.signal(Int32(n))
            }
        }
        watched[connection] = entry
    }
}

/// INGInious's run_student splits its command as Python's shlex.split does:
/// words on blanks, single and double quotes, backslash escapes; no expansion.
enum ShellWords {
    static func split(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for c in text {
            if escaped {
                current.append(c)
                escaped = false
                inWord = true
                continue
            }
            if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" { escaped = true } else { current.append(c) }
                continue
            }
            switch c {
            case "\\": escaped = true
            case "'", "\"": quote = c; inWord = true
            case " ", "\t", "\n":
                if inWord { words.append(current); current = ""; inWord = false }
            default: current.append(c); inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
