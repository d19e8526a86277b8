#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

extension ImageStore {
    /// Builds one of the images gradebox makes without a registry, named
    /// after the kind unless `name` is given.
    ///
    /// - `.minimal`: the host's static /bin/busybox (`apt-get install -y busybox-static`
    ///   when missing), a symlink per applet of `busybox --list` in /bin, /etc/passwd
    ///   and /etc/group. About 2 MB; needs no root once busybox-static is installed.
    /// - `.full`: `debootstrap --variant=minbase bookworm DIR MIRROR` (installs debootstrap
    ///   when missing; MIRROR from the host's apt sources), minus the downloaded .debs.
    ///   About 30 s and 206 MB; needs root. Each line debootstrap prints goes to `progress`.
    public func build(
        _ kind: BuiltinImage, name: String? = nil, replace: Bool = false,
        progress: (@Sendable (String) -> Void)? = nil
    ) async throws(SandboxError) -> ImageInfo {
        let name = name ?? kind.rawValue
        try Self.checkName(name)
        switch kind {
        case .minimal:
            let busybox = try await Self.staticBusybox(progress: progress)
            let version = (try? await ImageTools.capture("dpkg-query", ["-W", "-f", "${Version}", "busybox-static"])) ?? ""
            return try await create(name: name, replace: replace, progress: progress) { (staging) async throws(SandboxError) -> (String, ImageFormat) in
                let applets = try await ImageTools.capture(busybox, ["--list"])
                    .split(separator: "\n").map { String($0) }.filter { !$0.isEmpty }
                progress?("busybox with \(applets.count) applets")
                try MinimalRootfs(busybox: busybox, applets: applets).write(into: staging.rootfs, display: staging.rootfsPath)
                return ("busybox-static" + (version.isEmpty ? "" : " \(version)") + " (\(busybox))", .busybox)
            }
        case .inginiousDefault:
            return try await InginiousEnvironment.build(self, name: name, replace: replace, progress: progress)
        case .full:
            guard ImageFS.isRoot else {
                throw .hostUnsupported("building the full image runs debootstrap, which needs root")
            }
            if ImageTools.which("debootstrap") == nil {
                try await Self.aptInstall("debootstrap", progress: progress)
            }
            let mirror = Self.debianMirror()
            let suite = "bookworm"
            return try await create(name: name, replace: replace, progress: progress) { (staging) async throws(SandboxError) -> (String, ImageFormat) in
                let arguments = ["--variant=minbase", suite, staging.rootfsPath, mirror]
                progress?("debootstrap " + arguments.joined(separator: " "))
                try await ImageTools.stream("debootstrap", arguments, progress: progress)
                try Self.removeDownloadedPackages(staging.rootfs, display: staging.rootfsPath)
                return ("debootstrap --variant=minbase \(suite) \(mirror)", .debootstrap)
            }
        }
    }

    /// /bin/busybox when it is statically linked (it must run in a box without libc);
    /// otherwise busybox-static is installed first.
    static func staticBusybox(progress: (@Sendable (String) -> Void)?) async throws(SandboxError) -> String {
        let path = "/bin/busybox"
        if (try? ELF.isStatic(path)) == true { return path }
        try await aptInstall("busybox-static", progress: progress)
        guard try ELF.isStatic(path) else {
            throw .hostUnsupported("\(path) is dynamically linked even after installing busybox-static")
        }
        return path
    }

    /// `apt-get install -y PACKAGE`, with `apt-get update` first only if that fails
    /// (the package lists are usually fresh enough, and updating costs seconds).
    static func aptInstall(_ package: String, progress: (@Sendable (String) -> Void)?) async throws(SandboxError) {
        guard ImageFS.isRoot else {
            throw .hostUnsupported("\(package) is not installed and only root can install it (apt-get install -y \(package))")
        }
        let environment = ["DEBIAN_FRONTEND": "noninteractive"]
        progress?("apt-get install -y \(package)")
        do {
            try await ImageTools.stream("apt-get", ["install", "-y", package], environment: environment, progress: progress)
        } catch {
            progress?("apt-get update")
            try await ImageTools.stream("apt-get", ["update"], environment: environment, progress: progress)
            try await ImageTools.stream("apt-get", ["install", "-y", package], environment: environment, progress: progress)
        }
    }

    /// The first `deb` URI serving bookworm main in the host's apt sources
    /// (/etc/apt/sources.list, then /etc/apt/sources.list.d/*.list and *.sources),
    /// or deb.debian.org.
    static func debianMirror(suite: String = "bookworm") -> String {
        var texts: [(String, deb822: Bool)] = []
        if let s = try? String(contentsOfFile: "/etc/apt/sources.list", encoding: .utf8) { texts.append((s, false)) }
        let dir = "/etc/apt/sources.list.d"
        if let fd = try? ImageFS.openDirectory(dir) {
            defer { ImageFS.close(fd) }
            for name in ((try? ImageFS.entries(of: fd, display: dir)) ?? []).sorted() {
                guard name.hasSuffix(".list") || name.hasSuffix(".sources"),
                    let s = try? String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8)
                else { continue }
                texts.append((s, name.hasSuffix(".sources")))
            }
        }
        for (text, deb822) in texts {
            if let uri = deb822 ? AptSources.deb822Mirror(text, suite: suite) : AptSources.oneLineMirror(text, suite: suite) {
                return uri
            }
        }
        return "http://deb.debian.org/debian"
    }

    /// debootstrap leaves the .debs it installed in /var/cache/apt/archives: 100 MB nobody needs.
    static func removeDownloadedPackages(_ rootfs: FileDescriptor, display: String) throws(SandboxError) {
        var dir = try ImageFS.openDirectory(".", in: rootfs, display: display)
        var path = display
        for component in ["var", "cache", "apt", "archives"] {
            path += "/" + component
            guard let next = try? ImageFS.openDirectory(component, in: dir, display: path) else {
                ImageFS.close(dir)
                return
            }
            ImageFS.close(dir)
            dir = next
        }
        defer { ImageFS.close(dir) }
        for name in try ImageFS.entries(of: dir, display: path) where name.hasSuffix(".deb") {
            try ImageFS.unlink(name, in: dir, directory: false, display: "\(path)/\(name)")
        }
    }
}

/// Parsing of apt's source lists: one-line ("deb [opts] URI SUITE COMPONENTS...") and deb822.
package enum AptSources {
    package static func oneLineMirror(_ text: String, suite: String) -> String? {
        for rawLine in text.split(separator: "\n") {
            var line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            // Options in brackets may hold spaces: drop them before splitting.
            if let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]"), open < close {
                line.removeSubrange(open...close)
            }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count >= 4, fields[0] == "deb", fields[2] == suite, fields[3...].contains("main") else { continue }
            return fields[1]
        }
        return nil
    }

    package static func deb822Mirror(_ text: String, suite: String) -> String? {
        var paragraphs: [[String: [String]]] = [[:]]
        var lastKey: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) {
                if !(paragraphs.last?.isEmpty ?? true) { paragraphs.append([:]) }
                lastKey = nil
                continue
            }
            if line.hasPrefix("#") { continue }
            if line.first == " " || line.first == "\t" {
                // A continuation line adds values to the field above.
                if let key = lastKey {
                    paragraphs[paragraphs.count - 1][key, default: []] += line.split(separator: " ").map(String.init)
                }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].lowercased()
            let values = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            paragraphs[paragraphs.count - 1][key] = values
            lastKey = key
        }
        for p in paragraphs {
            guard (p["types"] ?? []).contains("deb"), (p["suites"] ?? []).contains(suite),
                (p["components"] ?? []).contains("main"), (p["enabled"]?.first ?? "yes") != "no",
                let uri = p["uris"]?.first
            else { continue }
            return uri
        }
        return nil
    }
}

/// The tree of the minimal image, planned as values and written in one place.
package struct MinimalRootfs: Sendable {
    package var busybox: String
    package var applets: [String]

    package static let directories: [(String, UInt32)] = [
        ("bin", 0o755), ("sbin", 0o755), ("usr", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755),
        ("etc", 0o755), ("proc", 0o755), ("dev", 0o755), ("sys", 0o755), ("tmp", 0o1777), ("root", 0o700),
    ]

    package static let files: [(String, String)] = [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"),
    ]

    /// (path, target) of every symlink: one per applet in /bin, plus /usr/bin/env for `#!/usr/bin/env` scripts.
    package var symlinks: [(String, String)] {
        var links = applets.filter { $0 != "busybox" && !$0.contains("/") }.map { ("bin/\($0)", "busybox") }
        links.append(("usr/bin/env", "/bin/busybox"))
        return links
    }

    func write(into root: FileDescriptor, display: String) throws(SandboxError) {
        for (path, mode) in Self.directories {
            let (parent, name) = try Self.parent(path, root: root, display: display)
            defer { ImageFS.close(parent) }
            if let e = ImageFS.mkdir(name, in: parent, mode: mode), e != .fileExists {
                throw .syscall("mkdirat(\(display)/\(path))", errno: e.rawValue)
            }
            try ImageFS.chmod(name, in: parent, mode: mode, display: "\(display)/\(path)")
        }
        let source = try ImageFS.openFile(busybox)
        defer { ImageFS.close(source) }
        try Self.writeFile("bin/busybox", root: root, display: display, mode: 0o755) { (out) throws(SandboxError) in
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try ImageFS.read(source, into: &buffer, display: busybox)
                if n == 0 { break }
                try ImageFS.writeAll(out, buffer, count: n, display: "\(display)/bin/busybox")
            }
        }
        for (path, text) in Self.files {
            try Self.writeFile(path, root: root, display: display, mode: 0o644) { (out) throws(SandboxError) in
                try ImageFS.writeAll(out, Array(text.utf8), display: "\(display)/\(path)")
            }
        }
        for (path, target) in symlinks {
            let (parent, name) = try Self.parent(path, root: root, display: display)
            defer { ImageFS.close(parent) }
            if let e = ImageFS.symlink(target, name, in: parent), e != .fileExists {
                throw .syscall("symlinkat(\(target), \(display)/\(path))", errno: e.rawValue)
            }
        }
    }

    static func parent(_ path: String, root: FileDescriptor, display: String) throws(SandboxError) -> (FileDescriptor, String) {
        var parts = path.split(separator: "/").map(String.init)
        let name = parts.removeLast()
        var dir = try ImageFS.openDirectory(".", in: root, display: display)
        for part in parts {
            let next: FileDescriptor
            do throws(SandboxError) { next = try ImageFS.openDirectory(part, in: dir, display: "\(display)/\(part)") } catch {
                ImageFS.close(dir)
                throw error
            }
            ImageFS.close(dir)
            dir = next
        }
        return (dir, name)
    }

    static func writeFile(_ path: String, root: FileDescriptor, display: String, mode: UInt32, _ body: (FileDescriptor) throws(SandboxError) -> Void) throws(SandboxError) {
        let (parent, name) = try parent(path, root: root, display: display)
        defer { ImageFS.close(parent) }
        let fd: FileDescriptor
        switch ImageFS.createFile(name, in: parent) {
        case .success(let f): fd = f
        case .failure(let e): throw .syscall("openat(\(display)/\(path))", errno: e.rawValue)
        }
        defer { ImageFS.close(fd) }
        try body(fd)
        try ImageFS.chmod(fd, mode: mode, display: "\(display)/\(path)")
    }
}

/// Just enough ELF reading to tell a static binary: no PT_INTERP program header.
package enum ELF {
    package static func isStatic(_ path: String) throws(SandboxError) -> Bool {
        let fd = try ImageFS.openFile(path)
        defer { ImageFS.close(fd) }
        var header = [UInt8](repeating: 0, count: 64)
        let n = header.withUnsafeMutableBytes { pread(fd.rawValue, $0.baseAddress!, 64, 0) }
        guard n == 64, header.starts(with: [0x7f, 0x45, 0x4c, 0x46]) else {
            throw .invalidRequest("\(path) is not an ELF executable")
        }
        let is64 = header[4] == 2
        func le(_ offset: Int, _ size: Int) -> Int {
            var v = 0
            for i in (0..<size).reversed() { v = v << 8 | Int(header[offset + i]) }
            return v
        }
        let phoff = is64 ? le(32, 8) : le(28, 4)
        let phentsize = is64 ? le(54, 2) : le(42, 2)
        let phnum = is64 ? le(56, 2) : le(44, 2)
        guard phnum > 0, phentsize >= 4, phnum < 4096 else { return true }
        var table = [UInt8](repeating: 0, count: phentsize * phnum)
        let m = table.withUnsafeMutableBytes { pread(fd.rawValue, $0.baseAddress!, $0.count, off_t(phoff)) }
        guard m == table.count else { throw .invalidRequest("\(path): truncated ELF program headers") }
        for i in 0..<phnum {
            let base = i * phentsize
            let type = Int(table[base]) | Int(table[base + 1]) << 8 | Int(table[base + 2]) << 16 | Int(table[base + 3]) << 24
            if type == 3 { return false }  // PT_INTERP: needs a dynamic loader
        }
        return true
    }
}
