import SystemPackage

/// Makes any imported or built tree fit the way the sandbox mounts it, and measures it.
package enum RootfsNormalizer {
    /// Kernel-provided mount points: the sandbox mounts its own proc, sysfs and /dev
    /// over these on a read-only root, so whatever the image had there is never seen
    /// and is removed (debootstrap's device nodes among it).
    package static let mountPoints = ["proc", "sys", "dev"]

    package struct Stats: Sendable, Equatable {
        package var sizeBytes: UInt64
        package var fileCount: Int
    }

    /// Empties /proc, /sys and /dev, makes sure they, /tmp (1777) and /etc exist as
    /// directories, then walks the whole tree: drops setuid/setgid bits and device
    /// nodes (a directory import copies whatever the source had), and counts.
    package static func normalize(_ root: FileDescriptor, display: String, progress: (@Sendable (String) -> Void)?) throws(SandboxError) -> Stats {
        for name in mountPoints {
            try ensureDirectory(name, in: root, display: display, mode: 0o755, emptied: true)
        }
        try ensureDirectory("tmp", in: root, display: display, mode: 0o1777, emptied: false)
        try ensureDirectory("etc", in: root, display: display, mode: 0o755, emptied: false)
        var walk = Walk()
        try walk.visit(root, display: display)
        if walk.devicesRemoved > 0 { progress?("removed \(walk.devicesRemoved) device nodes") }
        if walk.privilegesDropped > 0 { progress?("dropped setuid/setgid bits from \(walk.privilegesDropped) files") }
        let rootStat = try ImageFS.stat(root, display: display)
        return Stats(sizeBytes: walk.bytes + UInt64(rootStat.blocks) * 512, fileCount: walk.count)
    }

    static func ensureDirectory(_ name: String, in root: FileDescriptor, display: String, mode: UInt32, emptied: Bool) throws(SandboxError) {
        let path = "\(display)/\(name)"
        if let st = try ImageFS.stat(name, in: root, display: path) {
            if st.kind == .directory {
                if emptied {
                    let fd = try ImageFS.openDirectory(name, in: root, display: path)
                    defer { ImageFS.close(fd) }
                    try ImageFS.emptyDirectory(fd, display: path)
                }
                return
            }
            // A symlink or file where a mount point must be: the mount would land on its target.
            try ImageFS.removeTree(name, in: root, display: path)
        }
        if let e = ImageFS.mkdir(name, in: root, mode: mode) {
            throw .syscall("mkdirat(\(path))", errno: e.rawValue)
        }
        try ImageFS.chmod(name, in: root, mode: mode, display: path)
    }

    struct Walk {
        var bytes: UInt64 = 0
        var count = 0
        var devicesRemoved = 0
        var privilegesDropped = 0
        /// Inodes with several links, so hard links are counted once, as du does.
        var seen: Set<[UInt64]> = []

        mutating func visit(_ dir: FileDescriptor, display: String) throws(SandboxError) {
            for name in try ImageFS.entries(of: dir, display: display) {
                let path = "\(display)/\(name)"
                guard let st = try ImageFS.stat(name, in: dir, display: path) else { continue }
                switch st.kind {
                case .characterDevice, .blockDevice:
                    try ImageFS.unlink(name, in: dir, directory: false, display: path)
                    devicesRemoved += 1
                    continue
                case .regular where st.mode & 0o6000 != 0:
                    // Same rule as TarExtractor.safeMode: no privilege gain through the image.
                    try ImageFS.chmod(name, in: dir, mode: TarExtractor.safeMode(st.mode), display: path)
                    privilegesDropped += 1
                default:
                    break
                }
                count += 1
                if st.links > 1 && st.kind != .directory {
                    if !seen.insert([st.device, st.inode]).inserted { continue }
                }
                bytes += UInt64(max(st.blocks, 0)) * 512
                if st.kind == .directory {
                    let child = try ImageFS.openDirectory(name, in: dir, display: path)
                    defer { ImageFS.close(child) }
                    try visit(child, display: path)
                }
            }
        }
    }
}
