import Foundation
import Subprocess

/// An image holding one dataset on top of a base image, so the data sits in
/// the container's own filesystem: what the storage driver decides.
/// One image per (base, dataset), because the image's size is part of what
/// creation costs (vfs copies all of it).
public struct WorkloadImage: Sendable, Equatable, Hashable {
    /// "minimal" or "full" (BaseImage.rawValue).
    public var base: String
    public var dataset: WorkloadDataset

    public init(base: String, dataset: WorkloadDataset) {
        self.base = base
        self.dataset = dataset
    }

    /// Lowercase, as Docker and Podman require of image names: "gradebox-full-db-111.6mb".
    public var name: String { "gradebox-\(base)-\(dataset.kind.rawValue)-\(dataset.size.lowercased())" }

    /// Where the data sits inside the container.
    public static let dataRoot = "/data"
    /// The .sqlite file, or the file set's directory.
    public var dataPath: String { Self.dataRoot + "/" + dataset.relativePaths[0] }
    public var tarPath: String? { dataset.kind == .files ? Self.dataRoot + "/" + dataset.relativePaths[1] : nil }
}

/// The steps that make a workload image's root filesystem, as plain values
/// (made without touching the disk beyond what `exists` answers).
public struct WorkloadImagePlan: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        /// The base rootfs as hard links (`cp -al`): no copy of the base's
        /// files. Safe because importing reads the tree (tar) and drivers that
        /// use a directory in place put an overlay or a read-only bind over it.
        case linkTree(source: String)
        /// Workload data as real copies: a container writes into it (db-write),
        /// and with a directory used in place it must not reach the generated data.
        case copy(source: String, destination: String)
        /// A host binary or shared library, symlinks resolved, at the same path
        /// inside the image.
        case install(source: String, destination: String)
        /// A small file written from memory (a server's configuration, a page).
        case write(contents: String, destination: String)
    }

    /// The image name the tree is imported under.
    public var name: String
    public var steps: [Step]

    /// - Parameters:
    ///   - baseRootfs: the base image's rootfs (SandboxCore's `ImageStore().rootfsPath("minimal")`).
    ///   - sqlite3: for databases, the host's sqlite3 and the shared objects `ldd` lists
    ///     for it (`WorkloadImagePlan.sharedObjects(lddOutput:)`). Neither base image has
    ///     sqlite3 (busybox has none, debootstrap's minbase leaves it out) and Debian has
    ///     no static build, so both get Debian's with the libraries the image lacks:
    ///     both images then run the same sqlite3, and the db tests compare storage.
    ///   - exists: whether a path exists in the base rootfs (a library the full image already has is kept).
    public static func make(
        _ image: WorkloadImage, baseRootfs: String, store: WorkloadStore,
        sqlite3: (binary: String, libraries: [String])?, exists: (String) -> Bool
    ) -> WorkloadImagePlan {
        var steps: [Step] = [.linkTree(source: baseRootfs)]
        let d = image.dataset
        steps.append(.copy(source: store.path(of: d), destination: image.dataPath))
        if let tar = store.tarPath(of: d), let inside = image.tarPath { steps.append(.copy(source: tar, destination: inside)) }
        if d.kind == .database, let sqlite3 {
            steps.append(.install(source: sqlite3.binary, destination: "/usr/bin/sqlite3"))
            for lib in sqlite3.libraries where !exists(baseRootfs + lib) {
                steps.append(.install(source: lib, destination: lib))
            }
        }
        return WorkloadImagePlan(name: image.name, steps: steps)
    }

    /// The absolute paths of the shared objects in `ldd` output, the loader
    /// included ("libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)",
    /// "/lib64/ld-linux-x86-64.so.2 (0x...)"); linux-vdso has no file.
    public static func sharedObjects(lddOutput: String) -> [String] {
        lddOutput.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if let arrow = fields.firstIndex(of: "=>"), arrow + 1 < fields.count, fields[arrow + 1].hasPrefix("/") {
                return fields[arrow + 1]
            }
            if let first = fields.first?.trimmingCharacters(in: .whitespaces), first.hasPrefix("/") { return first }
            return nil
        }
    }
}

/// Carries out a `WorkloadImagePlan` into a staging directory with cp(1).
public enum WorkloadImageBuilder {
    /// Builds the rootfs at `staging` (replacing it) and returns it.
    public static func apply(_ plan: WorkloadImagePlan, staging: String) async throws -> String {
        try? FileManager.default.removeItem(atPath: staging)
        for step in plan.steps {
            switch step {
            case .linkTree(let source):
                try await tool("cp", ["-al", source + "/.", staging + "/"], creating: staging)
            case .copy(let source, let destination):
                let target = staging + destination
                try mkdirParent(target)
                try await tool("cp", ["-a", "--reflink=auto", source, target])
            case .install(let source, let destination):
                let target = staging + destination
                try mkdirParent(target)
                // -L: the image gets the file, not a symlink to a host path; remove
                // first so a hard link shared with the base is never written through.
                try? FileManager.default.removeItem(atPath: target)
                try await tool("cp", ["-L", source, target])
            case .write(let contents, let destination):
                let target = staging + destination
                try mkdirParent(target)
                try? FileManager.default.removeItem(atPath: target)
                do {
                    try contents.write(toFile: target, atomically: false, encoding: .utf8)
                } catch {
                    throw WorkloadError.io(operation: "write(\(target))", underlying: "\(error)")
                }
            }
        }
        return staging
    }

    /// Host facts the plan needs: sqlite3's path and its shared objects.
    public static func hostSqlite3() async throws -> (binary: String, libraries: [String]) {
        try await hostBinary("/usr/bin/sqlite3", package: "sqlite3")
    }

    /// A host binary and the shared objects `ldd` lists for it.
    public static func hostBinary(_ binary: String, package: String) async throws -> (binary: String, libraries: [String]) {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw WorkloadError.missing(dataset: "\(binary) (apt-get install -y \(package))", path: binary)
        }
        let out = try await Subprocess.run(.name("ldd"), arguments: [binary], output: .string(limit: 1 << 16), error: .string(limit: 1 << 16))
        guard out.terminationStatus.isSuccess else {
            throw WorkloadError.tool(command: "ldd \(binary)", status: "\(out.terminationStatus)", stderr: out.standardError)
        }
        return (binary, WorkloadImagePlan.sharedObjects(lddOutput: out.standardOutput))
    }

    private static func mkdirParent(_ path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw WorkloadError.io(operation: "mkdir(\(parent))", underlying: "\(error)")
        }
    }

    private static func tool(_ name: String, _ arguments: [String], creating: String? = nil) async throws {
        if let creating { try FileManager.default.createDirectory(atPath: creating, withIntermediateDirectories: true) }
        let r = try await Subprocess.run(.name(name), arguments: .init(arguments), output: .discarded, error: .string(limit: 1 << 16))
        guard r.terminationStatus.isSuccess else {
            throw WorkloadError.tool(command: ([name] + arguments).joined(separator: " "), status: "\(r.terminationStatus)", stderr: r.standardError)
        }
    }
}
