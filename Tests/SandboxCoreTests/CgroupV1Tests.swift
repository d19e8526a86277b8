import Testing

@testable import SandboxCore

#if canImport(Glibc)
import Glibc
#endif

private let root = "/sys/fs/cgroup"
private let controllers = ["memory", "cpu", "cpuacct", "pids", "freezer"]

/// A fake of this host's v1 hierarchies (with memsw, as here), gradebox's
/// parent groups not made yet unless `withParents`.
func hostFS(withParents: Bool = false, memsw: Bool = true) -> RecordingSyscalls {
    var dirs = [root] + controllers.map { "\(root)/\($0)" }
    if withParents { dirs += controllers.map { "\(root)/\($0)/gradebox" } }
    let fs = RecordingSyscalls(directories: dirs)
    if memsw { fs.setFile("\(root)/memory/memory.memsw.limit_in_bytes", "9223372036854771712\n") }
    return fs
}

func v1(_ fs: RecordingSyscalls, without: Set<String> = []) -> CgroupV1 {
    var layout = CgroupLayout.detect(mountinfo: thisHostMountinfo)
    for c in without { layout.v1[c] = nil }
    return CgroupV1(layout: layout, fs: fs)
}

private func group(_ name: String = "box-1") -> CgroupHandle {
    CgroupHandle(name: name, procsFiles: controllers.map { "\(root)/\($0)/gradebox/\(name)/cgroup.procs" }, directory: nil)
}

@Suite("cgroup v1 driver against a recording fake")
struct CgroupV1Tests {
    @Test func firstCreateMakesTheParentsThenTheGroup() throws {
        let fs = hostFS()
        let handle = try v1(fs).create(name: "box-1")
        var expected: [KernelCall] = []
        for c in controllers {
            expected += [.mkdir("\(root)/\(c)/gradebox/box-1"), .mkdir("\(root)/\(c)/gradebox"), .mkdir("\(root)/\(c)/gradebox/box-1")]
        }
        expected.append(.write("\(root)/cpu/gradebox/box-1/cpu.cfs_period_us", "100000"))
        #expect(fs.changes == expected)
        #expect(handle == group())
        #expect(handle.directory == nil)
    }

    @Test func laterCreatesAreOneMkdirPerHierarchy() throws {
        let fs = hostFS(withParents: true)
        _ = try v1(fs).create(name: "pool-3")
        #expect(fs.changes == controllers.map { .mkdir("\(root)/\($0)/gradebox/pool-3") } + [
            .write("\(root)/cpu/gradebox/pool-3/cpu.cfs_period_us", "100000")
        ])
    }

    @Test func createFailsOnAnExistingGroupAndUndoesWhatItMade() throws {
        let fs = hostFS(withParents: true)
        fs.addDirectory("\(root)/pids/gradebox/box-1")
        #expect(throws: SandboxError.syscall("mkdir(\(root)/pids/gradebox/box-1)", errno: EEXIST)) {
            try v1(fs).create(name: "box-1")
        }
        #expect(!fs.hasDirectory("\(root)/memory/gradebox/box-1"))
        #expect(!fs.hasDirectory("\(root)/cpuacct/gradebox/box-1"))
        #expect(fs.hasDirectory("\(root)/pids/gradebox/box-1"))
    }

    @Test func badNamesAreRefused() {
        #expect(throws: SandboxError.self) { try v1(hostFS()).create(name: "../etc") }
        #expect(throws: SandboxError.self) { try v1(hostFS()).create(name: "") }
    }

    @Test func applyWritesFourFilesInOrder() throws {
        let fs = hostFS(withParents: true)
        try v1(fs).apply(Limits(memoryBytes: 64 << 20, cpus: 1, pids: 64), to: group())
        let g = "gradebox/box-1"
        #expect(fs.changes == [
            .write("\(root)/memory/\(g)/memory.limit_in_bytes", "67108864"),
            .write("\(root)/memory/\(g)/memory.memsw.limit_in_bytes", "67108864"),
            .write("\(root)/cpu/\(g)/cpu.cfs_quota_us", "100000"),
            .write("\(root)/pids/\(g)/pids.max", "64"),
        ])
    }

    @Test func raisingPastMemswWritesMemswFirst() throws {
        let fs = hostFS(withParents: true)
        let g = "\(root)/memory/gradebox/box-1"
        // The kernel's answer when the new limit exceeds the current memsw limit.
        fs.fail("write", "\(g)/memory.limit_in_bytes", errno: EINVAL)
        try v1(fs).apply(Limits(memoryBytes: 256 << 20, memorySwapBytes: 512 << 20, cpus: 0.5), to: group())
        #expect(Array(fs.changes.prefix(3)) == [
            .write("\(g)/memory.limit_in_bytes", "268435456"),
            .write("\(g)/memory.memsw.limit_in_bytes", "536870912"),
            .write("\(g)/memory.limit_in_bytes", "268435456"),
        ])
        #expect(fs.changes.contains(.write("\(root)/cpu/gradebox/box-1/cpu.cfs_quota_us", "50000")))
        #expect(fs.changes.count <= 5)
    }

    @Test func noLimitsResetsEverythingToUnlimited() throws {
        let fs = hostFS(withParents: true)
        try v1(fs).apply(Limits(), to: group())
        let g = "gradebox/box-1"
        #expect(fs.changes == [
            .write("\(root)/memory/\(g)/memory.limit_in_bytes", "-1"),
            .write("\(root)/memory/\(g)/memory.memsw.limit_in_bytes", "-1"),
            .write("\(root)/cpu/\(g)/cpu.cfs_quota_us", "-1"),
            .write("\(root)/pids/\(g)/pids.max", "max"),
        ])
    }

    @Test func withoutSwapAccountingOnlyTheLimitIsWritten() throws {
        let fs = hostFS(withParents: true, memsw: false)
        try v1(fs).apply(Limits(memoryBytes: 32 << 20), to: group())
        #expect(fs.changes.first == .write("\(root)/memory/gradebox/box-1/memory.limit_in_bytes", "33554432"))
        #expect(!fs.changes.contains { $0.description.contains("memsw") })
    }

    @Test func missingHierarchyOnlyMattersWhenALimitNeedsIt() throws {
        let fs = hostFS(withParents: true)
        let driver = v1(fs, without: ["pids"])
        try driver.apply(Limits(memoryBytes: 1 << 30), to: group())
        #expect(!fs.changes.contains { $0.description.contains("pids.max") })
        #expect {
            try driver.apply(Limits(pids: 10), to: group())
        } throws: { ($0 as? SandboxError).map { if case .hostUnsupported = $0 { true } else { false } } ?? false }
    }

    @Test func badLimitsAreRefused() {
        let fs = hostFS(withParents: true)
        #expect(throws: SandboxError.self) { try v1(fs).apply(Limits(cpus: 0), to: group()) }
        #expect(throws: SandboxError.self) { try v1(fs).apply(Limits(memoryBytes: 2 << 20, memorySwapBytes: 1 << 20), to: group()) }
        #expect(fs.changes.isEmpty)
    }

    @Test func statsParseTheCannedFiles() throws {
        let fs = hostFS(withParents: true)
        let g = "gradebox/box-1"
        fs.setFile("\(root)/cpuacct/\(g)/cpuacct.usage", "1234567890\n")
        fs.setFile("\(root)/memory/\(g)/memory.max_usage_in_bytes", "5242880\n")
        fs.setFile("\(root)/memory/\(g)/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
        var handle = group()
        #expect(try v1(fs).stats(handle) == CgroupStats(cpuUsageNanoseconds: 1_234_567_890, memoryPeakBytes: 5_242_880, oomKills: 3))
        handle.oomKillBaseline = 2
        #expect(try v1(fs).stats(handle).oomKills == 1)
    }

    @Test func cpuUsageIsOneReadOfAFileKeptOpenUntilTheGroupIsRemoved() throws {
        let fs = hostFS(withParents: true)
        let usage = "\(root)/cpuacct/gradebox/box-1/cpuacct.usage"
        fs.setFile(usage, "42\n", "43\n")
        let driver = v1(fs)
        #expect(try driver.cpuUsageNanoseconds(group()) == 42)
        #expect(fs.operations == [.open(usage), .read(usage)])
        fs.clearOperations()
        #expect(try driver.cpuUsageNanoseconds(group()) == 43)
        #expect(fs.operations == [.read(usage)])
        #expect(fs.openDescriptors.count == 1)
        try driver.remove(group())
        #expect(fs.openDescriptors.isEmpty)
    }

    @Test func aCounterOfAGroupRemovedElsewhereIsOpenedAgain() throws {
        let fs = hostFS(withParents: true)
        let usage = "\(root)/cpuacct/gradebox/box-1/cpuacct.usage"
        fs.setFile(usage, "42\n")
        let driver = v1(fs)
        _ = try driver.cpuUsageNanoseconds(group())
        fs.fail("read", usage, errno: ENODEV)
        fs.clearOperations()
        #expect(try driver.cpuUsageNanoseconds(group()) == 42)
        #expect(fs.operations.filter { if case .open = $0 { true } else { false } } == [.open(usage)])
        #expect(fs.openDescriptors.count == 1)
    }

    @Test func killAllFreezesKillsThawsAndWaits() throws {
        let fs = hostFS(withParents: true)
        let g = "gradebox/box-1"
        for c in controllers { fs.setFile("\(root)/\(c)/\(g)/cgroup.procs", "") }
        fs.setFile("\(root)/memory/\(g)/cgroup.procs", "100\n101\n", "100\n101\n", "101\n", "")
        try v1(fs).killAll(group())
        #expect(fs.changes == [
            .write("\(root)/freezer/\(g)/freezer.state", "FROZEN"),
            .kill(100, signal: SIGKILL), .kill(101, signal: SIGKILL),
            .write("\(root)/freezer/\(g)/freezer.state", "THAWED"),
        ])
    }

    @Test func killAllWithoutAFreezerGroupStillKills() throws {
        let fs = hostFS(withParents: true)
        let g = "gradebox/box-1"
        for c in controllers { fs.setFile("\(root)/\(c)/\(g)/cgroup.procs", "") }
        fs.setFile("\(root)/pids/\(g)/cgroup.procs", "200\n", "200\n", "")
        fs.fail("write", "\(root)/freezer/\(g)/freezer.state", errno: ENOENT)
        try v1(fs).killAll(group())
        // Unfrozen, what is still listed while waiting is killed again.
        #expect(fs.changes == [
            .write("\(root)/freezer/\(g)/freezer.state", "FROZEN"),
            .kill(200, signal: SIGKILL), .kill(200, signal: SIGKILL),
        ])
    }

    @Test func killAllOnAnEmptyGroupOnlyReads() throws {
        let fs = hostFS(withParents: true)
        for c in controllers { fs.setFile("\(root)/\(c)/gradebox/box-1/cgroup.procs", "") }
        try v1(fs).killAll(group())
        #expect(fs.changes.isEmpty)
    }

    @Test func killAllGivesUpOnAGroupThatStaysPopulated() throws {
        let fs = hostFS(withParents: true)
        for c in controllers { fs.setFile("\(root)/\(c)/gradebox/box-1/cgroup.procs", "") }
        fs.setFile("\(root)/pids/gradebox/box-1/cgroup.procs", "7\n")
        #expect(throws: SandboxError.self) { try v1(fs).killAll(group()) }
    }

    @Test func removeKillsThenRemovesEveryDirectoryToleratingGoneOnes() throws {
        let fs = hostFS(withParents: true)
        let driver = v1(fs)
        let handle = try driver.create(name: "box-1")
        try fs.rmdir("\(root)/cpuacct/gradebox/box-1")  // already gone
        for c in controllers { fs.setFile("\(root)/\(c)/gradebox/box-1/cgroup.procs", "") }
        fs.clearOperations()
        try driver.remove(handle)
        #expect(fs.changes == controllers.map { .rmdir("\(root)/\($0)/gradebox/box-1") })
        for c in controllers { #expect(!fs.hasDirectory("\(root)/\(c)/gradebox/box-1")) }
    }

    /// A BoxGroup: boxes' groups below it, in every hierarchy, removed before it.
    @Test func aGroupForBoxesIsRemovedWithTheGroupsBelowIt() throws {
        let fs = hostFS(withParents: true)
        let driver = v1(fs)
        let job = try driver.create(name: "job-1")
        try driver.enableChildren(job)
        _ = try driver.create(name: "job-1/box-2")
        for c in controllers { #expect(fs.hasDirectory("\(root)/\(c)/gradebox/job-1/box-2")) }
        for c in controllers {
            fs.setFile("\(root)/\(c)/gradebox/job-1/cgroup.procs", "")
            fs.setFile("\(root)/\(c)/gradebox/job-1/box-2/cgroup.procs", "")
        }
        try driver.remove(job)
        for c in controllers {
            #expect(!fs.hasDirectory("\(root)/\(c)/gradebox/job-1/box-2") && !fs.hasDirectory("\(root)/\(c)/gradebox/job-1"))
        }
    }

    @Test func removeEmptiesAGroupStillInUseThenRemovesIt() throws {
        let fs = hostFS(withParents: true)
        let driver = v1(fs)
        let handle = try driver.create(name: "box-1")
        for c in controllers { fs.setFile("\(root)/\(c)/gradebox/box-1/cgroup.procs", "") }
        // Read before the freeze, after it, then empty once the kill took.
        fs.setFile("\(root)/memory/gradebox/box-1/cgroup.procs", "42\n", "42\n", "")
        fs.fail("rmdir", "\(root)/memory/gradebox/box-1", errno: EBUSY)
        fs.clearOperations()
        try driver.remove(handle)
        #expect(fs.changes.first == .rmdir("\(root)/memory/gradebox/box-1"))
        #expect(fs.changes.contains(.kill(42, signal: SIGKILL)))
        for c in controllers { #expect(!fs.hasDirectory("\(root)/\(c)/gradebox/box-1")) }
    }

    @Test func resetZeroesPeakAndCpuAndMovesTheOomBaseline() throws {
        let fs = hostFS(withParents: true)
        let g = "gradebox/box-1"
        fs.setFile("\(root)/memory/\(g)/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")
        fs.setFile("\(root)/memory/\(g)/memory.max_usage_in_bytes", "1000\n")
        fs.setFile("\(root)/cpuacct/\(g)/cpuacct.usage", "1000\n")
        var handle = group()
        try v1(fs).reset(&handle)
        #expect(handle.oomKillBaseline == 4)
        #expect(fs.changes.filter { if case .write = $0 { true } else { false } } == [
            .write("\(root)/memory/\(g)/memory.max_usage_in_bytes", "0"),
            .write("\(root)/cpuacct/\(g)/cpuacct.usage", "0"),
        ])
    }

    @Test func leftoversAreTheUnionOfChildGroups() throws {
        let fs = hostFS(withParents: true)
        fs.addDirectory("\(root)/memory/gradebox/box-9")
        fs.addDirectory("\(root)/pids/gradebox/box-9")
        fs.addDirectory("\(root)/cpu/gradebox/pool-1")
        #expect(try v1(fs).leftovers() == ["box-9", "pool-1"])
        #expect(try v1(hostFS()).leftovers() == [])
    }
}
