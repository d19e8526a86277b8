import SystemPackage

/// The rules an archive member's name must follow to land inside the image root.
package enum ImagePath {
    /// Components of `raw` below the root: "." and empty parts dropped, ".." applied.
    /// nil for the root itself ("./"). Throws when the name is absolute or climbs out.
    package static func components(_ raw: String, entry: String) throws(SandboxError) -> [String] {
        if raw.hasPrefix("/") {
            throw .invalidRequest("image entry '\(entry)': absolute path '\(raw)' refused (names must stay inside the image)")
        }
        var parts: [String] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                if parts.isEmpty {
                    throw .invalidRequest("image entry '\(entry)': path '\(raw)' climbs out of the image with '..'")
                }
                parts.removeLast()
            default: parts.append(String(part))
            }
        }
        return parts
    }

    /// Whiteout file prefix of the OCI / Docker layer format.
    package static let whiteoutPrefix = ".wh."
    /// Marks a directory whose lower-layer content is hidden.
    package static let opaqueMarker = ".wh..wh..opq"
}

/// Carries out a tar stream into a directory: one `TarEvent` at a time, every
/// name resolved component by component with openat(O_NOFOLLOW) from the root
/// descriptor, so no symlink in the image (or planted by an earlier member)
/// is ever followed and nothing is written outside the root.
package final class TarExtractor {
    package struct Options: Sendable {
        /// Interpret `.wh.NAME` and `.wh..wh..opq` as layer whiteouts (docker / OCI layers).
        package var layer: Bool
        /// lchown to the archive's uid/gid. Only root may; others keep their own ids.
        package var preserveOwnership: Bool
        package init(layer: Bool = false, preserveOwnership: Bool = ImageFS.isRoot) {
            self.layer = layer
            self.preserveOwnership = preserveOwnership
        }
    }

    private struct PendingDirectory {
        var components: [String]
        var mode: UInt32
        var mtime: Int64
    }

    private let root: FileDescriptor
    private let options: Options
    private var parentCache: (key: [String], fd: FileDescriptor)?
    private var openFile: (fd: FileDescriptor, entry: TarEntry, display: String)?
    private var pendingDirectories: [PendingDirectory] = []
    /// Paths this layer wrote (and their parents): an opaque marker hides lower content only.
    private var touched: Set<[String]> = []
    private var skipping = false

    /// Number of members extracted, for progress lines.
    package private(set) var count = 0

    /// `root` stays owned by the caller and must outlive the extractor.
    package init(root: FileDescriptor, options: Options = Options()) {
        self.root = root
        self.options = options
    }

    deinit {
        if let file = openFile { ImageFS.close(file.fd) }
        if let cached = parentCache { ImageFS.close(cached.fd) }
    }

    package func handle(_ event: TarEvent) throws(SandboxError) {
        switch event {
        case .begin(let entry):
            try begin(entry)
        case .data(let bytes):
            if let file = openFile {
                try ImageFS.writeAll(file.fd, bytes, display: file.display)
            }
        case .end:
            if let file = openFile {
                openFile = nil
                defer { ImageFS.close(file.fd) }
                try finishFile(file.fd, file.entry, display: file.display)
            }
            skipping = false
        }
    }

    /// Sets directory modes and times, deepest first, now that nothing more is created in them.
    package func finish() throws(SandboxError) {
        dropCache()
        for dir in pendingDirectories.reversed() {
            let display = dir.components.joined(separator: "/")
            let name = dir.components.last!
            // A later member may have removed the directory or put a file or symlink in its place.
            guard let parent = try? walk(Array(dir.components.dropLast()), create: false, entry: display) else { continue }
            defer { ImageFS.close(parent) }
            guard try ImageFS.stat(name, in: parent, display: display)?.kind == .directory else { continue }
            // Opened with O_NOFOLLOW, so the mode lands on the directory itself.
            let fd = try ImageFS.openDirectory(name, in: parent, display: display)
            defer { ImageFS.close(fd) }
            try ImageFS.chmod(fd, mode: Self.safeDirectoryMode(dir.mode), display: display)
            try ImageFS.setTimes(fd, seconds: dir.mtime, display: display)
        }
        pendingDirectories.removeAll()
    }

    /// Setuid and setgid bits are dropped: the code run in a box is untrusted and
    /// must not gain privileges through a file of the image. Sticky and rwx stay.
    package static func safeMode(_ mode: UInt32) -> UInt32 {
        mode & 0o1777
    }

    /// On a directory setgid only gives new entries the directory's group (Debian's
    /// /var/mail, /var/local): no privilege, so it is kept. Setuid means nothing there.
    package static func safeDirectoryMode(_ mode: UInt32) -> UInt32 {
        mode & 0o3777
    }

    private func begin(_ entry: TarEntry) throws(SandboxError) {
        let name = entry.path
        switch entry.kind {
        case .characterDevice, .blockDevice, .fifo:
            throw .invalidRequest("image entry '\(name)': \(entry.kind) nodes are refused (the sandbox makes its own /dev)")
        case .unsupported(let t):
            throw .invalidRequest("image entry '\(name)': unsupported tar member type '\(Character(Unicode.Scalar(t)))'")
        default:
            break
        }
        let components = try ImagePath.components(name, entry: name)
        guard let last = components.last else {
            // "./": the root itself keeps the mode the store gave it.
            return
        }
        let display = components.joined(separator: "/")
        let parentPath = Array(components.dropLast())
        count += 1

        if options.layer && last.hasPrefix(ImagePath.whiteoutPrefix) {
            let parent = try cachedParent(parentPath, entry: name)
            if last == ImagePath.opaqueMarker {
                try removeLowerContent(of: parent, path: parentPath, display: parentPath.joined(separator: "/"))
            } else {
                let hidden = String(last.dropFirst(ImagePath.whiteoutPrefix.count))
                guard !hidden.isEmpty, hidden != ".", hidden != ".." else {
                    throw .invalidRequest("image entry '\(name)': malformed whiteout")
                }
                if !touched.contains(parentPath + [hidden]) {
                    try ImageFS.removeTree(hidden, in: parent, display: (parentPath + [hidden]).joined(separator: "/"))
                }
            }
            markTouched(parentPath)
            return
        }
        markTouched(components)

        let parent = try cachedParent(parentPath, entry: name)
        switch entry.kind {
        case .directory:
            try makeDirectory(last, in: parent, display: display)
            if options.preserveOwnership {
                try ImageFS.chown(last, in: parent, uid: entry.uid, gid: entry.gid, display: display)
            }
            pendingDirectories.append(PendingDirectory(components: components, mode: entry.mode, mtime: entry.mtime))
        case .regular:
            let fd = try createFile(last, in: parent, display: display)
            openFile = (fd, entry, display)
        case .symlink:
            try replacing(last, in: parent, display: display) { ImageFS.symlink(entry.linkTarget, last, in: parent) }
            if options.preserveOwnership {
                try ImageFS.chown(last, in: parent, uid: entry.uid, gid: entry.gid, display: display)
            }
            try ImageFS.setTimes(last, in: parent, seconds: entry.mtime, display: display)
        case .hardlink:
            let target = try ImagePath.components(entry.linkTarget, entry: name)
            guard let targetName = target.last else {
                throw .invalidRequest("image entry '\(name)': hard link to the image root refused")
            }
            if target == components { return }
            let targetParent = try walk(Array(target.dropLast()), create: false, entry: name)
            defer { ImageFS.close(targetParent) }
            guard let st = try ImageFS.stat(targetName, in: targetParent, display: entry.linkTarget) else {
                throw .invalidRequest("image entry '\(name)': hard link target '\(entry.linkTarget)' is not in the image (yet)")
            }
            if st.kind == .directory {
                throw .invalidRequest("image entry '\(name)': hard link to the directory '\(entry.linkTarget)' refused")
            }
            try replacing(last, in: parent, display: display) { ImageFS.link(targetName, in: targetParent, to: last, in: parent) }
        default:
            break
        }
    }

    private func finishFile(_ fd: FileDescriptor, _ entry: TarEntry, display: String) throws(SandboxError) {
        // chown before chmod: chown clears setuid bits, and the mode must be the last word.
        if options.preserveOwnership {
            try ImageFS.chown(fd, uid: entry.uid, gid: entry.gid, display: display)
        }
        try ImageFS.chmod(fd, mode: Self.safeMode(entry.mode), display: display)
        try ImageFS.setTimes(fd, seconds: entry.mtime, display: display)
    }

    /// Opens the directory `path` below the root, one component at a time with
    /// O_NOFOLLOW; missing parents are created (0755) when `create` is set.
    private func walk(_ path: [String], create: Bool, entry: String) throws(SandboxError) -> FileDescriptor {
        var current = try ImageFS.openDirectory(".", in: root, display: ".")
        for (i, component) in path.enumerated() {
            let display = path[...i].joined(separator: "/")
            if create {
                if let e = ImageFS.mkdir(component, in: current, mode: 0o755), e != .fileExists {
                    ImageFS.close(current)
                    throw .syscall("mkdirat(\(display)) for image entry '\(entry)'", errno: e.rawValue)
                }
            }
            let next: FileDescriptor
            do throws(SandboxError) {
                next = try ImageFS.openDirectory(component, in: current, display: display)
            } catch {
                let st = try? ImageFS.stat(component, in: current, display: display)
                ImageFS.close(current)
                if st?.kind == .symlink {
                    throw .invalidRequest("image entry '\(entry)': path goes through the symlink '\(display)'; symlinks inside the image are never followed")
                }
                if let st, st.kind != .directory {
                    throw .invalidRequest("image entry '\(entry)': '\(display)' is not a directory")
                }
                throw error
            }
            ImageFS.close(current)
            current = next
        }
        return current
    }

    /// The parent directory of the member being extracted; members come grouped
    /// by directory, so the last one is kept open. Removals only ever touch
    /// children of this directory, never it or its ancestors, so it stays valid.
    private func cachedParent(_ path: [String], entry: String) throws(SandboxError) -> FileDescriptor {
        if let cached = parentCache, cached.key == path { return cached.fd }
        dropCache()
        let fd = try walk(path, create: true, entry: entry)
        parentCache = (path, fd)
        return fd
    }

    private func dropCache() {
        if let cached = parentCache {
            ImageFS.close(cached.fd)
            parentCache = nil
        }
    }

    private func markTouched(_ path: [String]) {
        guard options.layer else { return }
        for i in 0...path.count { touched.insert(Array(path[..<i])) }
    }

    private func makeDirectory(_ name: String, in parent: FileDescriptor, display: String) throws(SandboxError) {
        // 0700 while extracting so a non-root caller can fill it; the real mode comes in finish().
        guard let e = ImageFS.mkdir(name, in: parent, mode: 0o700) else { return }
        guard e == .fileExists else { throw .syscall("mkdirat(\(display))", errno: e.rawValue) }
        if try ImageFS.stat(name, in: parent, display: display)?.kind == .directory { return }
        try ImageFS.unlink(name, in: parent, directory: false, display: display)
        if let e = ImageFS.mkdir(name, in: parent, mode: 0o700) {
            throw .syscall("mkdirat(\(display))", errno: e.rawValue)
        }
    }

    private func createFile(_ name: String, in parent: FileDescriptor, display: String) throws(SandboxError) -> FileDescriptor {
        switch ImageFS.createFile(name, in: parent) {
        case .success(let fd): return fd
        case .failure(let e) where e == .fileExists:
            try ImageFS.removeTree(name, in: parent, display: display)
            switch ImageFS.createFile(name, in: parent) {
            case .success(let fd): return fd
            case .failure(let e): throw .syscall("openat(\(display), O_CREAT|O_EXCL|O_NOFOLLOW)", errno: e.rawValue)
            }
        case .failure(let e):
            throw .syscall("openat(\(display), O_CREAT|O_EXCL|O_NOFOLLOW)", errno: e.rawValue)
        }
    }

    /// Runs `make`; when the name is taken, a later member wins, as with tar: the old entry goes first.
    private func replacing(_ name: String, in parent: FileDescriptor, display: String, _ make: () -> Errno?) throws(SandboxError) {
        guard let e = make() else { return }
        guard e == .fileExists else { throw .syscall("create(\(display))", errno: e.rawValue) }
        try ImageFS.removeTree(name, in: parent, display: display)
        if let e = make() { throw .syscall("create(\(display))", errno: e.rawValue) }
    }

    /// Opaque directory: everything below it that this layer did not write goes.
    private func removeLowerContent(of dir: FileDescriptor, path: [String], display: String) throws(SandboxError) {
        for child in try ImageFS.entries(of: dir, display: display) {
            let childPath = path + [child]
            let childDisplay = childPath.joined(separator: "/")
            if touched.contains(childPath) {
                if try ImageFS.stat(child, in: dir, display: childDisplay)?.kind == .directory {
                    let fd = try ImageFS.openDirectory(child, in: dir, display: childDisplay)
                    defer { ImageFS.close(fd) }
                    try removeLowerContent(of: fd, path: childPath, display: childDisplay)
                }
            } else {
                try ImageFS.removeTree(child, in: dir, display: childDisplay)
            }
        }
    }
}

extension TarEntry.Kind: CustomStringConvertible {
    package var description: String {
        switch self {
        case .regular: "regular file"
        case .directory: "directory"
        case .symlink: "symlink"
        case .hardlink: "hard link"
        case .characterDevice: "character device"
        case .blockDevice: "block device"
        case .fifo: "fifo"
        case .unsupported(let t): "type '\(Character(Unicode.Scalar(t)))'"
        }
    }
}
