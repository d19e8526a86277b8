import Testing
@testable import SandboxCore

@Suite("Planner: spec + host facts -> flat plan")
struct PlannerTests {
    let root = HostFacts(euid: 0, egid: 0, rootMountPoint: "/run/gb/.mnt/root", scratchMountPoint: "/run/gb/.mnt/scratch", userNamespacesAvailable: true)
    let user = HostFacts(euid: 1000, egid: 1000, rootMountPoint: "/tmp/gb/.mnt/root", scratchMountPoint: "/tmp/gb/.mnt/scratch", userNamespacesAvailable: true)

    func spec(_ edit: (inout SandboxSpec) -> Void = { _ in }) -> SandboxSpec {
        var s = SandboxSpec(image: "minimal", command: ["/bin/echo", "hello"])
        edit(&s)
        return s
    }

    /// A plan is remembered by its spec's shape, its mounts' sources left
    /// out: each use gets its own spec's sources back, in every op that
    /// names one (its bind or attach, and the purpose its errors show),
    /// exactly as planning that spec gives them.
    @Test(arguments: [false, true])
    func aRememberedPlanGetsItsOwnMountSources(templated: Bool) throws {
        let memo = PlanMemo()
        func mounts(_ prefix: String) -> [BindMount] {
            (0..<12).map { BindMount(source: "\(prefix)/\($0)", target: "/m\($0)", writable: $0 % 3 == 0) }
        }
        for prefix in ["/job-1", "/job-2", "/a"] {
            let s = spec { $0.mounts = mounts(prefix) }
            let remembered = try memo.plan(s, rootfs: "/img", host: root, seccomp: [], joinsNetwork: false, pooled: false, mountTemplate: templated)
            let planned = try Planner.plan(s, rootfs: "/img", host: root, joinsNetwork: false, seccomp: [], mountTemplate: templated)
            #expect(remembered.plan == planned)
            #expect(!remembered.plan.ops.contains { ($0.source ?? "").contains("\u{1}") || ($0.purpose ?? "").contains("\u{1}") })
        }
        // A relative source is refused, remembered shape or not.
        #expect(throws: SandboxError.self) {
            _ = try memo.plan(spec { $0.mounts = [BindMount(source: "relative", target: "/m0")] }, rootfs: "/img", host: root, seccomp: [],
                              joinsNetwork: false, pooled: false, mountTemplate: templated)
        }
    }

    @Test func rootGetsEveryNamespaceButUser() throws {
        let plan = try Planner.plan(spec(), rootfs: "/img", host: root)
        #expect(plan.cloneFlags & CloneFlags.newUser == 0)
        for flag in [CloneFlags.newNS, CloneFlags.newPID, CloneFlags.newIPC, CloneFlags.newUTS, CloneFlags.newNet] {
            #expect(plan.cloneFlags & flag != 0)
        }
        #expect(plan.unshareCgroupNamespace)
        #expect(plan.loopbackUp)
        #expect(plan.uidMap == nil)
    }

    @Test func rootlessMapsTheCallerToRoot() throws {
        let plan = try Planner.plan(spec(), rootfs: "/img", host: user)
        #expect(plan.cloneFlags & CloneFlags.newUser != 0)
        #expect(plan.uidMap == "0 1000 1\n")
        #expect(plan.gidMap == "0 1000 1\n")
    }

    @Test func rootlessWithoutUserNamespacesIsRefused() {
        var host = user
        host.userNamespacesAvailable = false
        #expect(throws: SandboxError.self) { try Planner.plan(spec(), rootfs: "/img", host: host) }
    }

    @Test func hostNetworkAndPoolNetworkMakeNoNetworkNamespace() throws {
        let hostNet = try Planner.plan(spec { $0.network = .host }, rootfs: "/img", host: root)
        #expect(hostNet.cloneFlags & CloneFlags.newNet == 0)
        #expect(!hostNet.loopbackUp)
        let pooled = try Planner.plan(spec(), rootfs: "/img", host: root, joinsNetwork: true)
        #expect(pooled.cloneFlags & CloneFlags.newNet == 0)
        #expect(!pooled.loopbackUp)
    }

    @Test func bindRootIsMountedFirstAndMadeReadOnlyLast() throws {
        let plan = try Planner.plan(spec(), rootfs: "/img", host: root)
        // After the scratch tmpfs, which lives outside the new root.
        #expect(plan.ops[0].target == root.scratchMountPoint)
        let first = plan.ops[1]
        #expect(first.source == "/img" && first.target == root.rootMountPoint && first.flags & MountFlags.bind != 0)
        let last = try #require(plan.ops.last)
        #expect(last.target == root.rootMountPoint)
        #expect(last.flags & MountFlags.remount != 0 && last.flags & MountFlags.readOnly != 0)
        #expect(plan.newRoot == root.rootMountPoint)
    }

    @Test func overlayPutsTheUpperLayerOnTmpfsAndStaysWritable() throws {
        let plan = try Planner.plan(spec { $0.rootfs = .overlay }, rootfs: "/img", host: root)
        let overlay = try #require(plan.ops.first { $0.fstype == "overlay" })
        #expect(overlay.data?.contains("lowerdir=/img") == true)
        #expect(overlay.data?.contains("upperdir=\(root.scratchMountPoint)/upper") == true)
        let scratch = try #require(plan.ops.first { $0.target == root.scratchMountPoint })
        #expect(scratch.fstype == "tmpfs")
        #expect(plan.ops.contains { $0.target == root.rootMountPoint && $0.flags & MountFlags.remount != 0 } == false)
    }

    @Test func everythingWritableIsOneSizeLimitedTmpfsBoundIntoPlace() throws {
        let plan = try Planner.plan(spec { $0.limits.tmpfsBytes = 1 << 20; $0.workingDirectory = "/work" }, rootfs: "/img", host: root)
        let scratch = root.scratchMountPoint
        let tmpfs = plan.ops.filter { $0.fstype == "tmpfs" }
        #expect(tmpfs.count == 1, "one superblock for the whole box")
        #expect(tmpfs.first?.target == scratch)
        #expect(tmpfs.first?.data == "size=1048576,mode=0755")
        #expect((tmpfs.first?.flags ?? 0) & MountFlags.noSuid != 0)
        func bind(_ target: String) -> MountOp? {
            plan.ops.first { $0.target == root.rootMountPoint + target && $0.flags & MountFlags.bind != 0 && $0.source != nil }
        }
        #expect(bind("/tmp")?.source == scratch + "/tmp")
        #expect(bind("/work")?.source == scratch + "/workdir")
        #expect(bind("/dev")?.source == scratch + "/dev")
        #expect(bind("/proc/acpi")?.source == scratch + "/empty")
        #expect(plan.ops.first { $0.kind == .mkdir && $0.target == scratch + "/tmp" }?.flags == 0o1777)
        // /dev: nodev cleared as root, so the mknod'ed devices open.
        let devRemount = try #require(plan.ops.first { $0.target == root.rootMountPoint + "/dev" && $0.flags & MountFlags.remount != 0 })
        #expect(devRemount.flags & MountFlags.noDev == 0 && devRemount.flags & MountFlags.noExec != 0)
        // Masked directories: empty and read-only.
        #expect(plan.ops.contains { $0.target == root.rootMountPoint + "/proc/acpi" && $0.flags & MountFlags.remount != 0 && $0.flags & MountFlags.readOnly != 0 })
    }

    @Test func procIsMountedThenMaskedAndTunablesReadOnly() throws {
        let plan = try Planner.plan(spec(), rootfs: "/img", host: root)
        let targets = plan.ops.map(\.target)
        let proc = try #require(targets.firstIndex(of: root.rootMountPoint + "/proc"))
        let kcore = try #require(targets.firstIndex(of: root.rootMountPoint + "/proc/kcore"))
        #expect(proc < kcore)
        #expect(plan.ops[kcore].source == "/dev/null")
        let sysRemount = plan.ops.first { $0.target == root.rootMountPoint + "/proc/sys" && $0.flags & MountFlags.remount != 0 }
        #expect((sysRemount?.flags ?? 0) & MountFlags.readOnly != 0)
    }

    @Test func devHoldsOnlyTheMinimalDevicesMadeWithMknodAsRoot() throws {
        let plan = try Planner.plan(spec(), rootfs: "/img", host: root)
        let nodes = plan.ops.filter { $0.kind == .mknod }
        let dev = root.rootMountPoint + "/dev/"
        #expect(Dictionary(uniqueKeysWithValues: nodes.map { ($0.target, $0.flags) }) == [
            dev + "null": 0x103, dev + "zero": 0x105, dev + "full": 0x107,
            dev + "random": 0x108, dev + "urandom": 0x109, dev + "tty": 0x500,
        ])
        #expect(!plan.ops.contains { $0.kind == .mount && $0.source?.hasPrefix("/dev/") == true && $0.target.hasPrefix(dev) })
        #expect(plan.ops.contains { $0.fstype == "devpts" && $0.data?.contains("newinstance") == true })
    }

    @Test func aUserNamespaceBindsTheHostsDevicesInstead() throws {
        let plan = try Planner.plan(spec(), rootfs: "/img", host: user)
        let binds = plan.ops.filter { $0.kind == .mount && $0.source?.hasPrefix("/dev/") == true && $0.target.contains("/dev/") }
        #expect(Set(binds.compactMap(\.source)) == ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"])
        #expect(!plan.ops.contains { $0.kind == .mknod })
    }

    @Test func everyCapabilityIsDroppedByDefault() throws {
        #expect(try Planner.plan(spec(), rootfs: "/img", host: root).capabilitiesKept == 0)
        let kept = try Planner.plan(spec { $0.capabilities = ["NET_BIND_SERVICE"] }, rootfs: "/img", host: root)
        #expect(kept.capabilitiesKept == 1 << 10)
        #expect(throws: SandboxError.self) { try Planner.plan(spec { $0.capabilities = ["CAP_BOGUS"] }, rootfs: "/img", host: root) }
    }

    @Test func rlimitsForbidCoreFilesAndBackstopCpuTime() throws {
        let plan = try Planner.plan(spec { $0.limits.cpuTimeSeconds = 1.5 }, rootfs: "/img", host: root)
        #expect(plan.rlimits.contains(ResourceLimit(resource: RLimitResource.core, soft: 0, hard: 0)))
        let cpu = try #require(plan.rlimits.first { $0.resource == RLimitResource.cpu })
        #expect(cpu.soft == 3 && cpu.hard == 4)
    }

    @Test func searchPathComesFromTheBoxEnvironment() throws {
        let plan = try Planner.plan(spec { $0.environment = ["PATH=/opt/bin:relative:/bin"] }, rootfs: "/img", host: root)
        #expect(plan.searchPath == ["/opt/bin", "/bin"])
    }

    @Test func seccompIsLeftOutOnlyWhenAskedTo() throws {
        let filter = [SockFilter(code: 6, jt: 0, jf: 0, k: 0x7fff_0000)]
        #expect(try Planner.plan(spec(), rootfs: "/img", host: root, seccomp: filter).seccomp == filter)
        #expect(try Planner.plan(spec { $0.seccomp = false }, rootfs: "/img", host: root, seccomp: filter).seccomp.isEmpty)
    }

    @Test(arguments: [
        { (s: inout SandboxSpec) in s.command = [] },
        { (s: inout SandboxSpec) in s.limits.cpus = 0 },
        { (s: inout SandboxSpec) in s.limits.cpuTimeSeconds = -1 },
        { (s: inout SandboxSpec) in s.limits.wallTimeSeconds = .nan },
        { (s: inout SandboxSpec) in s.limits.memoryBytes = 10 },
        { (s: inout SandboxSpec) in s.limits.pids = 0 },
        { (s: inout SandboxSpec) in s.limits.outputBytes = 0 },
        { (s: inout SandboxSpec) in s.workingDirectory = "relative" },
        { (s: inout SandboxSpec) in s.mounts = [BindMount(source: "/a", target: "/../etc")] },
    ] as [@Sendable (inout SandboxSpec) -> Void])
    func badSpecsAreRejectedBeforeAnythingIsMade(edit: @Sendable (inout SandboxSpec) -> Void) {
        #expect(throws: SandboxError.self) { try Planner.plan(spec(edit), rootfs: "/img", host: root) }
    }

    @Test func stepNamesSayWhatFailedOnWhat() throws {
        let plan = try Planner.plan(spec(), rootfs: "/img", host: root)
        #expect(plan.ops[0].description == "mount(tmpfs /run/gb/.mnt/scratch size=67108864,mode=0755)")
        #expect(plan.ops[1].description == "mount(bind /img -> /run/gb/.mnt/root)")
        #expect(StepNaming(plan).name(-18) == "execve(/bin/echo)")
        #expect(StepNaming(plan).name(-7) == "pivot_root(/run/gb/.mnt/root)")
    }
}

@Suite("Limit syntax of the CLI")
struct LimitParsingTests {
    @Test func sizes() throws {
        #expect(try LimitParsing.bytes("64M", option: "--memory") == 64 << 20)
        #expect(try LimitParsing.bytes("1k", option: "--output") == 1024)
        #expect(try LimitParsing.bytes("1.5G", option: "--memory") == 3 << 29)
        #expect(try LimitParsing.bytes("4096", option: "--output") == 4096)
        for bad in ["0", "-1M", "abc", "", "M", "12X"] {
            #expect(throws: SandboxError.self) { try LimitParsing.bytes(bad, option: "--memory") }
        }
    }

    @Test func times() throws {
        #expect(try LimitParsing.seconds("2", option: "--time") == 2)
        #expect(try LimitParsing.seconds("0.5", option: "--time") == 0.5)
        #expect(try LimitParsing.seconds("250ms", option: "--time") == 0.25)
        for bad in ["0", "-2", "soon", "inf"] {
            #expect(throws: SandboxError.self) { try LimitParsing.seconds(bad, option: "--time") }
        }
    }

    @Test func errorsNameTheOption() {
        do {
            _ = try LimitParsing.count("zero", option: "--pids")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("--pids"))
        }
    }
}

@Suite("Verdicts")
struct VerdictTests {
    @Test func fixedExitCodesAreDistinctAndAbove200() {
        let codes = Verdict.allCases.compactMap(\.fixedExitCode) + [Verdict.usageExitCode]
        #expect(Set(codes).count == codes.count)
        #expect(codes.allSatisfy { $0 > 200 })
        #expect(RunResult(verdict: .RE, exitCode: 3).processExitCode == 3)
        #expect(RunResult(verdict: .TO, exitCode: nil, signal: 9).processExitCode == 201)
    }
}

/// Boxes copied from their image's mount template.
extension PlannerTests {
    @Test func aTemplatedBoxWorksInItsOwnPathsWithoutPivotOrHostMounts() throws {
        let plan = try Planner.plan(spec(), rootfs: "/img", host: root, mountTemplate: true)
        #expect(plan.mountTemplate == "/img")
        #expect(plan.cloneFlags & CloneFlags.newNS == 0)
        #expect(plan.newRoot == nil)
        // Nothing of the host: not the image path (the template's root), not the mount points.
        for op in plan.ops {
            for path in [op.source, op.target].compactMap({ $0 }) {
                #expect(!path.hasPrefix("/run/gb") && !path.hasPrefix("/img"), "\(op)")
            }
        }
        // The scratch tmpfs sits on /tmp, and is covered there after every
        // other bind taken from it, by the bind of its own tmp directory.
        #expect(plan.ops[0].fstype == "tmpfs" && plan.ops[0].target == "/tmp")
        let fromScratch = plan.ops.indices.filter { plan.ops[$0].source?.hasPrefix("/tmp/") == true }
        let cover = try #require(plan.ops.lastIndex { $0.source == "/tmp/tmp" && $0.target == "/tmp" })
        #expect(fromScratch.last == cover)
        #expect(fromScratch.count >= 2)  // the empty directory for masked /proc, /tmp
        // /dev is the template's: the box mounts only its own devpts there.
        #expect(!plan.ops.contains { $0.kind == .mknod || $0.kind == .symlink })
        #expect(plan.ops.contains { $0.fstype == "devpts" && $0.target == "/dev/pts" })
        // The template's root is read-only already: no remount of "/".
        #expect(!plan.ops.contains { $0.target == "" || $0.target == "/" })
    }

    @Test func aTemplateHoldsTheImageAndAReadOnlyDevBothReadOnlyLast() throws {
        let ops = Planner.mountTemplateOps(rootfs: "/img", mountPoint: "/m")
        #expect(ops.first?.source == "/img" && ops.first?.target == "/m" && ops.first!.flags & MountFlags.bind != 0)
        let devices = ops.filter { $0.kind == .mknod }
        #expect(devices.map(\.target) == Planner.devices.map { "/m/dev/\($0.name)" })
        let devTmpfs = try #require(ops.firstIndex { $0.fstype == "tmpfs" && $0.target == "/m/dev" })
        #expect(ops[devTmpfs].flags & MountFlags.noDev == 0, "device nodes must open")
        let lastTwo = ops.suffix(2).map { ($0.target, $0.flags & (MountFlags.remount | MountFlags.readOnly)) }
        #expect(lastTwo.map(\.0) == ["/m/dev", "/m"])
        #expect(lastTwo.allSatisfy { $0.1 == MountFlags.remount | MountFlags.readOnly })
        #expect(ops.contains { $0.kind == .mkdir && $0.target == "/m/dev/pts" })
    }

    @Test func aWorkingDirectoryIsMadeInTheCoveredTmpOrBoundFromTheScratch() throws {
        let inTmp = try Planner.plan(spec { $0.workingDirectory = "/tmp/work" }, rootfs: "/img", host: root, mountTemplate: true)
        let cover = try #require(inTmp.ops.lastIndex { $0.source == "/tmp/tmp" })
        let made = try #require(inTmp.ops.firstIndex { $0.kind == .mkdir && $0.target == "/tmp/work" })
        #expect(made > cover)
        let elsewhere = try Planner.plan(spec { $0.workingDirectory = "/task" }, rootfs: "/img", host: root, mountTemplate: true)
        #expect(elsewhere.ops.contains { $0.source == "/tmp/workdir" && $0.target == "/task" })
    }

    @Test func aTemplatedBoxAttachesHostTreesOpenedBeforeItsCloneReadOnlyUnlessAsked() throws {
        let s = spec { $0.mounts = [BindMount(source: "/data", target: "/data"), BindMount(source: "/out", target: "/out", writable: true)] }
        #expect(Planner.mayUseMountTemplate(s, host: root))
        let plan = try Planner.plan(s, rootfs: "/img", host: root, mountTemplate: true)
        #expect(plan.mountTemplate == "/img" && plan.newRoot == nil)
        let attached = plan.ops.filter { $0.kind == .attach }
        #expect(attached.map(\.source) == ["/data", "/out"])
        #expect(attached.map(\.target) == ["/data", "/out"])
        #expect(attached.allSatisfy { $0.flags & MountFlags.rec != 0 })
        #expect(attached.map { $0.flags & MountFlags.readOnly != 0 } == [true, false])
        // Read-only as opened: no remount follows, and no other op names a host path.
        #expect(!plan.ops.contains { $0.flags & MountFlags.remount != 0 && ["/data", "/out"].contains($0.target) })
        #expect(!plan.ops.contains { $0.kind != .attach && ($0.source == "/data" || $0.source == "/out") })
        #expect(attached[0].description == "mount(bind /data -> /data)")
    }

    @Test func aTemplatedOverlayRootIsBuiltOnTheScratchOverTheTemplatesRootThenPivotedInto() throws {
        let s = spec { s in
            s.rootfs = .overlay
            s.workingDirectory = "/task"
            s.workingDirectoryMode = .image
            s.mounts = [BindMount(source: "/data", target: "/task", writable: true), BindMount(source: "/in", target: "/.__input")]
        }
        #expect(Planner.mayUseMountTemplate(s, host: root))
        let plan = try Planner.plan(s, rootfs: "/img", host: root, mountTemplate: true)
        let newRoot = Planner.templatedOverlayRoot
        #expect(plan.mountTemplate == "/img" && plan.newRoot == newRoot)
        #expect(plan.cloneFlags & CloneFlags.newNS == 0, "the template's copy is made by unshare after setns")
        // The scratch on the image's /tmp, the overlay over "/" (the template's root) on it.
        #expect(plan.ops.first?.fstype == "tmpfs" && plan.ops.first?.target == "/tmp")
        let overlay = try #require(plan.ops.firstIndex { $0.fstype == "overlay" })
        #expect(plan.ops[overlay].target == newRoot && plan.ops[overlay].data == "lowerdir=/,upperdir=/tmp/upper,workdir=/tmp/work")
        // Mount points the image lacks made in the overlay, binds attached there, read-only unless asked.
        for target in ["/task", "/.__input", "/dev", "/proc", "/tmp"] {
            let made = try #require(plan.ops.firstIndex { $0.kind == .mkdir && $0.target == newRoot + target }, "\(target)")
            #expect(made > overlay)
        }
        let attached = plan.ops.filter { $0.kind == .attach }
        #expect(attached.map(\.target) == [newRoot + "/task", newRoot + "/.__input"])
        #expect(attached.map { $0.flags & MountFlags.readOnly != 0 } == [false, true])
        // The template's /dev bound in; proc and /tmp of the box's own; nothing names the host's mount points.
        #expect(plan.ops.contains { $0.source == "/dev" && $0.target == newRoot + "/dev" && $0.flags & MountFlags.bind != 0 })
        #expect(plan.ops.contains { $0.fstype == "proc" && $0.target == newRoot + "/proc" })
        #expect(plan.ops.contains { $0.source == "/tmp/tmp" && $0.target == newRoot + "/tmp" })
        #expect(!plan.ops.contains { ($0.source ?? "").hasPrefix(root.rootMountPoint) || $0.target.hasPrefix(root.scratchMountPoint) })
    }

    @Test func procEntriesTheKernelLacksAreNotMaskedButARestrictedProcHidesNothing() throws {
        let missing: Set<String> = ["/proc/kcore", "/proc/scsi", "/proc/sched_debug"]
        let absent = Planner.absentProcEntries { !missing.contains($0) }
        #expect(absent == missing)
        #expect(Planner.absentProcEntries { $0 != "/proc/meminfo" && !missing.contains($0) } == [], "subset=pid: say nothing")
        var host = root
        host.absentProcEntries = absent
        let targets = try Planner.plan(spec(), rootfs: "/img", host: host).ops.map(\.target)
        for gone in missing { #expect(!targets.contains(host.rootMountPoint + gone), "\(gone)") }
        for kept in ["/proc/keys", "/proc/acpi", "/proc/sys"] { #expect(targets.contains(host.rootMountPoint + kept), "\(kept)") }
    }

    @Test func boxesATemplateCannotServeCopyTheCallersMounts() throws {
        let cases: [(String, SandboxSpec, HostFacts)] = [
            ("rootless", spec(), user),
            ("user namespace as root", spec { $0.userNamespace = .always }, root),
            ("more host binds than the C core keeps open", spec { s in
                s.mounts = (0..<33).map { BindMount(source: "/data\($0)", target: "/data\($0)") } }, root),
        ]
        for (what, s, host) in cases {
            #expect(!Planner.mayUseMountTemplate(s, host: host), "\(what)")
            let plan = try Planner.plan(s, rootfs: "/img", host: host, mountTemplate: true)
            #expect(plan.mountTemplate == nil, "\(what)")
            #expect(plan.cloneFlags & CloneFlags.newNS != 0, "\(what)")
            #expect(plan.newRoot == host.rootMountPoint, "\(what)")
        }
        #expect(Planner.mayUseMountTemplate(spec(), host: root))
        let unasked = try Planner.plan(spec(), rootfs: "/img", host: root)
        #expect(unasked.mountTemplate == nil && unasked.newRoot == root.rootMountPoint)
    }
}
