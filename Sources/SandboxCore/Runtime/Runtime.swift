#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// What a process learns about the host once and reuses for every box:
/// host facts, the compiled seccomp filter, the cgroup driver, the pool's
/// slots and warm boxes, the launcher over them, the plans made so far.
final class Runtime: Sendable {
    let host: HostFacts
    let seccompProgram: [SockFilter]
    let cgroups: (any CgroupDriver)?
    let cgroupProblem: String?
    /// The warm pool's slots (cgroup and network namespace pairs), shared between processes.
    let pool: SlotPool
    /// Boxes made ahead of time for pooled runs in this process.
    let warm: WarmBoxes
    /// Groups of boxes kept for reuse in this process (`makeGroup(pooled: true)`).
    let groups: GroupPool
    /// The images' mount templates (root only).
    let templates: MountTemplates?
    let stateDirectory: String
    /// Prefix of this state directory's box cgroups: `box-<hash of the state directory>`,
    /// so two state directories never take (or gc) each other's groups.
    let groupPrefix: String
    let launcher: BoxLauncher
    /// The door everything this runtime does goes through.
    var sys: any Syscalls { launcher.sys }
    let plans = PlanMemo()
    /// The ends of runs in pooled groups that nobody waits for: a box's init
    /// reaped (it tears the box's mounts and namespaces down after its
    /// program is done, ~0.2 ms here), its descriptors closed, its member
    /// reset and given back. The run's result does not depend on them (its
    /// numbers were read from its cgroup), so run_student and the job answer
    /// that much sooner. A pooled group given back, a drain and gc wait for
    /// what is queued (`settle`).
    let releases = LaterQueue(label: "gradebox.releases")

    private static let instances = Mutex<[String: Runtime]>([:])
    private static let serial = Atomic<UInt64>(0)

    static func shared(_ stateDirectory: String) throws(SandboxError) -> Runtime {
        try instances.withLock { (table: inout [String: Runtime]) throws(SandboxError) -> Runtime in
            if let r = table[stateDirectory] { return r }
            let r = try Runtime(stateDirectory: stateDirectory)
            table[stateDirectory] = r
            return r
        }
    }

    static func nextSerial() -> UInt64 {
        serial.add(1, ordering: .relaxed).newValue
    }

    /// Puts `runtime` in place of the live one for its state directory (tests: a runtime over a recording door).
    static func install(_ runtime: Runtime) {
        instances.withLock { $0[runtime.stateDirectory] = runtime }
    }

    /// A runtime over the door `sys`, with the facts given rather than learned (tests).
    init(stateDirectory: String, sys: any Syscalls, host: HostFacts, cgroups: (any CgroupDriver)?) {
        self.stateDirectory = stateDirectory
        groupPrefix = "box-" + stableHash(stateDirectory)
        self.host = host
        seccompProgram = []
        self.cgroups = cgroups
        cgroupProblem = cgroups == nil ? "none in this test" : nil
        pool = SlotPool(directory: stateDirectory + "/pool", cgroups: cgroups, sys: sys)
        launcher = BoxLauncher(sys: sys, cgroups: cgroups, cgroupProblem: cgroupProblem, slots: pool)
        templates = nil
        warm = WarmBoxes(launcher: launcher, templates: nil)
        let slots = pool
        groups = GroupPool(releasingSlotsTo: { slots.release($0) }, sys: sys)
    }

    private init(stateDirectory: String) throws(SandboxError) {
        self.stateDirectory = stateDirectory
        self.groupPrefix = "box-" + stableHash(stateDirectory)
        let mnt = stateDirectory + "/.mnt"
        for dir in [stateDirectory, mnt, mnt + "/root", mnt + "/scratch"] {
            try Kernel.makeDirectory(dir)
        }
        seccompProgram = try SeccompCache.program(in: stateDirectory, arch: .native) { () throws(SandboxError) in
            try SeccompPolicy.gradeboxDefault.compile(for: .native)
        }
        do throws(SandboxError) {
            cgroups = try HostCgroups.driver(stateDirectory: stateDirectory)
            cgroupProblem = nil
        } catch {
            cgroups = nil
            cgroupProblem = error.description
        }
        host = HostFacts(
            euid: geteuid(), egid: getegid(), rootMountPoint: mnt + "/root", scratchMountPoint: mnt + "/scratch",
            userNamespacesAvailable: Runtime.userNamespacesAvailable(), cgroups: cgroups?.features,
            absentProcEntries: Planner.absentProcEntries { access($0, F_OK) == 0 })
        let sys = Kernel.live
        pool = SlotPool(directory: stateDirectory + "/pool", cgroups: cgroups, sys: sys)
        launcher = BoxLauncher(sys: sys, cgroups: cgroups, cgroupProblem: cgroupProblem, slots: pool)
        templates = host.isRoot ? MountTemplates(stateDirectory: stateDirectory, mountPoint: host.rootMountPoint) : nil
        warm = WarmBoxes(launcher: launcher, templates: templates)
        let slots = pool
        groups = GroupPool(releasingSlotsTo: { slots.release($0) }, sys: sys)
    }

    /// The plan of `spec` in this process (`PlanMemo`).
    func plan(_ spec: SandboxSpec, rootfs: String, joinsNetwork: Bool, pooled: Bool,
              mountTemplate: Bool) throws(SandboxError) -> (plan: LaunchPlan, warm: PlanMemo.WarmPlan?) {
        try plans.plan(spec, rootfs: rootfs, host: host, seccomp: seccompProgram, joinsNetwork: joinsNetwork, pooled: pooled,
                       mountTemplate: mountTemplate)
    }

    func requireCgroups() throws(SandboxError) -> any CgroupDriver { try launcher.requireCgroups() }

    /// A `--mount` whose source is not on the host is the caller's mistake: said before anything is made.
    func checkMountSources(_ spec: SandboxSpec) throws(SandboxError) {
        for m in spec.mounts where !sys.exists(m.source) {
            throw .invalidRequest("--mount \(m.source):\(m.target): \(m.source) does not exist on this host")
        }
    }

    /// On bytes: a String split here was a good part of a `gradebox run`'s start (its first use).
    static func userNamespacesAvailable() -> Bool {
        guard let bytes = try? Kernel.readFile("/proc/sys/user/max_user_namespaces") else { return false }
        var n = 0
        var digits = 0
        for b in bytes {
            guard b >= 0x30 && b <= 0x39 else { break }
            n = n &* 10 &+ Int(b - 0x30)
            digits += 1
        }
        return digits > 0 && n > 0
    }
}


