import CSandbox
import CZMQ
import Foundation
import MessagePack
import SandboxCore

/// INGInious's own run_student, served: the stock `inginious_container_api`
/// module an environment image brings (a school's images, built FROM
/// INGInious's base image) asks its container's main process for a student
/// container over ZeroMQ at `ipc:///sockets/main.sock`, and hands the
/// descriptors to that container's `_run_student_intern` over the Unix socket
/// it made at `/sockets/<id>.sock`. The grader is both here: it answers on
/// main.sock (REP), takes the descriptors and the command as the intern
/// would (`H`, then `S` with SCM_RIGHTS, then a msgpack command), starts the
/// student box with them, passes the 3-digit signal numbers it is sent on,
/// and answers the module's `dummy_message` with the return code.
///
/// Only INGInious's shared-kernel path is served (the grader writes
/// /.__input/__shared_kernel, as the Docker agent's containers have it);
/// SSH sessions are not offered.
final class StockRunStudentServer: @unchecked Sendable {
    private let context: UnsafeMutableRawPointer
    private let socket: UnsafeMutableRawPointer
    private let sockets: String
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var stopping = false
    private var serial = 0
    /// When each request was asked for and its program exited (ms since `origin`).
    private(set) var phases: [JobPhase] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Listens at `<sockets>/main.sock` (connectable by the box's worker).
    init(sockets: String, launch: @escaping RunStudentServer.Launch, origin: Date) throws {
        self.sockets = sockets
        guard let context = zmq_ctx_new() else { throw Failure(description: "zmq_ctx_new for run_student") }
        guard let socket = zmq_socket(context, ZMQ_REP) else {
            zmq_ctx_term(context)
            throw Failure(description: "zmq_socket(REP) for run_student")
        }
        var linger: Int32 = 0
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        // The box's requests are small; one of gigabytes would be held in the grader's memory.
        var largest: Int64 = 1 << 20
        zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &largest, MemoryLayout<Int64>.size)
        let path = sockets + "/main.sock"
        guard zmq_bind(socket, "ipc://" + path) == 0, chmod(path, 0o777) == 0 else {
            let why = String(cString: zmq_strerror(zmq_errno()))
            zmq_close(socket)
            zmq_ctx_term(context)
            throw Failure(description: "zmq_bind(ipc://\(path)) for run_student: \(why)")
        }
        self.context = context
        self.socket = socket
        let collector = LaterWork.current
        if case .failure(let error) = startThread("run_student server (stock)", { [self] in
            if let collector { collector.collecting { serve(launch: launch, origin: origin) } } else { serve(launch: launch, origin: origin) }
            done.signal()
        }) {
            zmq_close(socket)
            zmq_ctx_term(context)
            throw Failure(description: "\(error) for run_student")
        }
    }

    /// Stops serving (after the request being served, if any) and closes the socket.
    func stop() {
        lock.withLock { stopping = true }
        // Ends the serving thread's poll at once (ETERM) rather than at its next
        // 50 ms timeout: stop is on the job's path, before its result.
        zmq_ctx_shutdown(context)
        done.wait()
        zmq_close(socket)
        zmq_ctx_term(context)
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    /// Notes `name` now; returns when, in ms since `origin`.
    @discardableResult
    private func note(_ name: String, _ origin: Date, at ms: Double? = nil) -> Double {
        let ms = ms ?? Date().timeIntervalSince(origin) * 1000
        lock.withLock { phases.append(JobPhase(name, ms: ms)) }
        return ms
    }

    private func serve(launch: RunStudentServer.Launch, origin: Date) {
        var retval: Int32?
        while !isStopping {
            var item = zmq_pollitem_t(socket: socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
            guard zmq_poll(&item, 1, 50) > 0 else { continue }
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            guard zmq_msg_recv(&message, socket, ZMQ_DONTWAIT) >= 0 else { continue }
            let bytes = Array(UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: zmq_msg_size(&message)))
            let request = (try? MessagePackValue.decode(bytes)) ?? .nil
            switch request["type"]?.stringValue {
            case "run_student"?:
                serial += 1
                reply(["type": .string("run_student_started"), "container_id": .string("gradebox-student-\(serial)")])
                let asked = note("run_student asked", origin)
                let launched = runStudent(request, launch: launch)
                retval = launched.retval
                if let ready = launched.readyMs { note("run_student box ready", origin, at: asked + ready) }
                note("run_student exited", origin)
            case "dummy_message"?:
                // The module polls with these until the return code comes.
                reply(["type": .string("run_student_retval"), "retval": .int(Int64(retval ?? 254))])
                retval = nil
            default:
                reply(["type": .string("error"), "message": .string("not offered by gradebox")])
            }
        }
    }

    private func reply(_ fields: KeyValuePairs<String, MessagePackValue>) {
        let bytes = MessagePackValue.map(fields.map { (.string($0.key), $0.value) }).encode()
        _ = bytes.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, 0) }
    }

    /// As `_run_student_intern` does in a student container: takes the caller's
    /// descriptors and command from its socket, runs the student box with them.
    private func runStudent(_ request: MessagePackValue, launch: RunStudentServer.Launch) -> (retval: Int32, readyMs: Double?) {
        guard case .string(let id)? = request["socket_id"], !id.isEmpty, !id.contains("/"), !id.hasPrefix(".") else { return (254, nil) }
        guard let (connection, fds, command) = handshake("\(id).sock") else { return (254, nil) }
        defer {
            close(connection)
            fds.forEach { close($0) }
        }
        // Root on a shared kernel: INGInious refuses it the same way.
        if command["user"]?.stringValue == "root" { return (251, nil) }
        func int(_ key: String) -> Int {
            switch request[key] {
            case .int(let i)?: return Int(clamping: i)
            case .uint(let u)?: return Int(clamping: u)
            case .float(let d)? where d.isFinite: return Int(d)
            default: return 0
            }
        }
        let environment = request["environment"]?.stringValue
        let asked = RunStudentServer.Request(
            cmd: command["command"]?.stringValue ?? "", environment: environment, time_limit: int("time_limit"),
            hard_time_limit: int("hard_time_limit"), memory_limit: int("memory_limit"),
            share_network: request["share_network"]?.boolValue ?? false,
            working_dir: command["working_dir"]?.stringValue ?? "/task/student")
        let control = RunControl()
        let signals = StockSignalRelay(connection: connection, control: control)
        let retval = launch(asked, fds, control)
        signals.stop()
        return retval
    }

    /// The socket `name` in the sockets folder, opened without following a
    /// link (O_PATH): the folder is the worker's, and the grader connects as
    /// root on the host, where a symlink there would lead it to any host
    /// socket. nil unless it is a socket.
    private func socketFile(_ name: String) -> Int32? {
        let dir = open(sockets, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return nil }
        defer { close(dir) }
        let fd = openat(dir, name, ImageFS.oPath | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else {
            close(fd)
            return nil
        }
        return fd
    }

    /// `H`, then `S` with three descriptors, then the msgpack command; nil when the caller is not there or says otherwise.
    private func handshake(_ name: String) -> (Int32, [Int32], MessagePackValue)? {
        guard let file = socketFile(name) else { return nil }
        defer { close(file) }
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        // Through the descriptor's own name: the very socket checked above.
        guard var address = unixAddress("/proc/self/fd/\(file)") else { close(fd); return nil }
        // The caller waits in accept(); a caller gone must not hold the grader.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        var hello: UInt8 = UInt8(ascii: "H")
        guard connected == 0, cs_write_nosigpipe(fd, &hello, 1) == 1 else { close(fd); return nil }
        var fds = [Int32](repeating: -1, count: 3)
        var count: Int32 = 0
        var s: UInt8 = 0
        let n = fds.withUnsafeMutableBufferPointer { cs_recv_with_fds(fd, &s, 1, $0.baseAddress, 3, &count) }
        let received = Array(fds.prefix(Int(max(0, count))))
        guard n == 1, s == UInt8(ascii: "S"), received.count == 3 else {
            received.forEach { close($0) }
            close(fd)
            return nil
        }
        // The command: one msgpack map, read until it decodes whole.
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while pending.count < 1 << 20 {
            let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            pending.append(contentsOf: chunk[0..<got])
            if let command = try? MessagePackValue.decode(pending), command["type"]?.stringValue == "run_student_command" {
                var none = timeval()
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, socklen_t(MemoryLayout<timeval>.size))
                return (fd, received, command)
            }
        }
        received.forEach { close($0) }
        close(fd)
        return nil
    }
}

/// The stock module's signals while a student box runs: three ASCII digits
/// each on the connection ("---" or its end: no more), passed on to the program.
private final class StockSignalRelay: @unchecked Sendable {
    private let connection: Int32
    private let done = DispatchSemaphore(value: 0)

    init(connection: Int32, control: RunControl) {
        self.connection = connection
        let relay: @Sendable () -> Void = { [self] in
            var digits: [UInt8] = []
            var byte: UInt8 = 0
            while recv(connection, &byte, 1, 0) == 1 {
                digits.append(byte)
                guard digits.count == 3 else { continue }
                if let sig = Int32(String(decoding: digits, as: UTF8.self)), (1...64).contains(sig) { control.signal(sig) }
                else if digits == Array("---".utf8) { break }
                digits = []
            }
            done.signal()
        }
        // No thread, no relay: the program runs on, unsignalled.
        if case .failure = startThread("run_student signal relay", relay) { done.signal() }
    }

    func stop() {
        shutdown(connection, Int32(SHUT_RD))
        done.wait()
    }
}
