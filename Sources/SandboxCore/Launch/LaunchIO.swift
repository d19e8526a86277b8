#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox

/// The descriptors of one supervised launch (a box's init, or a program
/// exec'd into a box): the pipes the supervisor reads, the ends the child
/// inherits, /dev/null for stdin, and the cgroup.procs files to join.
/// The caller closes it (`closeAll`) on every path.
///
/// With `logs`, the child writes its output to those files (appended)
/// instead of to pipes, and `stdout`/`stderr` are -1: a detached program
/// outlives the launch, so nobody would read a pipe.
struct LaunchIO {
    var descriptors = LaunchDescriptors()
    let events: Int32
    let stdout: Int32
    let stderr: Int32
    private var owned: [Int32] = []
    private var childEnds: [Int32] = []

    init(_ what: String, joining group: CgroupHandle?, logs: (stdout: String, stderr: String)? = nil) throws(SandboxError) {
        var io = LaunchIOParts()
        do throws(SandboxError) {
            let ev = try Kernel.pipe("\(what) events")
            io.add(ev)
            if let logs {
                for (path, isErr) in [(logs.stdout, false), (logs.stderr, true)] {
                    let fd = try Kernel.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o600)
                    io.owned.append(fd)
                    if isErr { io.descriptors.stderr = fd } else { io.descriptors.stdout = fd }
                }
                (stdout, stderr) = (-1, -1)
            } else {
                let out = try Kernel.pipe("\(what) stdout")
                io.add(out)
                let err = try Kernel.pipe("\(what) stderr")
                io.add(err)
                io.descriptors.stdout = out.write
                io.descriptors.stderr = err.write
                (stdout, stderr) = (out.read, err.read)
            }
            let devNull = try Kernel.open("/dev/null", O_RDONLY)
            io.owned.append(devNull)
            io.descriptors.status = ev.write
            io.descriptors.stdin = devNull
            io.descriptors.cgroupProcs = try openProcsFiles(group, into: &io.owned)
            events = ev.read
        } catch {
            io.owned.forEach(Kernel.close)
            io.childEnds.forEach(Kernel.close)
            throw error
        }
        descriptors = io.descriptors
        owned = io.owned
        childEnds = io.childEnds
    }

    /// The child joins the pool slot's network namespace, when the box has no network of its own to make.
    mutating func joinNetwork(of slot: PoolSlot, _ network: NetworkMode) throws(SandboxError) {
        guard network == .none else { return }
        joinNetwork(try Kernel.open(slot.networkNamespace, O_RDONLY))
    }

    /// The child joins this network namespace; the launch owns `fd` from here on.
    mutating func joinNetwork(_ fd: Int32) {
        owned.append(fd)
        descriptors.networkNamespace = fd
    }

    /// The child joins the namespace `job` is making, once it is made.
    mutating func joinNetwork(madeBy job: NetworkNamespaceJob) {
        let pipe = job.takePipe()
        childEnds.append(pipe)
        descriptors.networkPipe = pipe
        descriptors.parentPidfd = NetworkNamespaceJob.selfPidfd
    }

    /// A gate for the child's init: it reads the pipe's other end, this
    /// launch keeps the returned write end (closed by `closeAll`).
    mutating func gate(carryingProgram: Bool) throws(SandboxError) -> Int32 {
        let p = try Kernel.pipe("gate")
        childEnds.append(p.read)
        owned.append(p.write)
        descriptors.gate = p.read
        descriptors.gateCarriesProgram = carryingProgram
        return p.write
    }

    /// After the launch: the parent's copies of the child's ends must go, or
    /// the supervisor never sees end-of-file.
    mutating func closeChildEnds() {
        childEnds.forEach(Kernel.close)
        childEnds = []
    }

    mutating func closeAll() {
        closeChildEnds()
        owned.forEach(Kernel.close)
        owned = []
    }
}

private struct LaunchIOParts {
    var descriptors = LaunchDescriptors()
    var owned: [Int32] = []
    var childEnds: [Int32] = []

    mutating func add(_ pipe: (read: Int32, write: Int32)) {
        owned.append(pipe.read)
        childEnds.append(pipe.write)
    }
}

/// Opens the group's cgroup.procs files for the child to write "0" to;
/// each descriptor is appended to `owned` as soon as it is open.
func openProcsFiles(_ group: CgroupHandle?, into owned: inout [Int32]) throws(SandboxError) -> [Int32] {
    var fds: [Int32] = []
    for path in group?.procsFiles ?? [] {
        let fd = try Kernel.open(path, O_WRONLY)
        owned.append(fd)
        fds.append(fd)
    }
    return fds
}

/// One event from a launch's event pipe, waiting for it; nil at end-of-file.
func readLaunchEvent(_ fd: Int32) -> cs_event? {
    var buffer = [UInt8](repeating: 0, count: MemoryLayout<cs_event>.size)
    var got = 0
    while got < buffer.count {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, $0.count - got) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return nil }
        got += n
    }
    return buffer.withUnsafeBytes { $0.loadUnaligned(as: cs_event.self) }
}

