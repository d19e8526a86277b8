#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import SystemPackage

/// The descriptors of one launch (a box's init, or a program exec'd into a
/// box): the ends the supervisor reads, the ends the child inherits
/// (`descriptors`), /dev/null for stdin, the gate, and the cgroup.procs
/// files to join. A class: the launch's roll-back closes whatever it has
/// opened by then. `closeAll` on every path; it may be called again.
final class LaunchIO: @unchecked Sendable {
    let sys: any Syscalls
    var descriptors = LaunchDescriptors()
    /// Read ends: the init's events (nil when they go to a file), and the output (nil when it goes to files).
    private(set) var events: FileDescriptor?
    private(set) var stdout: FileDescriptor?
    private(set) var stderr: FileDescriptor?
    /// Write end of a warm box's gate: the program message goes here.
    private(set) var gate: FileDescriptor?
    /// Write end of the program's stdin pipe, fed by the supervisor (`LaunchRequest.Input.pipe`).
    private(set) var stdin: FileDescriptor?
    private var owned: [FileDescriptor] = []
    private var childEnds: [FileDescriptor] = []

    init(sys: any Syscalls) { self.sys = sys }

    /// Opens what `r` asks for; on failure, what was opened stays listed for `closeAll`.
    func open(_ r: LaunchRequest, group: CgroupHandle?) throws(SandboxError) {
        let what = r.into != nil ? "exec" : "box"
        if let path = r.eventsFile {
            let fd = try sys.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o600)
            owned.append(fd)
            descriptors.status = fd
        } else {
            let ev = try pipe("\(what) events")
            events = ev.read
            descriptors.status = ev.write
        }
        switch r.output {
        case .pipes:
            // A stream handed over is the caller's descriptor itself; else a pipe we read.
            func stream(_ handed: FileDescriptor?, _ name: String) throws(SandboxError) -> (ours: FileDescriptor?, child: FileDescriptor) {
                if let handed { return (nil, handed) }
                let p = try pipe("\(what) \(name)")
                return (p.read, p.write)
            }
            (stdout, descriptors.stdout) = try stream(r.handedOver.stdout, "stdout")
            (stderr, descriptors.stderr) = try stream(r.handedOver.stderr, "stderr")
        case .files(let outPath, let errPath):
            let out = try sys.open(outPath, O_WRONLY | O_CREAT | O_APPEND, mode: 0o600)
            owned.append(out)
            let err = try sys.open(errPath, O_WRONLY | O_CREAT | O_APPEND, mode: 0o600)
            owned.append(err)
            (descriptors.stdout, descriptors.stderr) = (out, err)
        }
        switch r.stdin {
        case .null:
            let devNull = try sys.open("/dev/null", O_RDONLY)
            owned.append(devNull)
            descriptors.stdin = devNull
        case .inherit(let fd):
            descriptors.stdin = fd
        case .pipe:
            let p = try pipeToChild("\(what) stdin")
            stdin = p.write
            descriptors.stdin = p.read
        }
        switch r.gate {
        case .none: break
        case .fifo(let path):
            try sys.mkfifo(path, mode: 0o600)
            // O_RDWR: a FIFO opened for reading alone would block until a writer appears.
            let fd = try sys.open(path, O_RDWR)
            owned.append(fd)
            descriptors.gate = fd
        case .program:
            let p = try pipeToChild("gate")
            gate = p.write
            descriptors.gate = p.read
            descriptors.gateCarriesProgram = true
        }
        if let procs = r.procs {
            descriptors.cgroupProcs = procs
        } else {
            for path in group?.procsFiles ?? [] {
                let fd = try sys.open(path, O_WRONLY)
                owned.append(fd)
                descriptors.cgroupProcs.append(fd)
            }
        }
        // The host mounts a box copied from a template attaches: opened here,
        // in our mount namespace, where their paths mean something; the
        // child's copies are attached and closed by its init.
        for op in r.plan.ops where op.kind == .attach {
            let fd = try sys.openTree(op.source ?? "", recursive: op.flags & MountFlags.rec != 0, readOnly: op.flags & MountFlags.readOnly != 0)
            childEnds.append(fd)
            descriptors.trees.append(fd)
        }
    }

    /// A pipe whose read end this launch keeps and whose write end the child inherits.
    private func pipe(_ what: String) throws(SandboxError) -> (read: FileDescriptor, write: FileDescriptor) {
        let p = try sys.pipe(what)
        owned.append(p.read)
        childEnds.append(p.write)
        return p
    }

    /// A pipe whose write end this launch keeps and whose read end the child inherits.
    private func pipeToChild(_ what: String) throws(SandboxError) -> (read: FileDescriptor, write: FileDescriptor) {
        let p = try sys.pipe(what)
        owned.append(p.write)
        childEnds.append(p.read)
        return p
    }

    /// The child joins this network namespace; the launch owns `fd` from here on.
    func joinNetwork(_ fd: FileDescriptor) {
        owned.append(fd)
        descriptors.networkNamespace = fd
    }

    /// The child joins the namespace `job` is making, once it is made.
    func joinNetwork(madeBy job: NetworkNamespaceJob) {
        let pipe = job.takePipe()
        childEnds.append(pipe)
        descriptors.networkPipe = pipe
        descriptors.parentPidfd = NetworkNamespaceJob.selfPidfd
    }

    /// After the launch: the parent's copies of the child's ends must go, or
    /// the supervisor never sees end-of-file.
    func closeChildEnds() {
        childEnds.forEach(sys.close)
        childEnds = []
    }

    /// Closes the program's stdin pipe: it reads end of file.
    func closeStdin() {
        guard let fd = stdin else { return }
        stdin = nil
        owned.removeAll { $0 == fd }
        sys.close(fd)
    }

    func closeAll() {
        stdin = nil
        closeChildEnds()
        owned.forEach(sys.close)
        owned = []
    }
}

/// One event from a launch's event pipe, waiting for it; nil at end-of-file.
func readLaunchEvent(_ fd: FileDescriptor?) -> cs_event? {
    guard let fd else { return nil }
    var buffer = [UInt8](repeating: 0, count: MemoryLayout<cs_event>.size)
    var got = 0
    while got < buffer.count {
        let n = buffer.withUnsafeMutableBytes { raw in
            try? Kernel.read(fd.rawValue, into: UnsafeMutableRawBufferPointer(rebasing: raw[got...]), "box events")
        }
        guard let n, n > 0 else { return nil }
        got += n
    }
    return buffer.withUnsafeBytes { $0.loadUnaligned(as: cs_event.self) }
}
