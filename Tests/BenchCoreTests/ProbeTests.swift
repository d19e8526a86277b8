import Testing
@testable import BenchCore

@Suite("Probe: candidate states from host facts, without a host")
struct ProbeTests {
    /// Facts like those of the Firecracker VM HOST.md describes.
    static func hybridVM() -> HostFacts {
        var f = HostFacts()
        f.isRoot = true
        f.userNamespaces = true
        f.filesystems = ["ext4", "overlay", "btrfs", "xfs", "fuse", "tmpfs", "squashfs"]
        f.devices = ["fuse", "loop-control", "cpu_dma_latency"]
        f.cgroupLayout = .hybrid
        f.cgroupV1Controllers = ["cpu", "cpuacct", "memory", "pids", "devices", "freezer", "blkio", "cpuset"]
        f.cgroupV2Controllers = ["hugetlb"]
        f.installable = Set(Packages.all).subtracting(["zfsutils-linux", "kata-containers", "lxd", "firecracker"])
        return f
    }

    @Test func readsReasonsFromTheKernel() throws {
        let f = Self.hybridVM()
        func reason(_ n: String) throws -> String? { Probe.status(try Catalog.lookup(n), facts: f).reason }
        #expect(try reason("#1")?.hasPrefix("aufs: the kernel has no aufs") == true)
        #expect(try reason("#3")?.hasPrefix("devicemapper: the kernel has no device-mapper") == true)
        #expect(try reason("#6")?.contains("zfsutils-linux is in contrib") == true)
        #expect(try reason("#16")?.hasPrefix("kata: not packaged for this distribution") == true)
        #expect(try reason("#42")?.hasPrefix("lvm: the kernel has no device-mapper") == true)
        #expect(Probe.status(try Catalog.lookup("#4"), facts: f).state == .settable)
    }

    @Test func cgroupV2CandidatesRunWithV1OnAHybridHost() throws {
        let s = Probe.status(try Catalog.lookup("#54"), facts: Self.hybridVM())
        #expect(s.state == .settable)
        #expect(s.notes.contains { $0.hasPrefix("cgroup v2 controllers: the host is hybrid v1") })
    }

    @Test func thesisDockerIsUnavailableOnAUnifiedHost() throws {
        var f = Self.hybridVM()
        f.cgroupLayout = .unified
        let s = Probe.status(try Catalog.lookup("#4"), facts: f)
        #expect(s.state == .unavailable)
        #expect(s.reason?.contains("unified cgroup v2") == true)
    }

    @Test func readyWhenPackagesAndUnitsAreThere() throws {
        var f = Self.hybridVM()
        let c = try Catalog.lookup("#10")
        for p in Packages.required(for: c) { f.installed[p] = "1" }
        #expect(Probe.status(c, facts: f).state == .settable)
        f.provisioned = ["image:minimal", "hugetlb-v1", "docker:overlay2"]
        #expect(Probe.status(c, facts: f).state == .ready)
    }

    @Test func missingPackageIsNamed() throws {
        var f = Self.hybridVM()
        f.installable.remove("podman")
        let s = Probe.status(try Catalog.lookup("#54"), facts: f)
        #expect(s.state == .unavailable)
        #expect(s.reason?.hasPrefix("podman: not packaged") == true)
    }

    @Test func notRootCannotSetUp() throws {
        var f = Self.hybridVM()
        f.isRoot = false
        #expect(Probe.status(try Catalog.lookup("crun"), facts: f).state == .unavailable)
    }

    @Test func parsesMountinfoDevicesAndApt() {
        let mountinfo = """
        25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
        30 26 0:26 / /sys/fs/cgroup/memory rw,nosuid shared:9 - cgroup cgroup rw,memory
        31 26 0:27 / /sys/fs/cgroup/cpu rw,nosuid shared:10 - cgroup cgroup rw,cpu
        29 26 0:25 / /sys/fs/cgroup/unified rw,nosuid shared:8 - cgroup2 cgroup2 rw,nsdelegate
        """
        let cg = HostFacts.parseCgroupMounts(mountinfo)
        #expect(cg.v1 == ["memory", "cpu"])
        #expect(cg.v2Path == "/sys/fs/cgroup/unified")
        #expect(HostFacts.parseDevices("Character devices:\n  1 mem\n 10 misc\n\nBlock devices:\n253 device-mapper\n") == ["mem", "misc", "device-mapper"])
        let policy = """
        podman:
          Installed: (none)
          Candidate: 4.3.1+ds1-8+deb12u1
        zfsutils-linux:
          Installed: (none)
          Candidate: (none)
        """
        #expect(HostFacts.parseAptPolicy(policy) == ["podman"])
        #expect(BtrfsLoop.isMounted("/x", mountinfo: "40 25 0:40 / /x rw - btrfs /dev/loop0 rw\n"))
        #expect(!BtrfsLoop.isMounted("/x", mountinfo: "40 25 0:40 / /x rw - ext4 /dev/loop0 rw\n"))
    }
}
