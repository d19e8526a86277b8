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

/// The layers of a `docker save` archive or an OCI image layout, in the order
/// they are applied, read from a directory holding the (unpacked) archive.
package struct ImageLayout: Sendable, Equatable {
    package struct Layer: Sendable, Equatable {
        /// Path of the layer blob inside the layout directory.
        package var path: String
        /// "sha256:<hex>" when the layout names the blob by its digest.
        package var digest: String?
    }
    package var format: ImageFormat
    package var layers: [Layer]
    /// The image's configuration (its labels, among others), when the layout names one.
    package var config: Layer? = nil

    /// nil when `dir` is neither a docker-save archive (manifest.json) nor an OCI layout (oci-layout + index.json).
    package static func detect(in dir: FileDescriptor) async throws(SandboxError) -> ImageLayout? {
        if try ImageFS.stat("manifest.json", in: dir, display: "manifest.json")?.kind == .regular {
            let data = try ConfinedPath.read("manifest.json", in: dir)
            // A rootfs could hold a stray manifest.json at its top: only a docker manifest list counts.
            if let manifests = try? JSONDecoder().decode([DockerManifest].self, from: data) {
                return try dockerSave(manifests)
            }
        }
        if try ImageFS.stat("oci-layout", in: dir, display: "oci-layout") != nil,
            try ImageFS.stat("index.json", in: dir, display: "index.json") != nil
        {
            return try await oci(in: dir)
        }
        return nil
    }

    struct DockerManifest: Decodable {
        var Config: String?
        var RepoTags: [String]?
        var Layers: [String]
    }

    static func dockerSave(_ manifests: [DockerManifest]) throws(SandboxError) -> ImageLayout {
        guard let first = manifests.first else {
            throw .invalidRequest("docker archive: manifest.json lists no image")
        }
        if manifests.count > 1 {
            let tags = manifests.map { ($0.RepoTags ?? ["<untagged>"]).joined(separator: ",") }
            throw .invalidRequest("docker archive holds \(manifests.count) images (\(tags.joined(separator: "; "))); save one image per archive")
        }
        let layers = first.Layers.map { path in
            // Docker 25+ writes layers as content-addressed blobs: their name is their digest.
            let parts = path.split(separator: "/")
            let digest: String? =
                parts.count == 3 && parts[0] == "blobs" && parts[1] == "sha256" ? "sha256:\(parts[2])" : nil
            return Layer(path: path, digest: digest)
        }
        return ImageLayout(format: .dockerArchive, layers: layers, config: first.Config.map { Layer(path: $0, digest: nil) })
    }

    struct Descriptor: Decodable {
        struct Platform: Decodable {
            var architecture: String?
            var os: String?
            var variant: String?
        }
        var mediaType: String?
        var digest: String
        var platform: Platform?
        var annotations: [String: String]?
    }

    /// An index, a manifest list, or a manifest: which one is told by the keys present.
    struct IndexOrManifest: Decodable {
        var mediaType: String?
        var manifests: [Descriptor]?
        var layers: [Descriptor]?
        var config: Descriptor?
    }

    static let hostArchitecture: String = {
        #if arch(x86_64)
        "amd64"
        #elseif arch(arm64)
        "arm64"
        #else
        "unknown"
        #endif
    }()

    static func oci(in dir: FileDescriptor) async throws(SandboxError) -> ImageLayout {
        var document = try decode(IndexOrManifest.self, ConfinedPath.read("index.json", in: dir), what: "index.json")
        var name = "index.json"
        // Nested indexes (docker 25+ writes index → index → manifest) are followed a few levels deep.
        for _ in 0..<8 {
            if let layers = document.layers {
                return ImageLayout(format: .ociLayout, layers: layers.map { Layer(path: blobPath($0.digest), digest: $0.digest) },
                                   config: document.config.map { Layer(path: blobPath($0.digest), digest: $0.digest) })
            }
            guard let manifests = document.manifests else {
                throw .invalidRequest("OCI layout: \(name) has neither manifests nor layers")
            }
            let chosen = try choose(manifests, in: name)
            name = blobPath(chosen.digest)
            let data = try ConfinedPath.read(name, in: dir)
            try await verifyDigest(.bytes(Array(data)), chosen.digest, what: name)
            document = try decode(IndexOrManifest.self, data, what: name)
        }
        throw .invalidRequest("OCI layout: indexes nested too deeply")
    }

    /// The manifest for this host: linux/<host arch> first, then one without a platform, then a sole candidate.
    static func choose(_ manifests: [Descriptor], in name: String) throws(SandboxError) -> Descriptor {
        let candidates = manifests.filter {
            $0.annotations?["vnd.docker.reference.type"] != "attestation-manifest" && $0.platform?.os != "unknown"
        }
        if let match = candidates.first(where: { $0.platform?.os == "linux" && $0.platform?.architecture == hostArchitecture }) {
            return match
        }
        if let match = candidates.first(where: { $0.platform == nil }) { return match }
        if candidates.count == 1 { return candidates[0] }
        let platforms = candidates.map { "\($0.platform?.os ?? "?")/\($0.platform?.architecture ?? "?")" }
        throw .invalidRequest("OCI layout: \(name) has no image for linux/\(hostArchitecture) (it has: \(platforms.joined(separator: ", ")))")
    }

    static func blobPath(_ digest: String) -> String {
        let parts = digest.split(separator: ":", maxSplits: 1)
        return parts.count == 2 ? "blobs/\(parts[0])/\(parts[1])" : "blobs/\(digest)"
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, what: String) throws(SandboxError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw .invalidRequest("image archive: cannot read \(what): \(error)")
        }
    }

    /// Checks a blob against its "sha256:<hex>" digest with `sha256sum` (swift-crypto is not
    /// a dependency of this project; the tool reads a 200 MB layer in about half a second).
    /// This catches truncated or corrupt archives. It proves nothing about trust: whoever
    /// wrote the archive wrote the digests too, which is why extraction is safe on its own.
    package static func verifyDigest(_ blob: ImageTools.Input, _ digest: String, what: String) async throws(SandboxError) {
        guard digest.hasPrefix("sha256:") else {
            throw .invalidRequest("image archive: \(what) uses the digest algorithm of '\(digest)'; only sha256 is supported")
        }
        let output = try await ImageTools.capture("sha256sum", ["-b", "-"], input: blob)
        let actual = "sha256:" + (output.split(separator: " ").first.map(String.init) ?? "")
        guard actual == digest else {
            throw .invalidRequest("image archive: \(what) does not match its digest (\(actual) != \(digest))")
        }
    }
}

/// Opening a path inside a directory the way openat2(RESOLVE_IN_ROOT) does:
/// symlinks are followed, but an absolute target or a ".." at the top
/// restarts from the root, so nothing outside it can be reached. Used for
/// the files of an image archive, whose layer entries may be symlinks
/// (docker save links duplicate layers). Done in Swift because Glibc's
/// variadic syscall(2) is not callable from Swift and CSandbox has no openat2 yet.
package enum ConfinedPath {
    package static let maxSymlinks = 40

    package static func open(_ path: String, in root: FileDescriptor) throws(SandboxError) -> FileDescriptor {
        var pending = path.split(separator: "/").map(String.init)
        var stack: [FileDescriptor] = []
        defer { for fd in stack { ImageFS.close(fd) } }
        var hops = 0
        func top() -> FileDescriptor { stack.last ?? root }
        while !pending.isEmpty {
            let component = pending.removeFirst()
            if component == "." { continue }
            if component == ".." {
                if let fd = stack.popLast() { ImageFS.close(fd) }
                continue
            }
            guard let st = try ImageFS.stat(component, in: top(), display: path) else {
                throw .syscall("openat(\(path))", errno: ENOENT)
            }
            if st.kind == .symlink {
                hops += 1
                guard hops <= maxSymlinks else { throw .syscall("openat(\(path))", errno: ELOOP) }
                let target = try ImageFS.readLink(component, in: top(), display: path)
                if target.hasPrefix("/") {
                    for fd in stack { ImageFS.close(fd) }
                    stack.removeAll()
                }
                pending = target.split(separator: "/").map(String.init) + pending
                continue
            }
            if pending.isEmpty {
                guard st.kind == .regular else {
                    throw .invalidRequest("image archive: \(path) is not a regular file")
                }
                return try ImageFS.openFile(component, in: top(), display: path)
            }
            stack.append(try ImageFS.openDirectory(component, in: top(), display: path))
        }
        throw .invalidRequest("image archive: \(path) names a directory, not a file")
    }

    /// Reads a small file (at most 64 MiB: manifests, indexes).
    package static func read(_ path: String, in root: FileDescriptor) throws(SandboxError) -> Data {
        let fd = try open(path, in: root)
        defer { ImageFS.close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try ImageFS.read(fd, into: &buffer, display: path)
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if data.count > 64 << 20 { throw .invalidRequest("image archive: \(path) is too large for a manifest") }
        }
        return data
    }
}

/// An image configuration (docker's and OCI's are alike here): only its labels are read.
struct ImageConfigLabels: Decodable {
    struct Config: Decodable {
        var Labels: [String: String]?
    }
    var config: Config?

    /// The labels of the configuration `data`; none when it has none or is not one.
    static func labels(_ data: Data) -> [String: String] {
        (try? JSONDecoder().decode(ImageConfigLabels.self, from: data))?.config?.Labels ?? [:]
    }
}
