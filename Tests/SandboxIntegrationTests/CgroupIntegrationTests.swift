import Testing

@testable import SandboxCore

#if canImport(Glibc)
import Glibc
#endif

/// What this host offers, asked once.
enum CgroupHost {
    static let isRoot = Host.isRoot
    static let layout = (try? CgroupLayout.current()) ?? CgroupLayout()
    static let isV1 = layout.hasV1Controllers
    static let isPureV2: Bool = {
        guard !layout.hasV1Controllers, let unified = layout.unified,
            let controllers = try? Kernel.live.read("\(unified)/cgroup.controllers")
        else { return false }
        return ["memory", "cpu", "pids"].allSatisfy { controllers.contains($0) }
    }()
}

private func terminatingSignal(_ status: Int32) -> Int32? {
    let signal = status & 0x7F
    return signal != 0 && signal != 0x7F ? signal : nil
}

private func uniqueName(_ tag: String) -> String { "itest-\(getpid())-\(tag)" }

@Suite(
    "cgroup v1 driver on this host",
    .serialized,
    .enabled(if: CgroupHost.isRoot, "needs root to make cgroups"),
    .enabled(if: CgroupHost.isV1, "needs cgroup v1 (or hybrid) memory/cpu/pids hierarchies")
)
struct CgroupV1IntegrationTests {
    let fs = Kernel.live
    var driver: any CgroupDriver { get throws { try makeCgroupDriver(layout: CgroupHost.layout, fs: fs) } }

    @Test func limitsLandInTheRealFilesAndMemswOrderHolds() throws {
        let driver = try driver
        #expect(driver.version == .v1)
        let group = try driver.create(name: uniqueName("limits"))
        defer { try? driver.remove(group) }
        let memory = "\(CgroupHost.layout.v1["memory"]!)/gradebox/\(group.name)"
        let cpu = "\(CgroupHost.layout.v1["cpu"]!)/gradebox/\(group.name)"
        let pids = "\(CgroupHost.layout.v1["pids"]!)/gradebox/\(group.name)"
        func value(_ path: String) throws -> String { try fs.read(path).split(separator: "\n").first.map(String.init) ?? "" }

        try driver.apply(Limits(memoryBytes: 64 << 20, cpus: 1, pids: 64), to: group)
        #expect(try value("\(memory)/memory.limit_in_bytes") == "67108864")
        #expect(try value("\(cpu)/cpu.cfs_period_us") == "100000")
        #expect(try value("\(cpu)/cpu.cfs_quota_us") == "100000")
        #expect(try value("\(pids)/pids.max") == "64")
        let hasMemsw = fs.exists("\(memory)/memory.memsw.limit_in_bytes")
        if hasMemsw { #expect(try value("\(memory)/memory.memsw.limit_in_bytes") == "67108864") }

        // Raising past memsw, then lowering, then unlimited: the kernel
        // refuses any order that breaks memsw >= limit.
        try driver.apply(Limits(memoryBytes: 256 << 20, cpus: 0.5), to: group)
        #expect(try value("\(memory)/memory.limit_in_bytes") == "268435456")
        if hasMemsw { #expect(try value("\(memory)/memory.memsw.limit_in_bytes") == "268435456") }
        #expect(try value("\(cpu)/cpu.cfs_quota_us") == "50000")
        try driver.apply(Limits(memoryBytes: 16 << 20), to: group)
        #expect(try value("\(memory)/memory.limit_in_bytes") == "16777216")
        try driver.apply(Limits(), to: group)
        #expect(try UInt64(value("\(memory)/memory.limit_in_bytes"))! > 1 << 60)
        #expect(try value("\(cpu)/cpu.cfs_quota_us") == "-1")
        #expect(try value("\(pids)/pids.max") == "max")
    }

    @Test func killAllEndsAProcessAndRemoveLeavesNothing() throws {
        let driver = try driver
        let group = try driver.create(name: uniqueName("kill"))
        var removed = false
        defer { if !removed { try? driver.remove(group) } }
        let pid = try spawnProcess(["/bin/sleep", "30"])
        for procs in group.procsFiles { try fs.write(procs, String(pid)) }
        #expect(try fs.read(group.procsFiles[0]).contains(String(pid)))
        _ = try driver.cpuUsageNanoseconds(group)
        let stats = try driver.stats(group)
        #expect(stats.oomKills == 0)
        // v1 leaves a moved process's pages charged where they were, so the
        // peak may be 0 here; it must be readable all the same.
        #expect(stats.memoryPeakBytes != nil)

        try driver.killAll(group)
        #expect(terminatingSignal(waitStatus(pid)) == SIGKILL)
        for procs in group.procsFiles { #expect(try fs.read(procs).isEmpty) }

        try driver.remove(group)
        removed = true
        for procs in group.procsFiles {
            let dir = String(procs.dropLast("/cgroup.procs".count))
            #expect(!fs.exists(dir), "\(dir) is still there")
        }
        #expect(try !driver.leftovers().contains(group.name))
    }

    @Test func cpuUsageGrowsWhileAProgramSpins() throws {
        let driver = try driver
        var group = try driver.create(name: uniqueName("cpu"))
        defer { try? driver.remove(group) }
        let pid = try spawnProcess(["/bin/sh", "-c", "for f in \(group.procsFiles.joined(separator: " ")); do echo $$ > $f; done; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
        #expect(waitStatus(pid) == 0)
        let used = try driver.cpuUsageNanoseconds(group)
        #expect(used > 10_000_000, "a 200 000-step shell loop used \(used) ns")
        try driver.reset(&group)
        #expect(try driver.cpuUsageNanoseconds(group) < used)
    }

    @Test func memoryLimitEndsInAnOOMKillThatStatsCount() throws {
        let driver = try driver
        var group = try driver.create(name: uniqueName("oom"))
        defer { try? driver.remove(group) }
        try driver.apply(Limits(memoryBytes: 32 << 20, pids: 64), to: group)
        // The shell joins the group, then holds 200 MB in a variable.
        let script = "for f in \(group.procsFiles.joined(separator: " ")); do echo $$ > $f; done; x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}"
        let pid = try spawnProcess(["/bin/sh", "-c", script])
        let status = waitStatus(pid)
        #expect(terminatingSignal(status) == SIGKILL, "status \(status)")
        let stats = try driver.stats(group)
        // The OOM killer may take the pipeline's other processes too (seen: 2).
        #expect(stats.oomKills >= 1)
        #expect(stats.memoryPeakBytes ?? 0 >= 30 << 20)
        #expect(stats.memoryPeakBytes ?? .max <= 32 << 20)

        try driver.reset(&group)
        let fresh = try driver.stats(group)
        #expect(fresh.oomKills == 0)
        #expect(fresh.memoryPeakBytes ?? .max < 30 << 20)
    }
}

@Suite(
    "cgroup v2 driver on this host",
    .serialized,
    .enabled(if: CgroupHost.isRoot, "needs root to make cgroups"),
    .enabled(if: CgroupHost.isPureV2, "cgroup v2 controllers: the host is hybrid v1 (memory, cpu, pids are on v1 hierarchies); scripts/guest/run.sh runs these in a guest")
)
struct CgroupV2IntegrationTests {
    let fs = Kernel.live

    @Test func createApplyKillRemove() throws {
        let driver = try makeCgroupDriver(layout: CgroupHost.layout, fs: fs)
        #expect(driver.version == .v2)
        var group = try driver.create(name: uniqueName("v2"))
        var removed = false
        defer { if !removed { try? driver.remove(group) } }
        let dir = try #require(group.directory)
        try driver.apply(Limits(memoryBytes: 64 << 20, cpus: 1, pids: 64), to: group)
        #expect(try fs.read("\(dir)/memory.max") == "67108864\n")
        #expect(try fs.read("\(dir)/cpu.max") == "100000 100000\n")
        #expect(try fs.read("\(dir)/pids.max") == "64\n")

        let pid = try spawnProcess(["/bin/sleep", "30"])
        try fs.write("\(dir)/cgroup.procs", String(pid))
        _ = try driver.cpuUsageNanoseconds(group)
        try driver.killAll(group)
        #expect(terminatingSignal(waitStatus(pid)) == SIGKILL)
        try driver.reset(&group)
        #expect(try driver.stats(group).oomKills == 0)
        try driver.remove(group)
        removed = true
        #expect(!fs.exists(dir))
    }

    @Test func anOOMKillIsCountedByMemoryEventsAndAResetGroupStartsAfresh() throws {
        let driver = try makeCgroupDriver(layout: CgroupHost.layout, fs: fs)
        var group = try driver.create(name: uniqueName("oom"))
        defer { try? driver.remove(group) }
        let dir = try #require(group.directory)
        try driver.apply(Limits(memoryBytes: 32 << 20, pids: 64), to: group)
        // The shell joins the group, then holds 200 MB in a variable.
        let pid = try spawnProcess(["/bin/sh", "-c", "echo $$ > \(dir)/cgroup.procs; x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}"])
        let status = waitStatus(pid)
        #expect(terminatingSignal(status) == SIGKILL, "status \(status)")
        try driver.killAll(group)
        #expect(parseKeyedValue(try fs.read("\(dir)/memory.events"), key: "oom_kill") ?? 0 >= 1)
        let stats = try driver.stats(group)
        #expect(stats.oomKills >= 1)
        #expect(stats.memoryPeakBytes ?? 0 >= 30 << 20, "memory.peak \(String(describing: stats.memoryPeakBytes))")
        #expect(stats.memoryPeakBytes ?? .max <= 32 << 20)

        try driver.reset(&group)
        let fresh = try driver.stats(group)
        #expect(fresh.oomKills == 0)
        #expect(fresh.memoryPeakBytes ?? .max < 1 << 20, "the peak of a reset group: \(String(describing: fresh.memoryPeakBytes))")
        #expect(group.directory == dir && fs.exists("\(dir)/cgroup.procs"), "the same group, ready for its next user")
    }

    @Test func forksStopAtPidsMaxAndPidsEventsCountsTheRefusal() throws {
        let driver = try makeCgroupDriver(layout: CgroupHost.layout, fs: fs)
        let group = try driver.create(name: uniqueName("pids"))
        var removed = false
        defer { if !removed { try? driver.remove(group) } }
        let dir = try #require(group.directory)
        try driver.apply(Limits(pids: 8), to: group)
        // The shell forks sleeps until a fork is refused, which ends it (ash: "can't fork").
        let pid = try spawnProcess(["/bin/sh", "-c", "echo $$ > \(dir)/cgroup.procs; while :; do sleep 30 & done 2>/dev/null"])
        let status = waitStatus(pid)
        #expect(terminatingSignal(status) == nil, "the shell ended at the refused fork, not killed: status \(status)")
        #expect(try parseCgroupNumber(fs.read("\(dir)/pids.current")) == 7, "the seven sleeps the limit left room for")
        let refused = try driver.forkFailures(group)
        #expect(refused >= 1, "pids.events: \((try? fs.read("\(dir)/pids.events")) ?? "")")
        try driver.killAll(group)
        #expect(try fs.read("\(dir)/cgroup.procs").isEmpty)
        try driver.remove(group)
        removed = true
        #expect(!fs.exists(dir))
        #expect(try !driver.leftovers().contains(group.name))
    }

    @Test func cpuUsageGrowsWhileAProgramSpinsAndAResetGroupStartsAtZero() throws {
        let driver = try makeCgroupDriver(layout: CgroupHost.layout, fs: fs)
        var group = try driver.create(name: uniqueName("cpu"))
        defer { try? driver.remove(group) }
        let dir = try #require(group.directory)
        let pid = try spawnProcess(["/bin/sh", "-c", "echo $$ > \(dir)/cgroup.procs; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"])
        #expect(waitStatus(pid) == 0)
        let used = try driver.cpuUsageNanoseconds(group)
        #expect(used > 10_000_000, "a 100 000-step shell loop used \(used) ns")
        try driver.reset(&group)
        #expect(try driver.cpuUsageNanoseconds(group) < used / 10)
    }
}

/// Boxes on a real cgroup v2 hierarchy: what only v2 can show (the guest tier runs these).
@Suite(
    "cgroup v2 boxes, for real (root)",
    .serialized,
    .enabled(if: Host.canRunBoxes, Host.skipReason),
    .enabled(if: CgroupHost.isPureV2, "cgroup v2 controllers: the host is hybrid v1 (memory, cpu, pids are on v1 hierarchies); scripts/guest/run.sh runs these in a guest")
)
struct CgroupV2BoxTests {
    func sandbox() async throws -> Sandbox { try await Fixture.shared.sandbox(state: "v2") }

    @Test func halfACpuGetsAboutHalfACpu() async throws {
        try await expectHalfACpu(try await sandbox())
    }

    @Test func theMemoryPeakIsReadBack() async throws {
        try await expectMemoryPeak(try await sandbox())
    }

    @Test func aBoxSeesItsOwnGroupAsTheRoot() async throws {
        let r = try shell(try await sandbox(), "cat /proc/self/cgroup") { $0.limits.memoryBytes = 64 << 20 }
        #expect(r.verdict == .OK && r.out == "0::/\n", "\(r.out)")
    }
}

/// A spinning box limited to 0.5 CPU gets about half a CPU of wall time; the same box unlimited gets more.
func expectHalfACpu(_ s: Sandbox) async throws {
    let spin = "while :; do :; done"
    let limited = try shell(s, spin) {
        $0.limits.cpus = 0.5
        $0.limits.wallTimeSeconds = 3
    }
    let free = try shell(s, spin) {
        $0.limits.pids = 64
        $0.limits.wallTimeSeconds = 1.5
    }
    #expect(limited.verdict == .TO && limited.limit == .wall)
    let share = limited.cpuMs / limited.wallMs
    let freeShare = free.cpuMs / free.wallMs
    #expect(share >= 0.35 && share <= 0.6, "0.5 CPU: \(limited.cpuMs) ms of CPU in \(limited.wallMs) ms")
    #expect(freeShare >= share + 0.2, "unlimited, the same loop got \(free.cpuMs) ms of CPU in \(free.wallMs) ms")
}

/// A box that holds 20 MB reports a peak of at least that, within its limit; an empty one far less.
func expectMemoryPeak(_ s: Sandbox) async throws {
    let big = try shell(s, "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ${#x}") { $0.limits.memoryBytes = 128 << 20 }
    #expect(big.verdict == .OK && big.out == "20000000\n")
    let peak = try #require(big.memoryPeakBytes)
    #expect(peak >= 20_000_000 && peak <= 128 << 20, "peak \(peak)")
    let small = try shell(s, "true") { $0.limits.memoryBytes = 128 << 20 }
    #expect((small.memoryPeakBytes ?? .max) < 10_000_000, "peak \(String(describing: small.memoryPeakBytes))")
}
