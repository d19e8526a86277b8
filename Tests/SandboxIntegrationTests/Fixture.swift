import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SandboxCore

/// What the host offers, for gating tests (and saying why they are skipped).
enum Host {
    static let isRoot = geteuid() == 0
    static let hasBusybox = access("/bin/busybox", X_OK) == 0
    static let canRunBoxes = isRoot && hasBusybox
    static let cgroupV1 = access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0
    static let skipReason: Comment = "needs root and busybox-static (apt-get install busybox-static): CI runs as root and installs it"
}

/// One minimal image and one state directory for the whole test run.
actor Fixture {
    static let shared = Fixture()
    // A task, not a value: the actor is re-entered while the build awaits,
    // and every caller must wait for the one build.
    private var building: Task<Sandbox, Error>?

    func sandbox() async throws -> Sandbox {
        if let building { return try await building.value }
        let task = Task { () throws -> Sandbox in
            Self.removeEarlierRuns()
            let base = "/tmp/gradebox-itest-\(getpid())"
            mkdir(base, 0o755)
            let store = ImageStore(directory: base + "/images")
            _ = try await store.build(.minimal, name: "minimal", replace: true, progress: nil)
            return Sandbox(stateDirectory: base + "/state", images: store)
        }
        building = task
        return try await task.value
    }

    /// What earlier test processes, now gone, left under /tmp: each run's
    /// state directories keep pool namespaces and mount templates bound (on
    /// purpose, for the run), and nothing ends a test process's run for it.
    /// Every copy of the host's mounts costs a box, so they must not pile up.
    static func removeEarlierRuns() {
        let prefix = "gradebox-itest-"
        for entry in (try? Kernel.directoryEntries("/tmp")) ?? [] where entry.name.hasPrefix(prefix) {
            guard let pid = Int32(entry.name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            let base = "/tmp/" + entry.name
            let mounts = MountInfo.parse(Kernel.readText("/proc/self/mountinfo") ?? "").map(\.mountPoint)
                .filter { $0.hasPrefix(base + "/") }
            for m in mounts.sorted(by: >) { umount2(m, Int32(MNT_DETACH)) }
            if let rm = try? spawnProcess(["/bin/rm", "-rf", "--one-file-system", base]) { _ = waitStatus(rm) }
        }
    }

    /// The same images under a state directory of its own: suites that run
    /// in parallel then never see each other's cgroups in their leftover checks.
    func sandbox(state: String) async throws -> Sandbox {
        let shared = try await sandbox()
        return Sandbox(stateDirectory: shared.stateDirectory + "-" + state, images: shared.images)
    }
}

func run(_ sandbox: Sandbox, _ command: [String], _ edit: (inout SandboxSpec) -> Void = { _ in }) throws -> RunResult {
    var spec = SandboxSpec(image: "minimal", command: command)
    edit(&spec)
    return try sandbox.runBlocking(spec)
}

func shell(_ sandbox: Sandbox, _ script: String, _ edit: (inout SandboxSpec) -> Void = { _ in }) throws -> RunResult {
    try run(sandbox, ["/bin/sh", "-c", script], edit)
}

extension RunResult {
    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
}

/// Host-side traces a box of `sandbox` could leave: its cgroups, mounts
/// under its state directory, network namespaces. Other suites run boxes
/// and daemons at the same time, so only this sandbox's own traces count.
struct HostTraces: Equatable {
    var cgroups: [String]
    var mounts: [String]
    var netns: Set<String>

    static func now(_ sandbox: Sandbox) throws -> HostTraces {
        let runtime = try Runtime.shared(sandbox.stateDirectory)
        let prefix = runtime.groupPrefix
        var groups: [String] = []
        for (label, parent) in gradeboxCgroupParents(runtime) {
            for entry in (try? Kernel.directoryEntries(parent)) ?? [] where entry.name.hasPrefix(prefix) {
                groups.append("\(label)/\(entry.name)")
            }
        }
        let mounts = (Kernel.readText("/proc/self/mountinfo") ?? "").split(separator: "\n")
            // The pool's namespaces and the images' mount templates are kept on purpose.
            .filter { $0.contains(sandbox.stateDirectory) && !$0.contains("/pool/net-") && !$0.contains("/templates/") }.map(String.init)
        // Every thread's, not only every process's: a cold box's network
        // namespace is made on a thread of the caller (NetworkNamespaceJob).
        var netns = Set<String>()
        for entry in (try? Kernel.directoryEntries("/proc")) ?? [] where Int(entry.name) != nil {
            for task in (try? Kernel.directoryEntries("/proc/\(entry.name)/task")) ?? [] {
                var buf = [CChar](repeating: 0, count: 64)
                let n = readlink("/proc/\(entry.name)/task/\(task.name)/ns/net", &buf, 63)
                if n > 0 { netns.insert(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
            }
        }
        return HostTraces(cgroups: groups.sorted(), mounts: mounts, netns: netns)
    }
}

/// gradebox's parent groups where this runtime's driver makes boxes' groups,
/// labelled: one per v1 hierarchy, or the one v2 parent (below the cgroup
/// delegated to the caller when it is not root).
func gradeboxCgroupParents(_ runtime: Runtime) -> [(label: String, path: String)] {
    if let v2 = runtime.cgroups as? CgroupV2 { return [("v2", v2.parent)] }
    return ["memory", "cpu", "pids", "cpuacct", "freezer"].map { ($0, "/sys/fs/cgroup/\($0)/gradebox") }
}

/// The directory of the box group `name` (its pids hierarchy's on v1).
func cgroupDirectory(_ runtime: Runtime, _ name: String) -> String {
    if let v2 = runtime.cgroups as? CgroupV2 { return "\(v2.parent)/\(name)" }
    return "/sys/fs/cgroup/pids/gradebox/\(name)"
}

/// A fresh directory under /tmp for one test.
func temporaryDirectory(_ label: String) throws -> String {
    var template = Array("/tmp/gradebox-\(label)-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw SandboxError.syscall("mkdtemp(\(label))", errno: errno) }
    return String(cString: made)
}

func writeFile(_ path: String, _ text: String) throws {
    let fd = try Kernel.open(path, O_WRONLY | O_CREAT | O_TRUNC)
    defer { Kernel.close(fd) }
    try Kernel.writeAll(fd, Array(text.utf8), path)
}

/// posix_spawn(3) of `argv` with the environment of this process.
func spawnProcess(_ argv: [String]) throws -> pid_t {
    var pid: pid_t = 0
    let cArgs = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    let rc = posix_spawn(&pid, argv[0], nil, nil, cArgs, environ)
    guard rc == 0 else { throw SandboxError.syscall("posix_spawn(\(argv[0]))", errno: rc) }
    return pid
}

/// waitpid(2); returns the raw status.
func waitStatus(_ pid: pid_t) -> Int32 {
    // -1 (never a wait status of a normal exit) when there was nothing to wait for.
    var status: Int32 = -1
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status
}
