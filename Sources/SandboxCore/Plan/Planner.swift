/// What the planner needs to know about the host; gathered once, outside the planner.
package struct HostFacts: Sendable, Equatable {
    package var euid: UInt32
    package var egid: UInt32
    /// Empty directories the box's own mount namespace mounts over (the new
    /// root, and the overlay's scratch tmpfs). Shared by every box: each box
    /// mounts in a private namespace, so they never see each other's mounts.
    package var rootMountPoint: String
    package var scratchMountPoint: String
    package var userNamespacesAvailable: Bool
    /// What the host's cgroup hierarchy offers; nil: no hierarchy gradebox can write.
    package var cgroups: CgroupFeatures? = nil
    /// The masked and read-only /proc entries this kernel does not have
    /// (`Planner.absentProcEntries`): a box's init would try each and fail.
    package var absentProcEntries: Set<String> = []

    package var isRoot: Bool { euid == 0 }
}

/// Turns a spec plus host facts into a `LaunchPlan`. Pure: no syscalls, so
/// every decision here is unit-tested without root.
package enum Planner {
    /// The purpose of the mount points every box needs in its image (/dev, /proc, /tmp).
    static let imageDirectory = "a directory every box mounts on"

    /// Paths under /proc that leak host information or allow host changes,
    /// masked as runc does (`maskedPaths`).
    static let maskedProcFiles = ["/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/sysrq-trigger"]
    static let maskedProcDirectories = ["/proc/acpi", "/proc/scsi"]
    /// Read-only under /proc (runc's `readonlyPaths`).
    static let readOnlyProc = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"]
    /// Which of the entries above this kernel lacks, from the caller's
    /// /proc: a box's procfs is another instance of the same kernel's, with
    /// the same entries. Here five of the eleven were missing, each a failed
    /// mount in every box. Nothing is left out when the caller's /proc looks
    /// restricted (no /proc/sys or /proc/meminfo: mounted with subset=pid,
    /// say), where a missing entry says nothing of the box's.
    package static func absentProcEntries(exists: (String) -> Bool) -> Set<String> {
        guard exists("/proc/sys"), exists("/proc/meminfo") else { return [] }
        return Set((maskedProcFiles + maskedProcDirectories + readOnlyProc).filter { !exists($0) })
    }

    /// The box's devices and their numbers (major << 8 | minor), fixed by Linux's devices.txt.
    static let devices: [(name: String, number: UInt)] = [
        ("null", 1 << 8 | 3), ("zero", 1 << 8 | 5), ("full", 1 << 8 | 7),
        ("random", 1 << 8 | 8), ("urandom", 1 << 8 | 9), ("tty", 5 << 8 | 0),
    ]

    /// - Parameters:
    ///   - rootfs: the image's rootfs directory on the host.
    ///   - joinsNetwork: the box joins a network namespace made for it beforehand (a warm-pool slot's, or one
    ///     made beside the box's set-up) instead of making one in its clone.
    ///   - seccomp: the compiled filter, or empty for none.
    ///   - mountTemplate: a mount template of the image can be had (`MountTemplates`): a box that
    ///     may use one (root, the image bound) copies it instead of the caller's mounts.
    package static func plan(
        _ spec: SandboxSpec, rootfs: String, host: HostFacts,
        joinsNetwork: Bool = false, seccomp: [SockFilter] = [], mountTemplate: Bool = false
    ) throws(SandboxError) -> LaunchPlan {
        try validate(spec)
        let useUserNS: Bool
        switch spec.userNamespace {
        case .always: useUserNS = true
        case .never:
            guard host.isRoot else { throw .hostUnsupported("--userns never needs root: without root only a user namespace gives the box its privileges") }
            useUserNS = false
        case .auto: useUserNS = !host.isRoot
        }
        if useUserNS && !host.userNamespacesAvailable {
            throw .hostUnsupported("rootless boxes need user namespaces, and this host disables them (see /proc/sys/user/max_user_namespaces)")
        }
        if useUserNS && joinsNetwork {
            throw .invalidRequest("the warm pool's network namespaces belong to root: a rootless box cannot join them")
        }

        // A box copied from its image's mount template with a read-only root
        // starts in the image as its root: its paths are the box's own, and
        // there is no pivot.
        // Its host binds are trees opened in the caller's namespace and
        // attached by descriptor. An overlay root is the box's own: made in
        // the copy, on the scratch tmpfs, with the template's root (the
        // image) as its lower layer, then pivoted into; what is detached is
        // the template's few mounts. A user namespace cannot enter root's
        // template: those boxes copy the caller's mounts (every host mount,
        // then detached).
        let templated = mountTemplate && mayUseMountTemplate(spec, host: host)
        var flags = CloneFlags.newPID | CloneFlags.newIPC | CloneFlags.newUTS
        if !templated { flags |= CloneFlags.newNS }
        if useUserNS { flags |= CloneFlags.newUser }
        let newNetwork = spec.network == .none && !joinsNetwork
        if newNetwork { flags |= CloneFlags.newNet }

        let overlay = spec.rootfs == .overlay
        // Where the new root is built: nowhere for a templated read-only
        // root (it is the template's); in the scratch for a templated overlay.
        let root = templated ? (overlay ? Planner.templatedOverlayRoot : "") : host.rootMountPoint
        var ops: [MountOp] = []
        let nosuidNodev = MountFlags.noSuid | MountFlags.noDev

        // 0. One tmpfs holds everything writable of the box: the overlay's
        //    upper layer, /tmp, the working directory, /dev, and the empty
        //    directory masked /proc directories are bound to. Each is a bind
        //    of a directory of it: one superblock to make and to tear down
        //    instead of four (a tmpfs superblock's teardown alone was ~0.04 ms
        //    of a run here). The size limit holds for all of it together.
        //    The mount point is in the box's own mount namespace only, and is
        //    detached with the old root; the binds keep the tmpfs alive. A
        //    templated box has no old root: its tmpfs is mounted on the box's
        //    /tmp, and covered there last by the bind of its own tmp
        //    directory (nothing in the box can unmount it). Made with fsmount
        //    and never attached instead, its last close cost an RCU grace
        //    period (dissolve_on_fput) that slowed the program by ~0.1 ms.
        let scratch = templated ? "/tmp" : host.scratchMountPoint
        ops.append(MountOp(kind: .mount, source: "tmpfs", target: scratch, fstype: "tmpfs",
                           data: "size=\(spec.limits.tmpfsBytes),mode=0755", flags: nosuidNodev,
                           purpose: templated ? Planner.imageDirectory : nil))

        // 1. The image as the new root: a read-only bind, or an overlay whose
        //    writable layer lives on the scratch tmpfs.
        // Mount points the image lacks are made in an overlay's upper layer
        // (never in the image); a read-only root must have them.
        func mountPoint(_ path: String, _ purpose: String) {
            guard overlay else { return }
            var prefix = ""
            for component in path.split(separator: "/") {
                prefix += "/" + component
                ops.append(MountOp(kind: .mkdir, target: root + prefix, purpose: purpose))
            }
        }
        switch spec.rootfs {
        case .bind where templated:
            break  // the template's root
        case .bind:
            ops.append(MountOp(kind: .mount, source: rootfs, target: root, flags: MountFlags.bind | MountFlags.rec))
        case .overlay:
            ops.append(MountOp(kind: .mkdir, target: scratch + "/upper"))
            ops.append(MountOp(kind: .mkdir, target: scratch + "/work"))
            // In a template's copy the image is the root: "/" is the lower
            // layer (an overlay does not cross into mounts on it, the scratch included).
            if templated { ops.append(MountOp(kind: .mkdir, target: root)) }
            ops.append(MountOp(kind: .mount, source: "overlay", target: root, fstype: "overlay",
                               data: "lowerdir=\(templated ? "/" : rootfs),upperdir=\(scratch)/upper,workdir=\(scratch)/work", flags: 0))
        }

        // 2. Writable scratch space: the working directory when it is not
        //    in /tmp (/tmp itself is bound last, see 6).
        ops.append(MountOp(kind: .mkdir, target: scratch + "/tmp", flags: 0o1777))
        let workdir = spec.workingDirectory
        let scratchWorkdir = spec.workingDirectoryMode != .image
        if scratchWorkdir && workdir != "/tmp" && !workdir.hasPrefix("/tmp/") && workdir != "/" {
            ops.append(MountOp(kind: .mkdir, target: scratch + "/workdir", flags: 0o1777))
            mountPoint(workdir, "--workdir \(workdir)")
            ops.append(MountOp(kind: .mount, source: scratch + "/workdir", target: root + workdir, flags: MountFlags.bind,
                               purpose: "--workdir \(workdir)"))
        }

        // 3. Extra binds from the host, read-only unless asked otherwise. A
        //    templated box cannot see the host's paths: the launcher opens
        //    each tree beforehand, read-only already when it is to be, and
        //    the box attaches it.
        for m in spec.mounts {
            let purpose = "--mount \(m.source):\(m.target)"
            if templated {
                mountPoint(m.target, purpose)
                ops.append(MountOp(kind: .attach, source: m.source, target: root + m.target,
                                   flags: MountFlags.bind | MountFlags.rec | (m.writable ? 0 : MountFlags.readOnly), purpose: purpose))
                continue
            }
            mountPoint(m.target, purpose)
            ops.append(MountOp(kind: .mount, source: m.source, target: root + m.target, flags: MountFlags.bind | MountFlags.rec,
                               purpose: purpose))
            if !m.writable {
                ops.append(MountOp(kind: .mount, source: nil, target: root + m.target,
                                   flags: MountFlags.bind | MountFlags.remount | MountFlags.readOnly | nosuidNodev))
            }
        }

        // 4. A minimal /dev and a private devpts. A templated box has its
        //    image template's /dev, read-only (see `mountTemplateOps`); others
        //    one on the scratch tmpfs.
        let dev = root + "/dev"
        if templated && overlay {
            // The template's /dev (read-only, its devices made once per image), bound into the overlay.
            mountPoint("/dev", Planner.imageDirectory)
            ops.append(MountOp(kind: .mount, source: "/dev", target: dev, flags: MountFlags.bind, purpose: Planner.imageDirectory))
        } else if !templated {
            ops.append(MountOp(kind: .mkdir, target: scratch + "/dev"))
            mountPoint("/dev", Planner.imageDirectory)
            ops.append(MountOp(kind: .mount, source: scratch + "/dev", target: dev, flags: MountFlags.bind, purpose: Planner.imageDirectory))
            // Device nodes must open: the bind drops the scratch's nodev (as root;
            // in a user namespace the nodes are binds of their own, and nodev stays).
            ops.append(MountOp(kind: .mount, source: nil, target: dev,
                               flags: MountFlags.bind | MountFlags.remount | MountFlags.noSuid | MountFlags.noExec | (useUserNS ? MountFlags.noDev : 0)))
            ops += deviceDirectory(dev, bindingHostNodes: useUserNS)
        }
        ops.append(MountOp(kind: .mount, source: "devpts", target: dev + "/pts", fstype: "devpts", data: "newinstance,ptmxmode=0666,mode=0620", flags: MountFlags.noSuid | MountFlags.noExec))

        // 5. /proc of the box's own pid namespace, with the host-revealing
        //    files masked and the tunables read-only.
        let proc = root + "/proc"
        mountPoint("/proc", Planner.imageDirectory)
        ops.append(MountOp(kind: .mount, source: "proc", target: proc, fstype: "proc", flags: nosuidNodev | MountFlags.noExec,
                           purpose: Planner.imageDirectory))
        for f in maskedProcFiles where !host.absentProcEntries.contains(f) {
            ops.append(MountOp(kind: .mount, source: "/dev/null", target: root + f, flags: MountFlags.bind, optional: true))
        }
        ops.append(MountOp(kind: .mkdir, target: scratch + "/empty", flags: 0o555))
        for d in maskedProcDirectories where !host.absentProcEntries.contains(d) {
            ops.append(MountOp(kind: .mount, source: scratch + "/empty", target: root + d, flags: MountFlags.bind, optional: true))
            ops.append(MountOp(kind: .mount, source: nil, target: root + d,
                               flags: MountFlags.bind | MountFlags.remount | MountFlags.readOnly | nosuidNodev | MountFlags.noExec, optional: true))
        }
        for p in readOnlyProc where !host.absentProcEntries.contains(p) {
            ops.append(MountOp(kind: .mount, source: root + p, target: root + p, flags: MountFlags.bind | MountFlags.rec, optional: true))
            ops.append(MountOp(kind: .mount, source: nil, target: root + p,
                               flags: MountFlags.bind | MountFlags.remount | MountFlags.readOnly | nosuidNodev | MountFlags.noExec, optional: true))
        }

        // 6. /tmp, after everything else the scratch gives (in a templated
        //    box this covers the scratch itself); then the working directory
        //    when it is in /tmp.
        mountPoint("/tmp", Planner.imageDirectory)
        ops.append(MountOp(kind: .mount, source: scratch + "/tmp", target: root + "/tmp", flags: MountFlags.bind, purpose: Planner.imageDirectory))
        if workdir.hasPrefix("/tmp/") {
            ops.append(MountOp(kind: .mkdir, target: root + workdir))
        }

        // 7. Last, the root itself read-only: after everything mounted on it
        //    (a template's root is read-only from the start).
        if spec.rootfs == .bind && !templated {
            ops.append(MountOp(kind: .mount, source: nil, target: root,
                               flags: MountFlags.bind | MountFlags.remount | MountFlags.readOnly | nosuidNodev))
        }

        var plan = try program(spec, host: host, seccomp: seccomp, rootless: useUserNS)
        plan.cloneFlags = flags
        plan.unshareCgroupNamespace = true
        plan.loopbackUp = newNetwork
        plan.uidMap = useUserNS ? "0 \(host.euid) 1\n" : nil
        plan.gidMap = useUserNS ? "0 \(host.egid) 1\n" : nil
        plan.mountTemplate = templated ? rootfs : nil
        plan.ops = ops
        plan.newRoot = templated && !overlay ? nil : root
        plan.hostname = spec.hostname
        return plan
    }

    /// The plan of a program started in a running box (`gradebox exec`):
    /// it joins the namespaces in `namespaces` (the box's, less the network
    /// when the box shares the host's) and makes none, mounts nothing, and
    /// runs with the box's identity, limits and filter.
    package static func planExec(
        _ spec: SandboxSpec, namespaces: UInt64, host: HostFacts, seccomp: [SockFilter] = []
    ) throws(SandboxError) -> LaunchPlan {
        try validate(spec)
        // A box made without a user namespace was made by root; one with it maps only uid 0.
        let rootless = namespaces & CloneFlags.newUser != 0
        var plan = try program(spec, host: host, seccomp: seccomp, rootless: rootless)
        plan.cloneFlags = namespaces & ~(spec.network == .host ? CloneFlags.newNet : 0)
        return plan
    }

    /// The program's part of a plan: identity, rlimits, capabilities,
    /// filter, argv, environment, and the box's cgroup writes. The box's
    /// part (namespaces, mounts, root) is left empty for the caller to fill.
    private static func program(_ spec: SandboxSpec, host: HostFacts, seccomp: [SockFilter], rootless: Bool) throws(SandboxError) -> LaunchPlan {
        var rlimits: [ResourceLimit] = [
            ResourceLimit(resource: RLimitResource.core, soft: 0, hard: 0),
            ResourceLimit(resource: RLimitResource.nofile, soft: spec.limits.openFiles, hard: spec.limits.openFiles),
        ]
        if let fsize = spec.limits.fileSizeBytes {
            rlimits.append(ResourceLimit(resource: RLimitResource.fsize, soft: fsize, hard: fsize))
        }
        if let stack = spec.limits.stackBytes {
            rlimits.append(ResourceLimit(resource: RLimitResource.stack, soft: stack, hard: stack))
        }
        if let cpu = spec.limits.cpuTimeKill {
            // A per-process backstop; the supervisor enforces the real limit on
            // the whole cgroup. One second of slack so the supervisor, not
            // SIGXCPU, normally decides.
            let seconds = UInt64(cpu.rounded(.up)) + 1
            rlimits.append(ResourceLimit(resource: RLimitResource.cpu, soft: seconds, hard: seconds + 1))
        }

        let pathVariable = spec.environment.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) }
            ?? "/usr/local/bin:/usr/bin:/bin"
        let searchPath = pathVariable.split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }

        let ids: UserID? = (spec.user.uid == 0 && spec.user.gid == 0) ? nil : spec.user
        if rootless, let ids, ids.uid != 0 || ids.gid != 0 {
            throw .invalidRequest("a rootless box maps only uid 0: --user \(ids.uid):\(ids.gid) needs root")
        }

        return LaunchPlan(
            cloneFlags: 0,
            unshareCgroupNamespace: false,
            loopbackUp: false,
            uidMap: nil,
            gidMap: nil,
            mountTemplate: nil,
            ops: [],
            newRoot: nil,
            hostname: nil,
            workdir: spec.workingDirectory,
            rlimits: rlimits,
            ids: ids,
            capabilitiesKept: try Capabilities.mask(spec.capabilities),
            seccomp: spec.seccomp ? seccomp : [],
            argv: spec.command,
            environment: spec.environment,
            searchPath: searchPath,
            cgroupWrites: try host.cgroups.map { features throws(SandboxError) in try CgroupPlanner.writes(spec.limits, for: features) } ?? []
        )
    }

    /// The contents of a minimal /dev at `dev`: the devices made with mknod,
    /// as runc does (six mounts fewer to make and tear down, ~0.1 ms of a run
    /// here), or, in a user namespace, where mknod is refused, the host's
    /// nodes bound onto empty files; the devpts mount point and the usual links.
    static func deviceDirectory(_ dev: String, bindingHostNodes: Bool) -> [MountOp] {
        var ops: [MountOp] = []
        for (d, number) in devices {
            if bindingHostNodes {
                ops.append(MountOp(kind: .touch, target: "\(dev)/\(d)"))
                ops.append(MountOp(kind: .mount, source: "/dev/\(d)", target: "\(dev)/\(d)", flags: MountFlags.bind))
            } else {
                ops.append(MountOp(kind: .mknod, target: "\(dev)/\(d)", flags: number))
            }
        }
        ops.append(MountOp(kind: .mkdir, target: dev + "/pts"))
        ops.append(MountOp(kind: .symlink, source: "pts/ptmx", target: dev + "/ptmx"))
        ops.append(MountOp(kind: .symlink, source: "/proc/self/fd", target: dev + "/fd"))
        ops.append(MountOp(kind: .symlink, source: "/proc/self/fd/0", target: dev + "/stdin"))
        ops.append(MountOp(kind: .symlink, source: "/proc/self/fd/1", target: dev + "/stdout"))
        ops.append(MountOp(kind: .symlink, source: "/proc/self/fd/2", target: dev + "/stderr"))
        return ops
    }

    /// What a mount template of the image at `rootfs` holds (`MountTemplates`),
    /// built at `mountPoint` before the template pivots into it: the image,
    /// read-only, and a /dev for every box copied from it, read-only too (a
    /// tmpfs with the devices and links: its files are made once per image,
    /// not per box, and a box's teardown has fewer to free). Each box mounts
    /// its own devpts on /dev/pts.
    package static func mountTemplateOps(rootfs: String, mountPoint: String) -> [MountOp] {
        let dev = mountPoint + "/dev"
        let nosuidNoexec = MountFlags.noSuid | MountFlags.noExec
        return [
            MountOp(kind: .mount, source: rootfs, target: mountPoint, flags: MountFlags.bind | MountFlags.rec),
            MountOp(kind: .mount, source: "tmpfs", target: dev, fstype: "tmpfs", data: "size=64k,mode=0755", flags: nosuidNoexec),
        ] + deviceDirectory(dev, bindingHostNodes: false) + [
            MountOp(kind: .mount, source: nil, target: dev, flags: MountFlags.bind | MountFlags.remount | MountFlags.readOnly | nosuidNoexec),
            MountOp(kind: .mount, source: nil, target: mountPoint,
                    flags: MountFlags.bind | MountFlags.remount | MountFlags.readOnly | MountFlags.noSuid | MountFlags.noDev),
        ]
    }

    /// Whether a box of `spec` would copy its image's mount template when one
    /// can be had (see `plan`): asked before one is looked up or made.
    package static func mayUseMountTemplate(_ spec: SandboxSpec, host: HostFacts) -> Bool {
        let userNamespace = spec.userNamespace == .always || (spec.userNamespace == .auto && !host.isRoot)
        // Each host bind's tree descriptor stays open in the init until
        // attached (the C core keeps at most 64 of them).
        return !userNamespace && spec.mounts.count <= 32
    }

    /// Where a templated box builds its overlay root: in its scratch tmpfs
    /// (mounted on the image's /tmp, which such a box needs), before pivoting into it.
    package static let templatedOverlayRoot = "/tmp/root"

    /// A mount's paths: absolute, and its target inside the box.
    static func checkPaths(_ m: BindMount) throws(SandboxError) {
        guard m.source.hasPrefix("/"), m.target.hasPrefix("/"), !m.target.split(separator: "/").contains("..") else {
            throw .invalidRequest("mount paths must be absolute and stay inside the box: \(m.source):\(m.target)")
        }
    }

    /// Rejects specs no box can honour, before anything is created.
    package static func validate(_ spec: SandboxSpec) throws(SandboxError) {
        guard let first = spec.command.first, !first.isEmpty else {
            throw .invalidRequest("no command given: add `-- PROGRAM [ARGS...]`")
        }
        guard spec.workingDirectory.hasPrefix("/") else {
            throw .invalidRequest("working directory must be absolute: \(spec.workingDirectory)")
        }
        guard !spec.hostname.isEmpty, spec.hostname.utf8.count <= 64 else {
            throw .invalidRequest("hostname must have 1 to 64 characters")
        }
        for m in spec.mounts { try checkPaths(m) }
        let l = spec.limits
        try CgroupPlanner.validate(l)
        if let m = l.memoryBytes, m < 1 << 20 { throw .invalidRequest("--memory must be at least 1M, got \(m) bytes") }
        func positive(_ v: Double?, _ name: String) throws(SandboxError) {
            if let v, !(v > 0) || !v.isFinite { throw .invalidRequest("\(name) must be a positive number, got \(v)") }
        }
        try positive(l.cpuTimeSeconds, "--time")
        try positive(l.cpuTimeKillSeconds, "--time (its kill limit)")
        if let kill = l.cpuTimeKillSeconds, kill < l.cpuTimeSeconds ?? 0 {
            throw .invalidRequest("--time: the kill limit (\(kill) s) must be at least the CPU time limit (\(l.cpuTimeSeconds ?? 0) s)")
        }
        try positive(l.wallTimeSeconds, "--wall-time")
        if let o = l.outputBytes, o <= 0 { throw .invalidRequest("--output must be positive, got \(o)") }
        if let o = l.stdoutBytes, o < 0 { throw .invalidRequest("--stdout-limit must not be negative, got \(o)") }
        if let o = l.stderrBytes, o < 0 { throw .invalidRequest("--stderr-limit must not be negative, got \(o)") }
        if l.tmpfsBytes == 0 { throw .invalidRequest("--tmpfs-size must be positive") }
        if l.openFiles == 0 { throw .invalidRequest("--nofile must be positive") }
    }
}

/// RLIMIT_* numbers (asm-generic; the same on x86_64 and aarch64).
package enum RLimitResource {
    package static let cpu: Int32 = 0
    package static let fsize: Int32 = 1
    package static let stack: Int32 = 3
    package static let core: Int32 = 4
    package static let nofile: Int32 = 7
}
