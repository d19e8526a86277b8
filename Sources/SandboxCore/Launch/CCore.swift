#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import SystemPackage

/// The descriptors a launch hands to the C core, owned by the caller (`LaunchIO`).
package struct LaunchDescriptors {
    package var stdin: FileDescriptor?
    package var stdout: FileDescriptor?
    package var stderr: FileDescriptor?
    /// Where the box's init reports its events.
    package var status: FileDescriptor?
    /// Read end of the start gate (detached boxes), or nil to start at once.
    package var gate: FileDescriptor?
    /// The gate brings the program (a `ProgramMessage`), not a byte: a warm box.
    package var gateCarriesProgram = false
    /// Open cgroup.procs files the init writes "0" to (one per v1 hierarchy, one on v2).
    package var cgroupProcs: [FileDescriptor] = []
    /// The program writes them instead, the init stays outside the group (a one-shot box).
    package var cgroupByProgram = false
    /// A prepared network namespace to join (warm pool).
    package var networkNamespace: FileDescriptor?
    /// Or one being made beside the box: its descriptor number arrives on this pipe...
    package var networkPipe: FileDescriptor?
    /// ...and is taken from this pidfd (the caller's own).
    package var parentPidfd: FileDescriptor?
    package var dieWithParent = true
    /// The reaper's image (`CCore.reaperImage`) for a box without a gate:
    /// its init then shares this process's memory until it execs the reaper.
    package var reaper: FileDescriptor?
    /// The mount template (`MountTemplates`) of a plan with a `mountTemplate`.
    package var mountTemplate: FileDescriptor?
    /// The trees the plan's attach ops attach, in their order (`Syscalls.openTree`).
    package var trees: [FileDescriptor] = []
    package init() {}
}

/// A process the C core started: the box's init, or an exec'd program.
package struct LaunchedProcess: Sendable {
    package var pid: pid_t
    package var pidfd: FileDescriptor
}

/// Marshals a `LaunchPlan` into the C core's `cs_plan` and calls it. All
/// memory the C side reads is allocated before the clone and freed after it
/// returns in the parent: the child never allocates.
package enum CCore {
    package static func spawn(_ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess {
        // Without its template such a plan would run its ops on the caller's own mounts.
        guard (plan.mountTemplate != nil) == (fds.mountTemplate != nil) else {
            throw .invalidRequest("internal: a plan with a mount template needs its descriptor, and only it")
        }
        guard plan.ops.count(where: { $0.kind == .attach }) == fds.trees.count else {
            throw .invalidRequest("internal: every attach op needs its tree's descriptor")
        }
        var child = cs_child()
        let rc = withCPlan(plan, fds) { cplan in cs_spawn(cplan, &child) }
        if rc < 0 { throw .syscall("clone3(\(namespaceNames(plan.cloneFlags)))", errno: -rc) }
        return LaunchedProcess(pid: child.pid, pidfd: FileDescriptor(rawValue: child.pidfd))
    }

    /// Starts `plan.argv` inside the box whose init is `initPidfd`; `plan.cloneFlags` names the namespaces to join.
    /// Returns nil when the program could not be forked: the FAILED event on `fds.status` says why.
    package static func enter(initPidfd: FileDescriptor, _ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess? {
        var child = cs_child()
        let rc = withCPlan(plan, fds) { cplan in cs_enter(initPidfd.rawValue, cplan, &child) }
        if rc < 0 { throw .syscall("fork(exec into box)", errno: -rc) }
        if child.pid < 0 { return nil }
        return LaunchedProcess(pid: child.pid, pidfd: FileDescriptor(rawValue: child.pidfd))
    }

    /// The reaper's image (reaper.c), made once per process; nil where there
    /// is none (another architecture, no memfd): boxes then clone as before.
    package static let reaperImage: FileDescriptor? = {
        let fd = cs_reaper_image_fd()
        return fd >= 0 ? FileDescriptor(rawValue: fd) : nil
    }()

    static func namespaceNames(_ flags: UInt64) -> String {
        let all: [(UInt64, String)] = [
            (CloneFlags.newUser, "user"), (CloneFlags.newNS, "mnt"), (CloneFlags.newPID, "pid"),
            (CloneFlags.newIPC, "ipc"), (CloneFlags.newUTS, "uts"), (CloneFlags.newNet, "net"),
            (CloneFlags.newCgroup, "cgroup"),
        ]
        return all.filter { flags & $0.0 != 0 }.map(\.1).joined(separator: ",")
    }

    /// Builds an image's mount template (`Planner.mountTemplateOps`); returns its descriptor, or -errno and the failed op.
    static func makeMountTemplate(_ ops: [MountOp], mountPoint: String) -> (fd: Int32, failedStep: Int32) {
        var arena = CStringArena()
        defer { arena.free() }
        let cops = cOps(ops, trees: [], &arena)
        defer { cops.deallocate() }
        var step: Int32 = 0
        let fd = cs_mount_template(cops, Int32(ops.count), mountPoint, &step)
        return (fd, step)
    }

    private static func cOps(_ ops: [MountOp], trees: [FileDescriptor], _ arena: inout CStringArena) -> UnsafeMutablePointer<cs_op> {
        let cops = UnsafeMutablePointer<cs_op>.allocate(capacity: max(ops.count, 1))
        var attached = 0
        for (i, op) in ops.enumerated() {
            var fd: Int32 = -1
            if op.kind == .attach {
                fd = attached < trees.count ? trees[attached].rawValue : -1
                attached += 1
            }
            cops[i] = cs_op(
                kind: op.kind.rawValue, optional: op.optional ? 1 : 0,
                source: arena.string(op.source), target: arena.string(op.target),
                fstype: arena.string(op.fstype), data: arena.string(op.data), flags: op.flags, fd: fd)
        }
        return cops
    }

    private static func withCPlan<R>(_ plan: LaunchPlan, _ fds: LaunchDescriptors, _ body: (UnsafePointer<cs_plan>) -> R) -> R {
        var arena = CStringArena()
        defer { arena.free() }
        let ops = cOps(plan.ops, trees: fds.trees, &arena)
        defer { ops.deallocate() }
        let rlimits = UnsafeMutablePointer<cs_rlimit>.allocate(capacity: max(plan.rlimits.count, 1))
        defer { rlimits.deallocate() }
        for (i, r) in plan.rlimits.enumerated() {
            rlimits[i] = cs_rlimit(resource: r.resource, soft: r.soft, hard: r.hard)
        }
        let procs = UnsafeMutablePointer<Int32>.allocate(capacity: max(fds.cgroupProcs.count, 1))
        defer { procs.deallocate() }
        for (i, fd) in fds.cgroupProcs.enumerated() { procs[i] = fd.rawValue }
        let filter = UnsafeMutablePointer<SockFilter>.allocate(capacity: max(plan.seccomp.count, 1))
        defer { filter.deallocate() }
        for (i, f) in plan.seccomp.enumerated() { filter[i] = f }

        var c = cs_plan()
        c.clone_flags = plan.cloneFlags
        c.cgroup_procs_fds = UnsafePointer(procs)
        c.n_cgroup_procs_fds = Int32(fds.cgroupProcs.count)
        c.unshare_cgroupns = plan.unshareCgroupNamespace ? 1 : 0
        c.cgroup_by_program = fds.cgroupByProgram ? 1 : 0
        c.netns_fd = fds.networkNamespace?.rawValue ?? -1
        c.netns_pipe_fd = fds.networkPipe?.rawValue ?? -1
        c.parent_pidfd = fds.parentPidfd?.rawValue ?? -1
        c.loopback_up = plan.loopbackUp ? 1 : 0
        c.uid_map = arena.string(plan.uidMap)
        c.gid_map = arena.string(plan.gidMap)
        c.mount_template_fd = fds.mountTemplate?.rawValue ?? -1
        c.ops = UnsafePointer(ops)
        c.n_ops = Int32(plan.ops.count)
        c.new_root = arena.string(plan.newRoot)
        c.hostname = arena.string(plan.hostname)
        c.workdir = arena.string(plan.workdir)
        c.gate_fd = fds.gate?.rawValue ?? -1
        c.gate_program = fds.gateCarriesProgram ? 1 : 0
        c.die_with_parent = fds.dieWithParent ? 1 : 0
        c.reaper_fd = fds.reaper?.rawValue ?? -1
        c.rlimits = UnsafePointer(rlimits)
        c.n_rlimits = Int32(plan.rlimits.count)
        c.set_ids = plan.ids == nil ? 0 : 1
        c.uid = plan.ids?.uid ?? 0
        c.gid = plan.ids?.gid ?? 0
        c.caps_keep = plan.capabilitiesKept
        c.seccomp_filter = plan.seccomp.isEmpty ? nil : UnsafeRawPointer(filter)
        c.seccomp_len = UInt16(plan.seccomp.count)
        c.argv = arena.array(plan.argv)
        c.envp = arena.array(plan.environment)
        c.path = arena.array(plan.searchPath)
        c.stdin_fd = fds.stdin?.rawValue ?? -1
        c.stdout_fd = fds.stdout?.rawValue ?? -1
        c.stderr_fd = fds.stderr?.rawValue ?? -1
        c.status_fd = fds.status?.rawValue ?? -1
        return withUnsafePointer(to: &c) { body($0) }
    }
}

/// C strings and NULL-terminated arrays that live until `free()`.
private struct CStringArena {
    private var strings: [UnsafeMutablePointer<CChar>] = []
    private var arrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []

    mutating func string(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s else { return nil }
        let p = strdup(s)!
        strings.append(p)
        return UnsafePointer(p)
    }

    mutating func array(_ items: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let a = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: items.count + 1)
        for (i, s) in items.enumerated() { a[i] = string(s) }
        a[items.count] = nil
        arrays.append(a)
        return UnsafePointer(a)
    }

    func free() {
        for s in strings { Glibc.free(s) }
        for a in arrays { a.deallocate() }
    }
}
