import MessagePack
import CZMQ
import Foundation

/// A ZeroMQ DEALER connected to INGInious's back-end (its ROUTER for
/// agents), through Debian's libzmq: one frame per message, as INGInious's
/// `ZMQUtils.send` and `recv` use them. Not thread-safe, as ZeroMQ sockets
/// are not: one thread at a time uses it (the agent holds a lock around
/// every call), and it may be a different one each time.
final class DealerSocket {
    private let context: UnsafeMutableRawPointer
    private var socket: UnsafeMutableRawPointer?
    let address: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: zmq_strerror(zmq_errno())))")
    }

    init(connectingTo address: String) throws {
        self.address = address
        guard let context = zmq_ctx_new() else { throw Self.failure("zmq_ctx_new") }
        self.context = context
        do {
            try open()
        } catch {
            zmq_ctx_term(context)
            throw error
        }
    }

    private func open() throws {
        guard let socket = zmq_socket(context, ZMQ_DEALER) else { throw Self.failure("zmq_socket(DEALER)") }
        // Unsent messages are dropped at close: a restarted agent says hello
        // afresh, and the back-end has crashed the old connection's jobs.
        var linger: Int32 = 0
        var ipv6: Int32 = 1
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        zmq_setsockopt(socket, ZMQ_IPV6, &ipv6, MemoryLayout<Int32>.size)
        guard zmq_connect(socket, address) == 0 else {
            zmq_close(socket)
            throw Self.failure("zmq_connect(\(address))")
        }
        self.socket = socket
    }

    /// A new socket to the same back-end (INGInious's agent reconnects when the back-end has been silent too long).
    func reconnect() throws {
        if let socket { zmq_close(socket) }
        socket = nil
        try open()
    }

    func close() {
        if let socket { zmq_close(socket) }
        socket = nil
        zmq_ctx_term(context)
    }

    /// Queues one single-frame message (ZeroMQ sends it from its own thread).
    func send(_ bytes: [UInt8]) throws {
        let rc = bytes.withUnsafeBytes { raw in
            zmq_send(socket, raw.baseAddress, raw.count, 0)
        }
        if rc < 0 { throw Self.failure("zmq_send to \(address)") }
    }

    /// The next message's frames, or nil when none is waiting.
    func receive() throws -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            if zmq_msg_recv(&message, socket, frames.isEmpty ? ZMQ_DONTWAIT : 0) < 0 {
                if zmq_errno() == EAGAIN && frames.isEmpty { return nil }
                if zmq_errno() == EINTR { continue }
                throw Self.failure("zmq_msg_recv from \(address)")
            }
            let size = zmq_msg_size(&message)
            let data = zmq_msg_data(&message)
            frames.append(size == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: size)))
            if zmq_msg_more(&message) == 0 { return frames }
        }
    }

    /// ZeroMQ's descriptor for the socket (ZMQ_FD): readable when the
    /// socket's state may have changed, edge-triggered: any call on the
    /// socket may take that notice, so whoever makes one then asks
    /// `hasIncoming` before anyone sleeps on this descriptor again.
    var descriptor: Int32 {
        var fd: Int32 = -1
        var size = MemoryLayout<Int32>.size
        zmq_getsockopt(socket, ZMQ_FD, &fd, &size)
        return fd
    }

    /// Whether a message is waiting (ZMQ_EVENTS), reading ZeroMQ's notices meanwhile.
    var hasIncoming: Bool {
        var events: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(socket, ZMQ_EVENTS, &events, &size) == 0 else { return false }
        return events & Int32(ZMQ_POLLIN) != 0
    }
}
