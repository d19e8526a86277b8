import Testing

@testable import SandboxCore

private let parent = "/sys/fs/cgroup/gradebox"

/// A pure v2 host with gradebox's parent ready (CgroupV2Tests' fake).
private func host() throws -> (RecordingSyscalls, any CgroupDriver) {
    let fs = v2Host(parentReady: true)
    return (fs, try v2(fs))
}

@Suite("groups of boxes kept for reuse (GroupPool), on a recording fake of cgroup v2")
struct GroupPoolTests {
    @Test func aGroupAndItsMembersAreMadeOnceAndHandedBackClean() throws {
        let (fs, driver) = try host()
        let pool = GroupPool(releasingSlotsTo: { _ in }, sys: fs)
        var limits = Limits()
        limits.pids = 64
        func make() throws(SandboxError) -> CgroupHandle {
            let handle = try driver.create(name: "job-1")
            try driver.enableChildren(handle)
            return handle
        }
        let group = try pool.take(limits, driver: driver, make: make)
        #expect(fs.hasDirectory("\(parent)/job-1"))
        #expect(fs.changes.contains(.write("\(parent)/job-1/pids.max", "64")))
        let member = try #require(try pool.member(of: "job-1", network: false, driver: driver, slots: nil))
        #expect(member.cgroup.name == "job-1/m0" && fs.hasDirectory("\(parent)/job-1/m0"))
        // A second box at once gets a member of its own.
        let second = try #require(try pool.member(of: "job-1", network: false, driver: driver, slots: nil))
        #expect(second.cgroup.name == "job-1/m1")
        // v2's reset may make a member anew: what it held is not kept.
        #expect(member.procs == nil)
        pool.noteApplied("job-1", member.index, [CgroupWrite("pids", "pids.max", "64")])
        pool.giveBack("job-1", member.index, driver: driver)
        pool.giveBack("job-1", second.index, driver: driver)
        let reused = try pool.member(of: "job-1", network: false, driver: driver, slots: nil)
        #expect(reused?.cgroup.name == "job-1/m0", "a member is reused")
        #expect(reused?.applied == nil, "its limits are written again")
        pool.giveBack("job-1", 0, driver: driver)

        fs.setFile("\(parent)/job-1/cgroup.events", "populated 0\n")
        fs.setFile("\(parent)/job-1/m0/cgroup.events", "populated 0\n")
        fs.setFile("\(parent)/job-1/m1/cgroup.events", "populated 0\n")
        #expect(try pool.give(group.name, driver: driver))
        #expect(fs.hasDirectory("\(parent)/job-1/m0"), "kept idle with its members")

        // Taken again: not made again; its counters reset (v2: from baselines, as
        // it has members) and its controllers handed down again.
        fs.setFile("\(parent)/job-1/cpu.stat", "usage_usec 2000\n")
        fs.setFile("\(parent)/job-1/memory.events", "oom_kill 0\n")
        fs.setFile("\(parent)/job-1/pids.events", "max 0\n")
        fs.clearOperations()
        limits.pids = 32
        let again = try pool.take(limits, driver: driver, make: { () throws(SandboxError) -> CgroupHandle in
            Issue.record("an idle group is reused, not made")
            return try make()
        })
        #expect(again.name == "job-1")
        #expect(fs.changes.contains(.write("\(parent)/job-1/cgroup.subtree_control", "+cpu +memory +pids")))
        #expect(fs.changes.contains(.write("\(parent)/job-1/pids.max", "32")))
        #expect(try !pool.give("job-9", driver: driver), "a group the pool did not give is not taken back")
        fs.setFile("\(parent)/job-1/cgroup.events", "populated 0\n")
        #expect(try pool.give(again.name, driver: driver))
        #expect(pool.drain(driver: driver) == 1)
        #expect(!fs.hasDirectory("\(parent)/job-1"), "drained: removed with its members")
    }

    /// On v1 a reset only zeroes counters: a member keeps its cgroup.procs
    /// files open and its limits from one box to the next, and a pooled
    /// group taken again with the same limits does not write them again.
    @Test func onV1AMemberKeepsItsJoinFilesAndLimitsAcrossBoxes() throws {
        let root = "/sys/fs/cgroup"
        let controllers = ["memory", "cpu", "cpuacct", "pids", "freezer"]
        let fs = hostFS(withParents: true)
        for group in ["job-1", "job-1/m0"] {
            for c in controllers { fs.setFile("\(root)/\(c)/gradebox/\(group)/cgroup.procs", "") }
            fs.setFile("\(root)/memory/gradebox/\(group)/memory.max_usage_in_bytes", "0\n")
            fs.setFile("\(root)/memory/gradebox/\(group)/memory.oom_control", "oom_kill 0\n")
            fs.setFile("\(root)/cpuacct/gradebox/\(group)/cpuacct.usage", "0\n")
            fs.setFile("\(root)/pids/gradebox/\(group)/pids.events", "max 0\n")
        }
        let driver = v1(fs)
        #expect(driver.resetKeepsGroup)
        let pool = GroupPool(releasingSlotsTo: { _ in }, sys: fs)
        var limits = Limits()
        limits.pids = 64
        let made = try pool.take(limits, driver: driver, make: { () throws(SandboxError) -> CgroupHandle in try driver.create(name: "job-1") })
        let first = try #require(try pool.member(of: "job-1", network: false, driver: driver, slots: nil))
        #expect(first.procs?.count == controllers.count && first.applied == nil)
        let writes = [CgroupWrite("pids", "pids.max", "64")]
        pool.noteApplied("job-1", first.index, writes)
        pool.giveBack("job-1", first.index, driver: driver)
        fs.clearOperations()
        let second = try #require(try pool.member(of: "job-1", network: false, driver: driver, slots: nil))
        #expect(second.index == first.index && second.procs == first.procs && second.applied == writes)
        #expect(!fs.operations.contains { if case .open = $0 { true } else { false } }, "\(fs.operations)")
        pool.giveBack("job-1", second.index, driver: driver)

        #expect(try pool.give(made.name, driver: driver))
        fs.clearOperations()
        _ = try pool.take(limits, driver: driver, make: { () throws(SandboxError) -> CgroupHandle in
            Issue.record("an idle group is reused, not made")
            return try driver.create(name: "job-2")
        })
        #expect(!fs.changes.contains { if case .write(let path, _) = $0 { path.hasSuffix("pids.max") } else { false } }, "the same limits, not written again")
        limits.pids = 32
        #expect(try pool.give(made.name, driver: driver))
        fs.clearOperations()
        _ = try pool.take(limits, driver: driver, make: { () throws(SandboxError) -> CgroupHandle in try driver.create(name: "job-3") })
        #expect(fs.changes.contains(.write("\(root)/pids/gradebox/job-1/pids.max", "32")))
        #expect(pool.drain(driver: driver) == 0)   // still taken
        #expect(try pool.give(made.name, driver: driver))
        #expect(pool.drain(driver: driver) == 1)
        #expect(fs.openDescriptors.isEmpty, "the member's cgroup.procs files are closed with it: \(fs.openDescriptors)")
    }
}
