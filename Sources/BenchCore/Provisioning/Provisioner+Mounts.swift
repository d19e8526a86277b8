import Foundation

/// The host mounts setup adds and teardown removes: a hugetlb v1 hierarchy and the btrfs loop.
extension Provisioner {
    /// crun refuses a hybrid layout while hugetlb sits in cgroup2; mounting it as a v1
    /// hierarchy takes it out of cgroup2 (until unmounted).
    func hugetlbV1() async throws(BenchError) {
        let controllers = (try? String(contentsOfFile: "/sys/fs/cgroup/unified/cgroup.controllers", encoding: .utf8)) ?? ""
        guard controllers.split(whereSeparator: \.isWhitespace).contains("hugetlb") else {
            try record("hugetlb-v1", .init(detail: ["note": "hugetlb not in cgroup2: nothing to do"]))
            return
        }
        try? FileManager.default.createDirectory(atPath: "/sys/fs/cgroup/hugetlb", withIntermediateDirectories: true)
        try await Tool.output("/bin/mount", ["-t", "cgroup", "-o", "hugetlb", "cgroup", "/sys/fs/cgroup/hugetlb"])
        try record("hugetlb-v1", .init(mounts: ["/sys/fs/cgroup/hugetlb"]))
    }

    func btrfsLoop() async throws(BenchError) {
        let fm = FileManager.default
        try? fm.createDirectory(atPath: BtrfsLoop.mountPoint, withIntermediateDirectories: true)
        var files: [String] = []
        if !BtrfsLoop.isMounted() {
            if !fm.fileExists(atPath: BtrfsLoop.imageFile) {
                try await Tool.output("/usr/bin/truncate", ["-s", String(BtrfsLoop.sizeBytes), BtrfsLoop.imageFile])
                try await Tool.output("/sbin/mkfs.btrfs", ["-q", BtrfsLoop.imageFile])
                files.append(BtrfsLoop.imageFile)
            }
            try await Tool.output("/bin/mount", ["-o", "loop", BtrfsLoop.imageFile, BtrfsLoop.mountPoint])
        }
        try record("btrfs-loop", .init(mounts: [BtrfsLoop.mountPoint], files: files))
    }
}
