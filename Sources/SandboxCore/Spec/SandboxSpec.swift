#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a user asks for: one box, described as plain values. A spec is
/// planned once (see `Planner`) into the flat values the C core executes.
public struct SandboxSpec: Codable, Sendable, Equatable {
    /// Name of an image in the `ImageStore`, or an absolute path to a rootfs directory.
    public var image: String
    /// argv of the program; argv[0] is looked up in the box's PATH when it has no slash.
    public var command: [String]
    public var environment: [String]
    public var workingDirectory: String
    /// What the working directory is: a fresh writable scratch directory
    /// mounted over it (nil or `.scratch`), or the image's own directory.
    public var workingDirectoryMode: WorkingDirectoryMode?
    public var hostname: String
    public var network: NetworkMode
    public var userNamespace: UserNamespaceMode
    public var rootfs: RootfsMode
    public var limits: Limits
    /// Extra bind mounts from the host, read-only unless `writable`.
    public var mounts: [BindMount]
    /// uid/gid the program runs as inside the box.
    public var user: UserID
    /// Capabilities kept (names like "CAP_NET_BIND_SERVICE"); none by default.
    public var capabilities: [String]
    public var seccomp: Bool
    /// Run the box in this group (`Sandbox.makeGroup`): its own group is made
    /// below it, so the group's limits hold over this box and its siblings
    /// together. nil: a group of its own (or a pool slot's).
    public var group: BoxGroup?

    public init(
        image: String,
        command: [String],
        environment: [String] = SandboxSpec.defaultEnvironment,
        workingDirectory: String = "/tmp",
        workingDirectoryMode: WorkingDirectoryMode? = nil,
        hostname: String = "gradebox",
        network: NetworkMode = .none,
        userNamespace: UserNamespaceMode = .auto,
        rootfs: RootfsMode = .bind,
        limits: Limits = Limits(),
        mounts: [BindMount] = [],
        user: UserID = UserID(uid: 0, gid: 0),
        capabilities: [String] = [],
        seccomp: Bool = true
    ) {
        self.image = image
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.workingDirectoryMode = workingDirectoryMode
        self.hostname = hostname
        self.network = network
        self.userNamespace = userNamespace
        self.rootfs = rootfs
        self.limits = limits
        self.mounts = mounts
        self.user = user
        self.capabilities = capabilities
        self.seccomp = seccomp
        self.group = nil
    }

    public static let defaultEnvironment = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/tmp",
        "LANG=C.UTF-8",
    ]
}

public enum WorkingDirectoryMode: String, Codable, Sendable, CaseIterable {
    /// An empty, writable directory of the box's scratch tmpfs, mounted over the path.
    case scratch
    /// The image's own directory: read-only, or writable with an overlay root.
    case image
}

public enum NetworkMode: String, Codable, Sendable, CaseIterable {
    /// A new network namespace holding only loopback, up.
    case none
    /// The host's network namespace (opt-out of network isolation).
    case host
}

public enum UserNamespaceMode: String, Codable, Sendable, CaseIterable {
    /// A user namespace when not run as root; none as root.
    case auto
    /// Always a user namespace (root inside maps to the caller outside).
    case always
    /// Never; requires root.
    case never
}

public enum RootfsMode: String, Codable, Sendable, CaseIterable {
    /// The image bind-mounted read-only.
    case bind
    /// The image as the lower layer of an overlay with a tmpfs upper layer.
    case overlay
}

public struct BindMount: Codable, Sendable, Equatable {
    public var source: String
    public var target: String
    public var writable: Bool
    public init(source: String, target: String, writable: Bool = false) {
        self.source = source
        self.target = target
        self.writable = writable
    }
}

public struct UserID: Codable, Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

public enum OutputLimitAction: String, Codable, Sendable, CaseIterable {
    /// The box is killed: verdict OLE.
    case kill
    /// The excess is counted and dropped; the program goes on, and its verdict is its own.
    case truncate
}

/// Where a program's stdout or stderr goes.
public enum OutputTarget: Sendable, Equatable {
    /// Kept in the `RunResult`.
    case capture
    /// Written to the caller's open descriptor as it comes (within the limits); the descriptor stays the caller's.
    case descriptor(Int32)
    /// The caller's open descriptor itself is the program's: it writes there
    /// directly, nothing passes through gradebox, and no byte limit applies to
    /// the stream (as INGInious's run_student gives its caller's streams). For
    /// a pipe, socket, FIFO, regular file or character device; anything else
    /// is written to as `descriptor` does. The descriptor stays the caller's.
    case handOver(Int32)
}

/// Resource limits of one box. `nil` means unlimited.
public struct Limits: Codable, Sendable, Equatable {
    /// cgroup memory limit (bytes).
    public var memoryBytes: UInt64?
    /// cgroup memory+swap limit (bytes); defaults to `memoryBytes` (no swap) when memory is limited.
    public var memorySwapBytes: UInt64?
    /// CPU quota in CPUs (0.5 = half a core).
    public var cpus: Double?
    /// Maximum number of tasks in the cgroup.
    public var pids: Int?
    /// CPU time limit (seconds), summed over every process of the box: past it the verdict is TO.
    public var cpuTimeSeconds: Double?
    /// When the box is killed for CPU time (seconds); nil: at `cpuTimeSeconds`. A little
    /// above it lets a judge give slack without letting the program run on.
    public var cpuTimeKillSeconds: Double?
    /// Wall-clock limit (seconds).
    public var wallTimeSeconds: Double?
    /// Bytes of stdout+stderr kept together; past that, `onOutputLimit`.
    public var outputBytes: Int?
    /// Bytes of stdout, of stderr, kept; past either, `onOutputLimit`.
    public var stdoutBytes: Int?
    public var stderrBytes: Int?
    /// What happens past an output limit: the box is killed (OLE, the default), or the rest is
    /// dropped and the program runs on. Optional so that records of older boxes still decode.
    public var onOutputLimit: OutputLimitAction?
    /// Size of the writable tmpfs (/tmp, the working directory, the overlay upper layer).
    public var tmpfsBytes: UInt64
    /// RLIMIT_NOFILE.
    public var openFiles: UInt64
    /// RLIMIT_FSIZE: largest file the program may write (bytes).
    public var fileSizeBytes: UInt64?
    /// RLIMIT_STACK (bytes).
    public var stackBytes: UInt64?

    public init(
        memoryBytes: UInt64? = nil,
        memorySwapBytes: UInt64? = nil,
        cpus: Double? = nil,
        pids: Int? = nil,
        cpuTimeSeconds: Double? = nil,
        wallTimeSeconds: Double? = nil,
        outputBytes: Int? = nil,
        tmpfsBytes: UInt64 = 64 << 20,
        openFiles: UInt64 = 1024,
        fileSizeBytes: UInt64? = nil,
        stackBytes: UInt64? = 8 << 20
    ) {
        self.memoryBytes = memoryBytes
        self.memorySwapBytes = memorySwapBytes
        self.cpus = cpus
        self.pids = pids
        self.cpuTimeSeconds = cpuTimeSeconds
        self.cpuTimeKillSeconds = nil
        self.wallTimeSeconds = wallTimeSeconds
        self.outputBytes = outputBytes
        self.stdoutBytes = nil
        self.stderrBytes = nil
        self.tmpfsBytes = tmpfsBytes
        self.openFiles = openFiles
        self.fileSizeBytes = fileSizeBytes
        self.stackBytes = stackBytes
    }

    /// The CPU time at which the box is killed.
    public var cpuTimeKill: Double? { cpuTimeKillSeconds ?? cpuTimeSeconds }

    /// True when a cgroup is needed to enforce these limits. CPU time is
    /// measured through the cgroup too, so it counts.
    public var needsCgroup: Bool {
        memoryBytes != nil || cpus != nil || pids != nil || cpuTimeSeconds != nil
    }
}
