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
import Subprocess
import SystemPackage

/// The images a box can start from, kept as plain directory trees:
///
///     <directory>/<name>/rootfs/      the tree the box sees as /
///     <directory>/<name>/image.json   an `ImageInfo`
///
/// An import or build fills `<directory>/.tmp-<name>-<random>` and renames it
/// into place only when it succeeded, so a failure leaves nothing behind and
/// a reader never sees half an image.
///
/// To stream an image as a tar (for `docker import -` or `podman import -`):
/// `tar -C "$(gradebox image path NAME)" -c . | docker import - NAME`, or
/// `exportTar(_:to:)`.
public struct ImageStore: Sendable {
    public static let defaultDirectory = "/var/lib/gradebox/images"

    /// Absolute path of the store.
    public let directory: String

    public init(directory: String = ImageStore.defaultDirectory) {
        self.directory = directory
    }

    /// Every image in the store, by name. Directories without an image.json (foreign, or
    /// left by a crash before the rename) are not images and are skipped.
    public func list() throws(SandboxError) -> [ImageInfo] {
        guard ImageFS.isDirectory(directory) else { return [] }
        let store = try ImageFS.openDirectory(directory)
        defer { ImageFS.close(store) }
        var images: [ImageInfo] = []
        for name in try ImageFS.entries(of: store, display: directory).sorted() where Self.validate(name) == nil {
            if let info = try? info(name) { images.append(info) }
        }
        return images
    }

    /// The image.json of one image.
    public func info(_ name: String) throws(SandboxError) -> ImageInfo {
        try Self.checkName(name)
        let path = "\(directory)/\(name)/image.json"
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            if ImageFS.isDirectory("\(directory)/\(name)/rootfs") {
                throw .invalidRequest("image \(name) has no readable image.json at \(path)")
            }
            throw .imageNotFound(name)
        }
        do {
            var info = try Self.decoder.decode(ImageInfo.self, from: data)
            // The store may have been moved since the image was written.
            info.name = name
            info.rootfs = rootfsDirectory(name)
            return info
        } catch {
            throw .invalidRequest("image \(name): cannot read \(path): \(error)")
        }
    }

    /// Absolute path of an image's rootfs. An absolute path to an existing
    /// directory is accepted as well and returned unchanged, so a spec may
    /// name either.
    public func rootfsPath(_ name: String) throws(SandboxError) -> String {
        if name.hasPrefix("/") {
            guard ImageFS.isDirectory(name) else { throw .imageNotFound(name) }
            return name
        }
        try Self.checkName(name)
        let path = rootfsDirectory(name)
        guard ImageFS.isDirectory(path) else { throw .imageNotFound(name) }
        return path
    }

    /// Removes an image. It is renamed out of the way first, so it disappears
    /// at once even when deleting a large tree takes a while.
    public func remove(_ name: String) throws(SandboxError) {
        try Self.checkName(name)
        let store = try ImageFS.openDirectory(directory)
        defer { ImageFS.close(store) }
        guard try ImageFS.stat(name, in: store, display: "\(directory)/\(name)") != nil else {
            throw .imageNotFound(name)
        }
        let doomed = ".rm-\(name)-\(Self.randomSuffix())"
        if let e = ImageFS.rename(name, in: store, to: doomed, in: store) {
            throw .syscall("renameat(\(directory)/\(name) -> \(doomed))", errno: e.rawValue)
        }
        try ImageFS.removeTree(doomed, in: store, display: "\(directory)/\(doomed)")
    }

    /// Writes the image's rootfs as a tar archive to `path` ("-" for standard output),
    /// with `tar --numeric-owner -C <rootfs> -c .`.
    public func exportTar(_ name: String, to path: String) async throws(SandboxError) {
        let rootfs = try rootfsPath(name)
        let arguments = ["--numeric-owner", "-C", rootfs, "-cf", "-", "."]
        let command = "tar " + arguments.joined(separator: " ")
        do {
            let result: ExecutionResult<Void, FileDescriptorOutput, StringOutput<UTF8>>
            if path == "-" {
                result = try await Subprocess.run(.name("tar"), arguments: Arguments(arguments), output: .currentStandardOutput, error: .string(limit: 64 << 10))
            } else {
                let fd = try Kernel.open(path, O_WRONLY | O_CREAT | O_TRUNC)
                result = try await Subprocess.run(
                    .name("tar"), arguments: Arguments(arguments),
                    output: .fileDescriptor(FileDescriptor(rawValue: fd), closeAfterSpawningProcess: true),
                    error: .string(limit: 64 << 10))
            }
            guard result.terminationStatus.isSuccess else {
                throw SandboxError.toolFailed(command, status: ImageTools.status(result.terminationStatus), output: ImageTools.tail(result.standardError))
            }
        } catch let error as SandboxError {
            throw error
        } catch {
            throw .toolFailed(command, status: -1, output: "\(error)")
        }
    }

    func rootfsDirectory(_ name: String) -> String {
        "\(directory)/\(name)/rootfs"
    }

    /// nil when `name` is a valid image name, else why not.
    /// Names are `[a-z0-9][a-z0-9._-]*`, at most 128 characters: they become directory names.
    public static func validate(_ name: String) -> String? {
        // Byte ranges, not Sets: this runs on every box's launch, and building
        // two Sets was ~0.03 ms of a warm run.
        func isLowerOrDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
        func isAllowed(_ b: UInt8) -> Bool { isLowerOrDigit(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") }
        guard let first = name.utf8.first else { return "an image name cannot be empty" }
        if name.utf8.count > 128 { return "image name '\(name)' is longer than 128 characters" }
        guard isLowerOrDigit(first), name.utf8.allSatisfy(isAllowed) else {
            return "invalid image name '\(name)': use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit"
        }
        return nil
    }

    static func checkName(_ name: String) throws(SandboxError) {
        if let problem = validate(name) { throw .invalidRequest(problem) }
    }

    static func randomSuffix() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }

    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }
}

/// How an image came to be.
public enum ImageFormat: String, Codable, Sendable, CaseIterable {
    /// Copied from a rootfs directory.
    case directory
    /// Extracted from a rootfs tar (plain, gzip, zstd or xz).
    case tar
    /// Layers of a `docker save` archive (tar or unpacked directory).
    case dockerArchive = "docker-archive"
    /// Layers of an OCI image layout (tar or directory).
    case ociLayout = "oci-layout"
    /// `gradebox image build minimal`: busybox-static.
    case busybox
    /// `gradebox image build full`: debootstrap --variant=minbase.
    case debootstrap
}

/// The images gradebox can make without a registry (see DESIGN.md).
public enum BuiltinImage: String, CaseIterable, Sendable {
    /// busybox-static and one symlink per applet, about 2 MB (stands in for Alpine).
    case minimal
    /// Debian bookworm minbase from debootstrap, about 206 MB (stands in for CentOS).
    case full
    /// INGInious's default grading environment, built offline: `full` plus what
    /// INGInious's base image has (python3 with msgpack, zmq, jinja2, yaml and
    /// IPython; bash, coreutils, gcc, make), its in-box API taken from the
    /// `inginious` sdist on PyPI, and the user `worker` (4242, home /task).
    /// Labelled `org.inginious.grading.name=default`.
    case inginiousDefault = "inginious-default"
}

/// What the store knows about one image (its image.json).
public struct ImageInfo: Codable, Sendable, Equatable {
    public var name: String
    /// What it was imported from (a path) or built with (a command).
    public var source: String
    public var format: ImageFormat
    public var createdAt: Date
    /// Disk usage of the rootfs as `du -s` counts it: allocated blocks, each inode once.
    public var sizeBytes: UInt64
    /// Entries in the rootfs (files, directories, symlinks), the root itself not counted.
    public var fileCount: Int
    /// Absolute path of the rootfs directory.
    public var rootfs: String
    /// The image's labels: an imported image's own (its configuration's `Labels`), or a built one's.
    /// INGInious names its grading environments with `org.inginious.grading.name`.
    public var labels: [String: String]?

    public init(name: String, source: String, format: ImageFormat, createdAt: Date, sizeBytes: UInt64, fileCount: Int, rootfs: String) {
        self.name = name
        self.source = source
        self.format = format
        self.createdAt = createdAt
        self.sizeBytes = sizeBytes
        self.fileCount = fileCount
        self.rootfs = rootfs
    }
}
