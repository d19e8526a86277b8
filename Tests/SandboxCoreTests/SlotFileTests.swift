import Testing
@testable import SandboxCore

@Suite struct SlotFileTests {
    @Test func aHandleSurvivesTheRoundTrip() {
        let v1 = CgroupHandle(name: "pool-0123abcd-3",
                              procsFiles: ["/sys/fs/cgroup/memory/gradebox/pool-0123abcd-3/cgroup.procs",
                                           "/sys/fs/cgroup/pids/gradebox/pool-0123abcd-3/cgroup.procs"],
                              directory: nil, oomKillBaseline: 2, cpuUsageBaselineNanoseconds: 0)
        let v2 = CgroupHandle(name: "pool-x-0", procsFiles: ["/sys/fs/cgroup/gradebox/pool-x-0/cgroup.procs"],
                              directory: "/sys/fs/cgroup/gradebox/pool-x-0", oomKillBaseline: 0,
                              cpuUsageBaselineNanoseconds: 123_456_789)
        #expect(SlotFile.decode(SlotFile.encode(v1)) == v1)
        #expect(SlotFile.decode(SlotFile.encode(v2)) == v2)
    }

    @Test(arguments: ["", "gradebox-slot 1\n", "gradebox-slot 2\nn\n-\n0\n0\n", "gradebox-slot 1\nn\n-\nx\n0\n",
                      "{\"name\":\"pool-0\"}", "gradebox-slot 1\n\n-\n0\n0\n"])
    func aDamagedFileIsNoHandle(_ text: String) {
        // The slot is then made afresh, never trusted.
        #expect(SlotFile.decode(text) == nil)
    }
}
