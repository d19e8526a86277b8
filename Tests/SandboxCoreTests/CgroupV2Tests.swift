import Testing

@testable import SandboxCore

#if canImport(Glibc)
import Glibc
#endif

private let mount = "/sys/fs/cgroup"
private let dir = "/sys/fs/cgroup/gradebox/box-1"

func v2Host(parentReady: Bool) -> RecordingSyscalls {
    let fs = RecordingSyscalls(directories: [mount])
    fs.setFile("\(mount)/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
    // systemd enables these in the root.
    fs.setFile("\(mount)/cgroup.subtree_control", "cpu io memory pids\n")
    if parentReady {
        fs.addDirectory("\(mount)/gradebox")
        fs.setFile("\(mount)/gradebox/cgroup.subtree_control", "cpu memory pids\n")
    }
    return fs
}

func v2(_ fs: RecordingSyscalls) throws -> any CgroupDriver {
    try makeCgroupDriver(layout: .detect(mountinfo: pureV2Mountinfo), fs: fs, euid: 0)
}

private let user: UInt32 = 1000
/// systemd's user manager, delegated to the user (Delegate=yes): the user's processes live in leaves below it.
private let delegated = "\(mount)/user.slice/user-1000.slice/user@1000.service"

/// A pure v2 host where this process runs as uid 1000 in app.slice/tests.scope of its user manager.
private func delegatedHost() -> RecordingSyscalls {
    let fs = v2Host(parentReady: false)
    fs.setFile("/proc/self/cgroup", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/tests.scope\n")
    var dir = mount
    for (component, owner) in [("user.slice", 0), ("user-1000.slice", 0), ("user@1000.service", user), ("app.slice", user), ("tests.scope", user)] {
        dir += "/" + component
        fs.addDirectory(dir)
        for path in [dir, dir + "/cgroup.procs", dir + "/cgroup.subtree_control"] { fs.setOwner(path, UInt32(owner)) }
        fs.setFile(dir + "/cgroup.subtree_control", "")
        fs.setFile(dir + "/cgroup.controllers", owner == 0 ? "cpuset cpu io memory pids\n" : "cpu memory pids\n")
    }
    return fs
}

private let handle = CgroupHandle(name: "box-1", procsFiles: ["\(dir)/cgroup.procs"], directory: dir)

@Suite("cgroup v2 driver against a recording fake")
struct CgroupV2Tests {
    @Test func firstCreateMakesTheParentAndEnablesControllers() throws {
        let fs = v2Host(parentReady: false)
        let created = try v2(fs).create(name: "box-1")
        #expect(fs.changes == [
            .mkdir("\(mount)/gradebox"),
            .write("\(mount)/gradebox/cgroup.subtree_control", "+cpu +memory +pids"),
            .mkdir(dir),
        ])
        #expect(created == handle)
        #expect(created.directory == dir)
    }

    @Test func rootWithoutControllersGetsThemEnabledFirst() throws {
        let fs = v2Host(parentReady: false)
        fs.setFile("\(mount)/cgroup.subtree_control", "io\n")
        _ = try v2(fs).create(name: "box-1")
        #expect(fs.changes.first == .write("\(mount)/cgroup.subtree_control", "+cpu +memory +pids"))
    }

    @Test func laterCreatesAreOneReadAndOneMkdir() throws {
        let fs = v2Host(parentReady: true)
        let driver = try v2(fs)
        fs.clearOperations()
        _ = try driver.create(name: "box-1")
        #expect(fs.operations == [.read("\(mount)/gradebox/cgroup.subtree_control"), .mkdir(dir)])
    }

    @Test func applyWritesFourFiles() throws {
        let fs = v2Host(parentReady: true)
        try v2(fs).apply(Limits(memoryBytes: 64 << 20, cpus: 1, pids: 64), to: handle)
        #expect(fs.changes == [
            .write("\(dir)/memory.max", "67108864"),
            .write("\(dir)/memory.swap.max", "0"),
            .write("\(dir)/cpu.max", "100000 100000"),
            .write("\(dir)/pids.max", "64"),
        ])
    }

    @Test func swapIsTheDifferenceAndAbsentSwapAccountingIsFine() throws {
        let fs = v2Host(parentReady: true)
        fs.fail("write", "\(dir)/memory.swap.max", errno: ENOENT)
        try v2(fs).apply(Limits(memoryBytes: 100, memorySwapBytes: 150, cpus: 2.5), to: handle)
        #expect(fs.changes.contains(.write("\(dir)/memory.swap.max", "50")))
        #expect(fs.changes.contains(.write("\(dir)/cpu.max", "250000 100000")))
    }

    @Test func noLimitsResetsEverythingToMax() throws {
        let fs = v2Host(parentReady: true)
        try v2(fs).apply(Limits(), to: handle)
        #expect(fs.changes == [
            .write("\(dir)/memory.max", "max"),
            .write("\(dir)/memory.swap.max", "max"),
            .write("\(dir)/cpu.max", "max 100000"),
            .write("\(dir)/pids.max", "max"),
        ])
    }

    @Test func statsParseTheCannedFiles() throws {
        let fs = v2Host(parentReady: true)
        fs.setFile("\(dir)/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n")
        fs.setFile("\(dir)/memory.peak", "8388608\n")
        fs.setFile("\(dir)/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")
        #expect(try v2(fs).stats(handle) == CgroupStats(cpuUsageNanoseconds: 1_500_000, memoryPeakBytes: 8_388_608, oomKills: 1))
    }

    @Test func olderKernelsWithoutMemoryPeak() throws {
        let fs = v2Host(parentReady: true)
        fs.setFile("\(dir)/cpu.stat", "usage_usec 7\n")
        fs.setFile("\(dir)/memory.events", "oom_kill 0\n")
        #expect(try v2(fs).stats(handle).memoryPeakBytes == nil)
    }

    @Test func killAllWritesCgroupKillAndWaitsForPopulatedZero() throws {
        let fs = v2Host(parentReady: true)
        fs.setFile("\(dir)/cgroup.events", "populated 1\nfrozen 0\n", "populated 1\nfrozen 0\n", "populated 0\nfrozen 0\n")
        try v2(fs).killAll(handle)
        #expect(fs.changes == [.write("\(dir)/cgroup.kill", "1")])
        #expect(fs.operations.filter { $0 == .read("\(dir)/cgroup.events") }.count == 3)
    }

    @Test func killAllWithoutCgroupKillKillsEachPid() throws {
        let fs = v2Host(parentReady: true)
        fs.fail("write", "\(dir)/cgroup.kill", errno: ENOENT)
        fs.setFile("\(dir)/cgroup.events", "populated 1\n", "populated 1\n", "populated 0\n")
        fs.setFile("\(dir)/cgroup.procs", "300\n301\n", "")
        try v2(fs).killAll(handle)
        #expect(fs.changes == [.write("\(dir)/cgroup.kill", "1"), .kill(300, signal: SIGKILL), .kill(301, signal: SIGKILL)])
    }

    /// memory.peak cannot be reset for a later reader (on 6.1 not at all;
    /// from 6.12 only through the writer's own open file): seen on Debian's
    /// 6.1 in the guest tier, a reused pool slot reported its first user's peak.
    @Test func resetMakesAnEmptyGroupAgainSoEveryCounterStartsAtZero() throws {
        let fs = v2Host(parentReady: true)
        fs.addDirectory(dir)
        var h = handle
        h.oomKillBaseline = 3
        h.cpuUsageBaselineNanoseconds = 9_000
        h.forkFailureBaseline = 2
        try v2(fs).reset(&h)
        #expect(fs.changes == [.rmdir(dir), .mkdir(dir)])
        #expect(h == handle, "baselines back to zero, same directory and cgroup.procs")
    }

    @Test func resetOfAGroupGoneMakesItAgain() throws {
        let fs = v2Host(parentReady: true)
        var h = handle
        try v2(fs).reset(&h)
        #expect(fs.hasDirectory(dir))
    }

    /// A warm box's init waits in its slot's group: the group cannot be made again.
    @Test func resetRecordsBaselines() throws {
        let fs = v2Host(parentReady: true)
        fs.addDirectory(dir)
        fs.fail("rmdir", dir, errno: EBUSY)
        fs.setFile("\(dir)/cpu.stat", "usage_usec 2000\n", "usage_usec 2500\n")
        fs.setFile("\(dir)/memory.events", "oom_kill 2\n")
        fs.fail("write", "\(dir)/memory.peak", errno: EINVAL)  // before 6.12: not writable
        var h = handle
        let driver = try v2(fs)
        try driver.reset(&h)
        #expect(h.oomKillBaseline == 2)
        #expect(h.cpuUsageBaselineNanoseconds == 2_000_000)
        #expect(try driver.cpuUsageNanoseconds(h) == 500_000)
        #expect(try driver.stats(h).oomKills == 0)
    }

    @Test func removeKillsThenRmdirsAndToleratesAGoneGroup() throws {
        let fs = v2Host(parentReady: true)
        fs.addDirectory(dir)
        fs.setFile("\(dir)/cgroup.events", "populated 0\n")
        try v2(fs).remove(handle)
        #expect(fs.changes == [.rmdir(dir)])
        #expect(!fs.hasDirectory(dir))
        try v2(v2Host(parentReady: false)).remove(handle)
    }

    /// A BoxGroup: a group whose boxes' groups are below it.
    @Test func aGroupForBoxesHandsItsControllersDownAndIsRemovedWithItsBoxes() throws {
        let fs = v2Host(parentReady: true)
        let driver = try v2(fs)
        let job = try driver.create(name: "job-1")
        fs.clearOperations()
        try driver.enableChildren(job)
        #expect(fs.changes == [.write("\(mount)/gradebox/job-1/cgroup.subtree_control", "+cpu +memory +pids")])
        let box = try driver.create(name: "job-1/box-2")
        #expect(box.directory == "\(mount)/gradebox/job-1/box-2")
        #expect(throws: SandboxError.self) { try driver.create(name: "job-1/box-2/deeper") }
        fs.setFile("\(mount)/gradebox/job-1/box-2/cgroup.events", "populated 0\n")
        fs.setFile("\(mount)/gradebox/job-1/cgroup.events", "populated 0\n")
        fs.clearOperations()
        try driver.remove(job)
        #expect(fs.changes.filter { if case .rmdir = $0 { true } else { false } } == [
            .rmdir("\(mount)/gradebox/job-1"), .rmdir("\(mount)/gradebox/job-1/box-2"), .rmdir("\(mount)/gradebox/job-1"),
        ], "refused while its box's group is there, then the box's group first")
        #expect(!fs.hasDirectory("\(mount)/gradebox/job-1"))
    }

    @Test func rootlessBoxesGoBelowTheTopmostCgroupDelegatedToTheUser() throws {
        let fs = delegatedHost()
        let driver = try makeCgroupDriver(layout: .detect(mountinfo: pureV2Mountinfo), fs: fs, euid: user)
        #expect(driver.version == .v2)
        #expect(driver.features.controllers == ["cpu", "memory", "pids"], "what the delegated group is handed, not the root's")
        let box = try driver.create(name: "box-1")
        #expect(box.directory == "\(delegated)/gradebox/box-1")
        #expect(box.procsFiles == ["\(delegated)/gradebox/box-1/cgroup.procs"])
        #expect(fs.changes == [
            .write("\(delegated)/cgroup.subtree_control", "+cpu +memory +pids"),
            .mkdir("\(delegated)/gradebox"),
            .write("\(delegated)/gradebox/cgroup.subtree_control", "+cpu +memory +pids"),
            .mkdir("\(delegated)/gradebox/box-1"),
        ], "nothing is written outside the delegated subtree")
    }

    @Test func rootlessWithoutADelegatedCgroupSaysWhatIsMissing() throws {
        let fs = delegatedHost()
        for path in [delegated, delegated + "/app.slice", delegated + "/app.slice/tests.scope"] {
            fs.setOwner(path + "/cgroup.subtree_control", 0)
        }
        #expect {
            try makeCgroupDriver(layout: .detect(mountinfo: pureV2Mountinfo), fs: fs, euid: user)
        } throws: { error in
            guard case .hostUnsupported(let why) = error as? SandboxError else { return false }
            return why.contains("Delegate=yes") && why.contains("user@1000.service/app.slice/tests.scope")
        }
    }

    @Test func aDelegatedCgroupHoldingProcessesIsExplained() throws {
        let fs = delegatedHost()
        fs.fail("write", "\(delegated)/cgroup.subtree_control", errno: EBUSY)
        let driver = try makeCgroupDriver(layout: .detect(mountinfo: pureV2Mountinfo), fs: fs, euid: user)
        #expect {
            try driver.create(name: "box-1")
        } throws: { error in
            guard case .hostUnsupported(let why) = error as? SandboxError else { return false }
            return why.contains("holds processes") && why.contains(delegated)
        }
    }

    @Test func leftovers() throws {
        let fs = v2Host(parentReady: true)
        fs.addDirectory("\(mount)/gradebox/pool-0")
        fs.addDirectory("\(mount)/gradebox/box-7")
        #expect(try v2(fs).leftovers() == ["box-7", "pool-0"])
        #expect(try v2(v2Host(parentReady: false)).leftovers() == [])
    }
}
