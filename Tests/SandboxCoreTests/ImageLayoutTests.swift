import Foundation
import Testing
@testable import SandboxCore

/// Lower layer: files, a directory to be whited out, a directory to be made opaque.
private func lowerLayer() -> [UInt8] {
    var tar = TarWriter()
    tar.dir("etc/")
    tar.file("etc/passwd", "root:x:0:0\n")
    tar.file("keep", "k")
    tar.file("gone", "g")
    tar.file("dir/gone-too", "g")
    tar.file("opq/old", "o")
    tar.file("opq/sub/old", "o")
    return tar.finished()
}

/// Upper layer: whiteouts for gone and dir/, opaque opq/, new files.
private func upperLayer() -> [UInt8] {
    var tar = TarWriter()
    tar.file(".wh.gone", "")
    tar.file(".wh.dir", "")
    tar.file("opq/.wh..wh..opq", "")
    tar.file("opq/new", "n")
    tar.file("added", "a")
    return tar.finished()
}

/// What the two layers above must produce.
private func expectMergedTree(_ rootfs: String) {
    #expect(TestFiles.read(rootfs + "/keep") == "k")
    #expect(TestFiles.read(rootfs + "/added") == "a")
    #expect(TestFiles.read(rootfs + "/etc/passwd") == "root:x:0:0\n")
    #expect(!TestFiles.exists(rootfs + "/gone"))
    #expect(!TestFiles.exists(rootfs + "/dir"))
    #expect(TestFiles.children(rootfs + "/opq") == ["new"])
    #expect(!TestFiles.exists(rootfs + "/.wh.gone"))
}

private func json(_ object: Any) -> [UInt8] {
    Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
}

private func descriptor(_ mediaType: String, _ blob: [UInt8], platform: [String: String]? = nil, annotations: [String: String]? = nil) -> [String: Any] {
    var d: [String: Any] = ["mediaType": mediaType, "digest": "sha256:" + TestFiles.sha256(blob), "size": blob.count]
    if let platform { d["platform"] = platform }
    if let annotations { d["annotations"] = annotations }
    return d
}

/// An OCI layout as (path, bytes): index.json -> nested index -> (arm64 manifest, amd64 manifest, attestation).
private func ociLayout(corruptLayer: Bool = false) -> [(String, [UInt8])] {
    let l1 = TestFiles.gzip(lowerLayer())
    let l2 = upperLayer()
    let config = json(["architecture": "amd64", "os": "linux"])
    let manifest = json([
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [
            descriptor("application/vnd.oci.image.layer.v1.tar+gzip", l1),
            descriptor("application/vnd.oci.image.layer.v1.tar", l2),
        ],
    ])
    // A manifest for another architecture whose layer is absent: choosing it would fail.
    let otherManifest = json([
        "schemaVersion": 2, "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [["mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + String(repeating: "0", count: 64), "size": 1]],
    ])
    let host = ImageLayout.hostArchitecture
    let nested = json([
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            descriptor("application/vnd.oci.image.manifest.v1+json", otherManifest, platform: ["os": "linux", "architecture": host == "amd64" ? "s390x" : "amd64"]),
            descriptor("application/vnd.oci.image.manifest.v1+json", manifest, platform: ["os": "linux", "architecture": host]),
            descriptor("application/vnd.oci.image.manifest.v1+json", otherManifest, platform: ["os": "unknown", "architecture": "unknown"],
                       annotations: ["vnd.docker.reference.type": "attestation-manifest"]),
        ],
    ])
    let index = json(["schemaVersion": 2, "manifests": [descriptor("application/vnd.oci.image.index.v1+json", nested)]])
    var blobs: [(String, [UInt8])] = [l1, l2, config, manifest, otherManifest, nested].map { ("blobs/sha256/" + TestFiles.sha256($0), $0) }
    if corruptLayer { blobs[1].1[600] ^= 0xff }
    return [("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)), ("index.json", index)] + blobs
}

private func tarOf(_ files: [(String, [UInt8])], symlinks: [(String, String)] = []) -> [UInt8] {
    var tar = TarWriter()
    for (path, bytes) in files {
        tar.append(TarWriter.header(name: path, type: "0", size: bytes.count), data: bytes)
    }
    for (path, target) in symlinks { tar.symlink(path, to: target) }
    return tar.finished()
}

@Suite("Image archives: docker save and OCI layouts")
struct ImageLayoutTests {
    @Test("docker save archive: layers applied in order with whiteouts and an opaque directory")
    func dockerSave() async throws {
        let tmp = TemporaryDirectory()
        let manifest = json([["Config": "config.json", "RepoTags": ["t:latest"], "Layers": ["l1/layer.tar", "l2/layer.tar"]]])
        // docker save links duplicate layers; an absolute link must resolve inside the archive.
        let archive = tarOf(
            [("manifest.json", manifest), ("config.json", json([:])), ("l1/layer.tar", lowerLayer()), ("blobs/l2.tar", upperLayer())],
            symlinks: [("l2/layer.tar", "/blobs/l2.tar")])
        let source = tmp.write("image.tar", archive)
        let store = ImageStore(directory: tmp.path + "/store")
        let info = try await store.importImage(name: "docker", from: source)
        #expect(info.format == .dockerArchive)
        expectMergedTree(info.rootfs)
        // The unpacked archive is gone; only the image is left.
        #expect(TestFiles.children(tmp.path + "/store") == ["docker"])
        #expect(TestFiles.children(tmp.path + "/store/docker") == ["image.json", "rootfs"])
    }

    @Test("an imported image keeps its configuration's labels (an INGInious environment's name among them)")
    func labelsAreKept() async throws {
        let tmp = TemporaryDirectory()
        let manifest = json([["Config": "config.json", "RepoTags": ["env:latest"], "Layers": ["l1/layer.tar"]]])
        let config = json(["config": ["Labels": ["org.inginious.grading.name": "python3", "other": "x"]]])
        let source = tmp.write("env.tar", tarOf([("manifest.json", manifest), ("config.json", config), ("l1/layer.tar", lowerLayer())]))
        let store = ImageStore(directory: tmp.path + "/store")
        let info = try await store.importImage(name: "env", from: source)
        #expect(info.labels == ["org.inginious.grading.name": "python3", "other": "x"])
        #expect(try store.info("env").labels?["org.inginious.grading.name"] == "python3", "kept in image.json")
        let plain = try await store.importImage(name: "plain", from: tmp.write("p.tar", tarOf(
            [("manifest.json", manifest), ("config.json", json([:])), ("l1/layer.tar", lowerLayer())])))
        #expect(plain.labels == nil)
    }

    @Test("docker save archive whose layer path leads outside the archive is refused")
    func dockerSaveEscape() async {
        let tmp = TemporaryDirectory()
        let manifest = json([["Config": "c.json", "Layers": ["l/layer.tar"]]])
        // Resolved inside the archive, /etc/hostname does not exist there: never the host's file.
        let archive = tarOf([("manifest.json", manifest), ("c.json", json([:]))], symlinks: [("l/layer.tar", "/etc/hostname")])
        let source = tmp.write("image.tar", archive)
        let store = ImageStore(directory: tmp.path + "/store")
        await #expect(throws: SandboxError.self) { _ = try await store.importImage(name: "escape", from: source) }
        #expect(TestFiles.children(tmp.path + "/store") == [])
    }

    @Test("OCI layout as a tar: nested index, host platform chosen, gzip layer, digests checked")
    func ociTar() async throws {
        let tmp = TemporaryDirectory()
        let source = tmp.write("oci.tar", tarOf(ociLayout()))
        let store = ImageStore(directory: tmp.path + "/store")
        let lines = Lines()
        let info = try await store.importImage(name: "oci", from: source, progress: { lines.add($0) })
        #expect(info.format == .ociLayout)
        expectMergedTree(info.rootfs)
        #expect(lines.all.contains { $0.hasPrefix("layer 2/2") })
    }

    @Test("OCI layout as a directory")
    func ociDirectory() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.mkdir("layout")
        _ = tmp.mkdir("layout/blobs/sha256")
        for (path, bytes) in ociLayout() { _ = tmp.write("layout/" + path, bytes) }
        let store = ImageStore(directory: tmp.path + "/store")
        let info = try await store.importImage(name: "ocidir", from: dir)
        #expect(info.format == .ociLayout)
        expectMergedTree(info.rootfs)
    }

    @Test("a layer that does not match its digest fails the import and leaves nothing")
    func digestMismatch() async {
        let tmp = TemporaryDirectory()
        let source = tmp.write("oci.tar", tarOf(ociLayout(corruptLayer: true)))
        let store = ImageStore(directory: tmp.path + "/store")
        do {
            _ = try await store.importImage(name: "bad", from: source)
            Issue.record("corrupt layer accepted")
        } catch {
            #expect(error.description.contains("digest"))
        }
        #expect(TestFiles.children(tmp.path + "/store") == [])
    }

    @Test("a docker archive with several images is refused with their tags")
    func severalImages() throws {
        let manifests = [ImageLayout.DockerManifest(Config: nil, RepoTags: ["a:1"], Layers: []), .init(Config: nil, RepoTags: ["b:2"], Layers: [])]
        #expect(throws: SandboxError.self) { try ImageLayout.dockerSave(manifests) }
    }

    @Test("compression is told by magic bytes")
    func compression() {
        #expect(Compression.sniff([0x1f, 0x8b, 8, 0]) == .gzip)
        #expect(Compression.sniff([0x28, 0xb5, 0x2f, 0xfd]) == .zstd)
        #expect(Compression.sniff([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) == .xz)
        #expect(Compression.sniff(Array("ustar".utf8)) == .none)
    }
}

@Suite("Builtin image plans")
struct ImageBuildPlanTests {
    @Test("mirror from one-line sources.list: first deb line serving bookworm main")
    func oneLine() {
        let text = """
            # comment
            deb-src http://src.example/debian bookworm main
            deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib
            deb http://other.example/debian bookworm main
            """
        #expect(AptSources.oneLineMirror(text, suite: "bookworm") == "http://mirror.example/debian")
        #expect(AptSources.oneLineMirror("deb http://x/debian bullseye main", suite: "bookworm") == nil)
    }

    @Test("mirror from deb822 .sources: the paragraph with Suites bookworm and Components main")
    func deb822() {
        let text = """
            Types: deb
            URIs: http://deb.debian.org/debian-security
            Suites: bookworm-security
            Components: main

            Types: deb deb-src
            # http://snapshot.debian.org/archive/debian/20250520T000000Z
            URIs: http://mirror.example/debian
            Suites: bookworm bookworm-updates
            Components: main
            """
        #expect(AptSources.deb822Mirror(text, suite: "bookworm") == "http://mirror.example/debian")
    }

    @Test("the minimal rootfs plan: one /bin symlink per applet, /usr/bin/env, no link for busybox itself")
    func minimalPlan() {
        let plan = MinimalRootfs(busybox: "/bin/busybox", applets: ["sh", "echo", "busybox", "cat"])
        let links = Dictionary(uniqueKeysWithValues: plan.symlinks.map { ($0.0, $0.1) })
        #expect(links["bin/sh"] == "busybox")
        #expect(links["bin/echo"] == "busybox")
        #expect(links["bin/busybox"] == nil)
        #expect(links["usr/bin/env"] == "/bin/busybox")
        #expect(MinimalRootfs.directories.contains { $0.0 == "tmp" && $0.1 == 0o1777 })
    }

    @Test("ELF reading tells a dynamic executable", .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/ls"), "needs /usr/bin/ls"))
    func elfDynamic() throws {
        #expect(try ELF.isStatic("/usr/bin/ls") == false)
    }
}
