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
    /// Imports an image from `source`, which may be a rootfs directory, a rootfs
    /// tar (plain, gzip, zstd or xz), a `docker save` archive, or an OCI image
    /// layout (directory or tar). The format is detected from the content.
    ///
    /// Tar archives are extracted by `TarExtractor`, which refuses names that
    /// leave the root, device nodes and fifos, never follows a symlink of the
    /// image, and drops setuid/setgid bits. Compressed input is piped through
    /// `gzip -dc`, `zstd -dc` or `xz -dc`; a directory is copied with
    /// `cp -a --reflink=auto`; layer blobs named by digest are checked with `sha256sum`.
    ///
    /// Fails if `name` exists, unless `replace` is set.
    public func importImage(
        name: String, from source: String, replace: Bool = false,
        progress: (@Sendable (String) -> Void)? = nil
    ) async throws(SandboxError) -> ImageInfo {
        try Self.checkName(name)
        let source = Self.absolute(source)
        guard ImageFS.exists(source) else {
            throw .invalidRequest("cannot import \(source): no such file or directory")
        }
        return try await create(name: name, replace: replace, progress: progress) { (staging) async throws(SandboxError) -> (String, ImageFormat) in
            if ImageFS.isDirectory(source) {
                let sourceFd = try ImageFS.openDirectory(source)
                defer { ImageFS.close(sourceFd) }
                if let layout = try await ImageLayout.detect(in: sourceFd) {
                    staging.labels = try await Self.apply(layout, from: sourceFd, into: staging.rootfs, progress: progress)
                    return (source, layout.format)
                }
                progress?("copying \(source)")
                _ = try await ImageTools.capture("cp", ["-a", "--reflink=auto", "--", source + "/.", staging.rootfsPath])
                return (source, .directory)
            }
            let file = try ImageFS.openFile(source)
            defer { ImageFS.close(file) }
            let compression = try Compression.sniff(file, display: source)
            progress?("extracting \(source)" + (compression == .none ? "" : " (\(compression.rawValue))"))
            let count = try await Self.extract(file, display: source, into: staging.rootfs, options: .init())
            progress?("extracted \(count) entries")
            // A docker-save or OCI tar is itself a tar: unpacked, it is recognized by its manifests.
            guard let layout = try await ImageLayout.detect(in: staging.rootfs) else {
                return (source, .tar)
            }
            try staging.moveRootfsAside(as: "archive")
            let archive = try ImageFS.openDirectory("archive", in: staging.directory)
            defer { ImageFS.close(archive) }
            staging.labels = try await Self.apply(layout, from: archive, into: staging.rootfs, progress: progress)
            try ImageFS.removeTree("archive", in: staging.directory, display: "\(staging.path)/archive")
            return (source, layout.format)
        }
    }

    /// The working directory of one import or build: `<store>/.tmp-<name>-<random>/rootfs`.
    struct Staging {
        var path: String
        var directory: FileDescriptor
        var rootfs: FileDescriptor
        /// The image's labels (from an archive's configuration, or set by a build).
        var labels: [String: String] = [:]
        var rootfsPath: String { path + "/rootfs" }

        /// Renames rootfs/ to `name` and starts an empty rootfs/.
        mutating func moveRootfsAside(as name: String) throws(SandboxError) {
            if let e = ImageFS.rename("rootfs", in: directory, to: name, in: directory) {
                throw .syscall("renameat(\(path)/rootfs -> \(name))", errno: e.rawValue)
            }
            ImageFS.close(rootfs)
            rootfs = try Self.makeRootfs(in: directory, path: path)
        }

        static func makeRootfs(in directory: FileDescriptor, path: String) throws(SandboxError) -> FileDescriptor {
            if let e = ImageFS.mkdir("rootfs", in: directory, mode: 0o755) {
                throw .syscall("mkdirat(\(path)/rootfs)", errno: e.rawValue)
            }
            let fd = try ImageFS.openDirectory("rootfs", in: directory, display: "\(path)/rootfs")
            // The rootfs is / in the box: 0755 whatever the umask.
            try ImageFS.chmod(fd, mode: 0o755, display: "\(path)/rootfs")
            return fd
        }
    }

    /// Runs `fill` in a fresh staging directory, normalizes the rootfs, writes
    /// image.json and renames the result into place; on any failure the
    /// staging directory is removed and the store is as it was.
    func create(
        name: String, replace: Bool, progress: (@Sendable (String) -> Void)?,
        fill: (inout Staging) async throws(SandboxError) -> (source: String, format: ImageFormat)
    ) async throws(SandboxError) -> ImageInfo {
        try ImageFS.makeDirectories(directory)
        let store = try ImageFS.openDirectory(directory)
        defer { ImageFS.close(store) }
        if !replace, try ImageFS.stat(name, in: store, display: "\(directory)/\(name)") != nil {
            throw .invalidRequest("image \(name) already exists (remove it first, or import with replace)")
        }
        let temporary = ".tmp-\(name)-\(Self.randomSuffix())"
        let temporaryPath = "\(directory)/\(temporary)"
        if let e = ImageFS.mkdir(temporary, in: store, mode: 0o755) {
            throw .syscall("mkdirat(\(temporaryPath))", errno: e.rawValue)
        }
        do throws(SandboxError) {
            let tmp = try ImageFS.openDirectory(temporary, in: store, display: temporaryPath)
            let rootfs: FileDescriptor
            do throws(SandboxError) {
                rootfs = try Staging.makeRootfs(in: tmp, path: temporaryPath)
            } catch {
                ImageFS.close(tmp)
                throw error
            }
            var staging = Staging(path: temporaryPath, directory: tmp, rootfs: rootfs)
            defer {
                ImageFS.close(staging.rootfs)
                ImageFS.close(staging.directory)
            }
            let (source, format) = try await fill(&staging)
            progress?("normalizing the rootfs")
            let stats = try RootfsNormalizer.normalize(staging.rootfs, display: staging.rootfsPath, progress: progress)
            var info = ImageInfo(
                name: name, source: source, format: format, createdAt: Date(),
                sizeBytes: stats.sizeBytes, fileCount: stats.fileCount, rootfs: rootfsDirectory(name))
            info.labels = staging.labels.isEmpty ? nil : staging.labels
            try Self.writeInfo(info, in: staging.directory, display: temporaryPath)
            try install(temporary, as: name, in: store, replace: replace, progress: progress)
            progress?("image \(name): \(stats.fileCount) entries, \(stats.sizeBytes / 1024) KiB")
            return info
        } catch {
            try? ImageFS.removeTree(temporary, in: store, display: temporaryPath)
            throw error
        }
    }

    static func writeInfo(_ info: ImageInfo, in dir: FileDescriptor, display: String) throws(SandboxError) {
        let data: Data
        do { data = try encoder.encode(info) } catch { throw .invalidRequest("cannot encode image.json: \(error)") }
        try ImageFS.writeNewFile("image.json", in: dir, bytes: Array(data), mode: 0o644, display: "\(display)/image.json")
    }

    /// rename(2) of the finished staging directory to its name. Without `replace`
    /// the rename itself is the existence check (it fails on a non-empty target),
    /// so two imports of one name cannot both win.
    func install(_ temporary: String, as name: String, in store: FileDescriptor, replace: Bool, progress: (@Sendable (String) -> Void)?) throws(SandboxError) {
        var old: String?
        if replace, try ImageFS.stat(name, in: store, display: name) != nil {
            let aside = ".old-\(name)-\(Self.randomSuffix())"
            if let e = ImageFS.rename(name, in: store, to: aside, in: store) {
                throw .syscall("renameat(\(directory)/\(name) -> \(aside))", errno: e.rawValue)
            }
            old = aside
        }
        if let e = ImageFS.rename(temporary, in: store, to: name, in: store) {
            if let old { _ = ImageFS.rename(old, in: store, to: name, in: store) }
            if e == .fileExists || e == .directoryNotEmpty {
                throw .invalidRequest("image \(name) already exists (remove it first, or import with replace)")
            }
            throw .syscall("renameat(\(directory)/\(temporary) -> \(name))", errno: e.rawValue)
        }
        // The new image is in place: failing to delete the old tree (a box may still have it
        // mounted: EBUSY) must not fail the import. It stays as a dot-entry list() ignores.
        if let old {
            do throws(SandboxError) {
                try ImageFS.removeTree(old, in: store, display: "\(directory)/\(old)")
            } catch {
                progress?("could not remove the replaced image at \(directory)/\(old): \(error)")
            }
        }
    }

    /// Applies the layers of a docker-save archive or OCI layout, bottom first, with whiteouts.
    /// Applies the layers; returns the image's labels.
    static func apply(_ layout: ImageLayout, from archive: FileDescriptor, into rootfs: FileDescriptor,
                      progress: (@Sendable (String) -> Void)?) async throws(SandboxError) -> [String: String] {
        guard !layout.layers.isEmpty else { throw .invalidRequest("image archive has no layers") }
        for (i, layer) in layout.layers.enumerated() {
            let fd = try ConfinedPath.open(layer.path, in: archive)
            defer { ImageFS.close(fd) }
            if let digest = layer.digest {
                try await ImageLayout.verifyDigest(.file(fd), digest, what: layer.path)
                try ImageFS.rewind(fd, display: layer.path)
            }
            progress?("layer \(i + 1)/\(layout.layers.count): \(layer.path)")
            _ = try await extract(fd, display: layer.path, into: rootfs, options: .init(layer: true))
        }
        // The configuration is trusted no more than a layer: confined, and checked against its digest when named by one.
        guard let config = layout.config, let data = try? ConfinedPath.read(config.path, in: archive) else { return [:] }
        if let digest = config.digest { try await ImageLayout.verifyDigest(.bytes(Array(data)), digest, what: config.path) }
        return ImageConfigLabels.labels(data)
    }

    /// Streams one tar (possibly compressed) from `file` into `root`; returns the number of entries.
    static func extract(_ file: FileDescriptor, display: String, into root: FileDescriptor, options: TarExtractor.Options) async throws(SandboxError) -> Int {
        let compression = try Compression.sniff(file, display: display)
        let extractor = TarExtractor(root: root, options: options)
        var parser = TarParser()
        func consume(_ bytes: UnsafeRawBufferPointer) throws(SandboxError) {
            try parser.feed(bytes) { (event) throws(SandboxError) in try extractor.handle(event) }
        }
        if let tool = compression.tool {
            guard ImageTools.which(tool) != nil else {
                throw .hostUnsupported("\(display) is \(compression.rawValue)-compressed and \(tool) is not installed (apt-get install -y \(tool))")
            }
            try await ImageTools.pipe(tool, ["-dc"], input: file, into: consume)
        } else {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try ImageFS.read(file, into: &buffer, display: display)
                if n == 0 { break }
                let failure: SandboxError? = buffer.withUnsafeBytes { b in
                    do throws(SandboxError) {
                        try consume(UnsafeRawBufferPointer(rebasing: b[0..<n]))
                        return nil
                    } catch { return error }
                }
                if let failure { throw failure }
            }
        }
        try parser.finish()
        try extractor.finish()
        return extractor.count
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        guard let pointer = getcwd(nil, 0) else { return path }
        defer { free(pointer) }
        let cwd = String(cString: pointer)
        return cwd == "/" ? "/" + path : cwd + "/" + path
    }
}

/// Compression of an archive, told by its first bytes.
package enum Compression: String, Sendable, Equatable {
    case none, gzip, zstd, xz, bzip2

    /// The tool that decompresses it to standard output with `-dc`.
    package var tool: String? {
        self == .none ? nil : self.rawValue
    }

    package static func sniff(_ magic: [UInt8]) -> Compression {
        if magic.starts(with: [0x1f, 0x8b]) { return .gzip }
        if magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        if magic.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { return .xz }
        if magic.starts(with: Array("BZh".utf8)) { return .bzip2 }
        return .none
    }

    /// pread(2) of the first bytes, leaving the file offset where it was.
    static func sniff(_ fd: FileDescriptor, display: String) throws(SandboxError) -> Compression {
        var magic = [UInt8](repeating: 0, count: 6)
        let n = magic.withUnsafeMutableBytes { pread(fd.rawValue, $0.baseAddress!, 6, 0) }
        if n < 0 { throw .syscall("pread(\(display))", errno: errno) }
        return sniff(Array(magic[0..<n]))
    }
}
