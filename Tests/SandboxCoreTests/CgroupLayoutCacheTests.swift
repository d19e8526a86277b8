#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SandboxCore

@Suite struct CgroupLayoutCacheTests {
    let layout = CgroupLayout(v1: ["memory": "/sys/fs/cgroup/memory", "cpu": "/sys/fs/cgroup/cpu,cpuacct",
                                   "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "pids": "/sys/fs/cgroup/pids"],
                              unified: "/sys/fs/cgroup/unified")

    @Test func aLayoutSurvivesTheRoundTripKeepingOnlyTheControllersGradeboxUses() throws {
        var withOthers = layout
        withOthers.v1["cpuset"] = "/sys/fs/cgroup/cpuset"
        let text = try #require(CgroupLayoutCache.encode(withOthers, key: "k 1"))
        #expect(CgroupLayoutCache.decode(text, key: "k 1") == layout)
        #expect(CgroupLayoutCache.decode(text, key: "k 2") == nil, "learned in another mount namespace")
        #expect(CgroupLayoutCache.decode(String(text.dropLast(5)), key: "k 1") == nil, "a torn file")
        #expect(CgroupLayoutCache.decode("k 1\nv2\t/x\n", key: "k 1") == nil)
    }

    @Test func aMountPointThatCannotBeWrittenOnALineIsNotCached() {
        #expect(CgroupLayoutCache.encode(CgroupLayout(v1: ["memory": "/odd\tpath"]), key: "k") == nil)
        #expect(CgroupLayoutCache.encode(CgroupLayout(unified: "/odd\npath"), key: "k") == nil)
    }

    @Test func theFirstProcessLearnsAndTheNextOnesReadIt() throws {
        let dir = TemporaryDirectory()
        var learned = 0
        // This host's own hierarchies: the cache checks that they are still cgroup file systems.
        let host = try HostCgroups.learn()
        try #require(host.hasV1Controllers || host.unified != nil, "the host has no cgroup hierarchy")
        let learn = { () throws(SandboxError) -> CgroupLayout in learned += 1; return host }
        let first = try CgroupLayoutCache.layout(in: dir.path, detect: learn)
        let second = try CgroupLayoutCache.layout(in: dir.path, detect: learn)
        #expect(learned == 1)
        #expect(first == host)
        #expect(second.unified == host.unified)
        #expect(second.v1 == host.v1.filter { CgroupLayout.v1Controllers.contains($0.key) })
    }

    @Test func aFileOthersMayWriteOrAMountPointThatIsNoLongerACgroupIsNotTrusted() throws {
        let dir = TemporaryDirectory()
        let key = try #require(CgroupLayoutCache.namespaceKey())
        let path = dir.path + "/" + CgroupLayoutCache.fileName
        // /tmp is no cgroup file system: learned again.
        CgroupLayoutCache.write(try #require(CgroupLayoutCache.encode(CgroupLayout(unified: "/tmp"), key: key)), to: path)
        #expect(CgroupLayoutCache.read(path, key: key) == nil)
        let host = try HostCgroups.learn()
        CgroupLayoutCache.write(try #require(CgroupLayoutCache.encode(host, key: key)), to: path)
        #expect(CgroupLayoutCache.read(path, key: key) != nil)
        chmod(path, 0o666)
        #expect(CgroupLayoutCache.read(path, key: key) == nil)
    }
}
