import Testing

@testable import SandboxCore

/// /proc/self/mountinfo of the development host (Firecracker VM, Debian 12,
/// kernel 6.18): every v1 controller in its own hierarchy, cpu and cpuacct
/// apart, and a cgroup2 mount at /sys/fs/cgroup/unified holding only hugetlb.
let thisHostMountinfo = """
    22 27 0:21 / /proc rw,relatime - proc proc rw
    23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
    24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12358300k,nr_inodes=3089575,mode=755
    25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24731708k
    26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
    27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
    31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
    33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
    34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
    36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
    37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
    38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
    39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
    40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

    """

/// A current Debian/Fedora host booted with systemd: cgroup2 only.
let pureV2Mountinfo = """
    22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
    23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
    26 22 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
    28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro

    """

/// systemd's hybrid layout (Ubuntu 20.04): v1 controllers, cpu and cpuacct
/// co-mounted, and a cgroup2 mount with no controllers at all.
let hybridMountinfo = """
    34 25 0:29 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
    35 34 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
    36 34 0:31 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
    39 34 0:34 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
    40 34 0:35 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
    41 34 0:36 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
    42 34 0:37 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,freezer
    43 34 0:38 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,net_cls,net_prio
    """

@Suite("cgroup layout from mountinfo")
struct CgroupLayoutTests {
    @Test func thisHostIsHybridWithSeparateCpuAndCpuacct() {
        let layout = CgroupLayout.detect(mountinfo: thisHostMountinfo)
        #expect(layout.v1["memory"] == "/sys/fs/cgroup/memory")
        #expect(layout.v1["cpu"] == "/sys/fs/cgroup/cpu")
        #expect(layout.v1["cpuacct"] == "/sys/fs/cgroup/cpuacct")
        #expect(layout.v1["pids"] == "/sys/fs/cgroup/pids")
        #expect(layout.v1["freezer"] == "/sys/fs/cgroup/freezer")
        #expect(layout.v1["systemd"] == nil)
        #expect(layout.unified == "/sys/fs/cgroup/unified")
        #expect(layout.hasV1Controllers)
    }

    @Test func pureV2HasNoV1Hierarchies() {
        let layout = CgroupLayout.detect(mountinfo: pureV2Mountinfo)
        #expect(layout.v1.isEmpty)
        #expect(layout.unified == "/sys/fs/cgroup")
        #expect(!layout.hasV1Controllers)
    }

    @Test func hybridWithComountedControllers() {
        let layout = CgroupLayout.detect(mountinfo: hybridMountinfo)
        #expect(layout.v1["cpu"] == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(layout.v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(layout.v1["net_prio"] == "/sys/fs/cgroup/net_cls,net_prio")
        #expect(layout.v1["xattr"] == nil)
        #expect(layout.unified == "/sys/fs/cgroup/unified")
    }

    @Test func escapedMountPoint() {
        let layout = CgroupLayout.detect(
            mountinfo: "50 1 0:40 / /mnt/my\\040cgroups rw - cgroup cgroup rw,memory\n")
        #expect(layout.v1["memory"] == "/mnt/my cgroups")
    }

    @Test func thisHostGetsV1() throws {
        let fs = RecordingSyscalls()
        let driver = try makeCgroupDriver(layout: .detect(mountinfo: thisHostMountinfo), fs: fs)
        #expect(driver.version == .v1)
    }

    @Test func hybridGetsV1EvenThoughV2IsMounted() throws {
        let fs = RecordingSyscalls(files: ["/sys/fs/cgroup/unified/cgroup.controllers": "\n"])
        let driver = try makeCgroupDriver(layout: .detect(mountinfo: hybridMountinfo), fs: fs)
        #expect(driver.version == .v1)
    }

    @Test func pureV2GetsV2() throws {
        let fs = RecordingSyscalls(files: ["/sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n"])
        let driver = try makeCgroupDriver(layout: .detect(mountinfo: pureV2Mountinfo), fs: fs, euid: 0)
        #expect(driver.version == .v2)
    }

    @Test func v2WithoutControllersIsUnsupported() throws {
        // This host with its v1 hierarchies unmounted: the cgroup2 mount offers only hugetlb.
        let fs = RecordingSyscalls(files: ["/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n"])
        let layout = CgroupLayout(v1: [:], unified: "/sys/fs/cgroup/unified")
        #expect(throws: SandboxError.self) { try makeCgroupDriver(layout: layout, fs: fs, euid: 0) }
        #expect(throws: SandboxError.self) { try makeCgroupDriver(layout: CgroupLayout(), fs: fs, euid: 0) }
    }
}
