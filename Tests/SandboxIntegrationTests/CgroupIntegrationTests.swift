import Testing

@testable import SandboxCore

#if canImport(Glibc)
import Glibc
#endif

/// What this host offers, asked once.
private enum CgroupHost {
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
    .enabled(if: CgroupHost.isPureV2, "cgroup v2 controllers: the host is hybrid v1 (memory, cpu, pids are on v1 hierarchies)")
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
}
