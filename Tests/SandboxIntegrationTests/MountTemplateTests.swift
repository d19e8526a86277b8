import Testing
#if canImport(Glibc)
import Glibc
#endif
import CSandbox
@testable import SandboxCore

/// Boxes copied from their image's mount template (root, a bound image):
/// what the box sees, its host binds, and the templates' own lifecycle.
@Suite("Mount templates, for real (root)", .serialized, .enabled(if: Host.canRunBoxes, Host.skipReason))
struct MountTemplateTests {
    /// The templates kept in a state directory, by file name.
    func templates(_ sandbox: Sandbox) -> [String] {
        ((try? Kernel.directoryEntries(sandbox.stateDirectory + "/templates")) ?? [])
            .map(\.name).filter { !$0.hasPrefix(".") }.sorted()
    }

    func isMountNamespace(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return UInt64(truncatingIfNeeded: cs_namespace_type(fd)) == CloneFlags.newNS
    }

    @Test func aBoxSeesTheImageAsItsRootAndNothingOfTheHostOrOfItsScratch() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "templates")
        defer { _ = try? sandbox.gc(pool: true) }
        let r = try shell(sandbox, "cat /proc/self/mountinfo; echo ---; ls -a /tmp; echo ---; touch /x 2>&1; echo hi > /tmp/f && cat /tmp/f; "
                          + "touch /dev/x 2>&1; echo x > /dev/null && head -c 3 /dev/zero | wc -c")
        #expect(r.verdict == .OK, "\(r.err)")
        let parts = r.out.components(separatedBy: "---\n")
        try #require(parts.count == 3, "\(r.out)")
        let mounts = parts[0].split(separator: "\n")
        let rootfs = try sandbox.images.rootfsPath("minimal")
        // The root is the image itself, read-only: the box was never in the host's mounts.
        let rootLine = try #require(mounts.first { $0.split(separator: " ")[4] == "/" })
        // mountinfo's root is the path inside the file system holding it: all
        // of the image's path where /tmp is on the root file system, its end
        // where /tmp is a tmpfs of its own (as in the cgroup v2 guest).
        let root = rootLine.split(separator: " ")[3]
        #expect(root != "/" && rootfs.hasSuffix(root), "\(rootLine)")
        #expect(rootLine.split(separator: " ")[5].hasPrefix("ro,"))
        #expect(!mounts.contains { $0.contains(sandbox.stateDirectory) || $0.contains("/.mnt/") }, "\(parts[0])")
        // /tmp shows the scratch's tmp directory, covering the scratch's other directories.
        #expect(parts[1] == ".\n..\n", "\(parts[1])")
        // The root and the template's /dev are read-only; the devices work.
        #expect(parts[2].hasPrefix("touch: /x: Read-only file system\nhi\ntouch: /dev/x: Read-only file system\n"), "\(parts[2])")
        #expect(parts[2].hasSuffix("3\n"))

        let kept = templates(sandbox)
        #expect(kept == [try #require(MountTemplates.key(rootfs))])
        #expect(isMountNamespace(sandbox.stateDirectory + "/templates/" + kept[0]))
    }

    /// Host binds reach a templated box as trees opened by the caller: the
    /// box still has only the image and its binds, each private (no peer of
    /// the host's mounts), read-only with nosuid and nodev unless writable.
    @Test func hostBindsAreAttachedPrivateAndReadOnlyUnlessWritable() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "templates-binds")
        defer { _ = try? sandbox.gc(pool: true) }
        let data = try temporaryDirectory("template-data")
        let out = try temporaryDirectory("template-out")
        defer { for d in [data, out] { _ = waitStatus(try! spawnProcess(["/bin/rm", "-rf", d])) } }
        try writeFile(data + "/in", "given\n")
        // Mount points the minimal image has.
        let r = try shell(sandbox, "cat /sys/in; echo x > /sys/new 2>/dev/null || echo refused; echo made > /root/f; echo ---; cat /proc/self/mountinfo") {
            $0.mounts = [BindMount(source: data, target: "/sys"), BindMount(source: out, target: "/root", writable: true)]
            $0.workingDirectory = "/"
        }
        #expect(r.verdict == .OK, "\(r.err)")
        let parts = r.out.components(separatedBy: "---\n")
        try #require(parts.count == 2, "\(r.out)")
        #expect(parts[0] == "given\nrefused\n")
        #expect(Kernel.readText(out + "/f") == "made\n")
        #expect(access(data + "/new", F_OK) != 0)
        let mounts = parts[1].split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        // Copied from the template: none of the host's mounts came along.
        #expect(!parts[1].contains(sandbox.stateDirectory) && !parts[1].contains(" /sys/fs/cgroup"), "\(parts[1])")
        for (target, options) in [("/sys", "ro,nosuid,nodev"), ("/root", "rw")] {
            let line = try #require(mounts.first { $0.count > 6 && $0[4] == target }, "\(parts[1])")
            #expect(line[5].hasPrefix(options), "\(line)")
            // Optional fields end at "-": none (no shared:N, no master:N) means private.
            #expect(line[6] == "-", "\(line)")
        }
    }

    /// An image without the box's mount points (INGInious's own, saved from
    /// Docker) gets a writable overlay root: built in the template's copy,
    /// on the box's scratch, and pivoted into; the host's mounts never come along.
    @Test func anOverlayRootIsBuiltFromTheTemplateWithItsMountPointsAndNothingOfTheHost() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "templates-overlay")
        defer { _ = try? sandbox.gc(pool: true) }
        let data = try temporaryDirectory("template-overlay-data")
        defer { _ = waitStatus(try! spawnProcess(["/bin/rm", "-rf", data])) }
        try writeFile(data + "/in", "given\n")
        let rootfs = try sandbox.images.rootfsPath("minimal")
        #expect(access(rootfs + "/task", F_OK) != 0, "the minimal image has no /task")
        let r = try shell(sandbox, "cat /task/in; echo x > /task/new 2>/dev/null || echo refused; echo kept > /made && cat /made; "
                          + "ls /dev/null /dev/pts >/dev/null && echo devices; [ -s /proc/keys ] || echo masked; "
                          + "echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || echo read-only; echo ---; cat /proc/self/mountinfo") {
            $0.rootfs = .overlay
            $0.mounts = [BindMount(source: data, target: "/task")]
            $0.workingDirectory = "/"
        }
        #expect(r.verdict == .OK, "\(r.err)")
        let parts = r.out.components(separatedBy: "---\n")
        try #require(parts.count == 2, "\(r.out)")
        #expect(parts[0] == "given\nrefused\nkept\ndevices\nmasked\nread-only\n", "\(parts[0])")
        #expect(access(rootfs + "/made", F_OK) != 0 && access(rootfs + "/task", F_OK) != 0, "the image is never written")
        let mounts = parts[1].split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let root = try #require(mounts.first { $0.count > 8 && $0[4] == "/" }, "\(parts[1])")
        #expect(root.contains("overlay") && root[5].hasPrefix("rw"), "\(root)")
        #expect(!parts[1].contains(sandbox.stateDirectory) && !parts[1].contains(" /sys/fs/cgroup") && !parts[1].contains("/.mnt/"), "\(parts[1])")
        #expect(mounts.count < 25, "only the box's own mounts: \(parts[1])")
        #expect(templates(sandbox) == [try #require(MountTemplates.key(rootfs))])
    }

    @Test func gcRemovesTheTemplatesOfImagesThatAreGoneAndPoolDrainsThemAll() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "templates-gc")
        defer { _ = try? sandbox.gc(pool: true) }
        // An image given as a directory of its own, outside the store.
        let copy = try temporaryDirectory("template-image")
        defer { _ = waitStatus(try! spawnProcess(["/bin/rm", "-rf", copy])) }
        #expect(waitStatus(try spawnProcess(["/bin/cp", "-a", try sandbox.images.rootfsPath("minimal") + "/.", copy])) == 0)

        #expect(try run(sandbox, ["/bin/true"]).verdict == .OK)
        #expect(try run(sandbox, ["/bin/true"]) { $0.image = copy }.verdict == .OK)
        let store = try #require(MountTemplates.key(try sandbox.images.rootfsPath("minimal")))
        #expect(templates(sandbox) == [store, try #require(MountTemplates.key(copy))].sorted())

        let first = try sandbox.gc()
        #expect(first.mountTemplates == 1)
        #expect(templates(sandbox) == [store], "the store's image keeps its template")
        let drained = try sandbox.gc(pool: true)
        #expect(drained.mountTemplates == 1)
        #expect(templates(sandbox).isEmpty)
        #expect(!(Kernel.readText("/proc/self/mountinfo") ?? "").contains(sandbox.stateDirectory + "/templates/"))
        // This process keeps using the namespace it holds; the next process makes the template again.
        #expect(try run(sandbox, ["/bin/true"]).verdict == .OK)
        let next = MountTemplates(stateDirectory: sandbox.stateDirectory, mountPoint: try Runtime.shared(sandbox.stateDirectory).host.rootMountPoint)
        #expect(next.descriptor(for: try sandbox.images.rootfsPath("minimal")) != nil)
        #expect(templates(sandbox) == [store])
    }

    @Test func aTemplateFileLeftWithoutItsNamespaceIsMadeAgain() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "templates-stale")
        defer { _ = try? sandbox.gc(pool: true) }
        let key = try #require(MountTemplates.key(try sandbox.images.rootfsPath("minimal")))
        let path = sandbox.stateDirectory + "/templates/" + key
        _ = try Runtime.shared(sandbox.stateDirectory)   // makes the state directory
        mkdir(sandbox.stateDirectory + "/templates", 0o755)
        // A crash between creating the file and binding the namespace on it.
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        close(fd)
        #expect(!isMountNamespace(path))
        // Another process's view: a fresh table of open templates.
        let fresh = MountTemplates(stateDirectory: sandbox.stateDirectory, mountPoint: try Runtime.shared(sandbox.stateDirectory).host.rootMountPoint)
        let template = try #require(fresh.descriptor(for: try sandbox.images.rootfsPath("minimal")))
        #expect(UInt64(truncatingIfNeeded: cs_namespace_type(template.rawValue)) == CloneFlags.newNS)
        #expect(isMountNamespace(path))
        #expect(try run(sandbox, ["/bin/true"]).verdict == .OK)
    }

    /// Four makers at once (as four `gradebox run` processes would be): one
    /// template is bound, and every maker gets a namespace of it to use.
    @Test func makersAtOnceBindOneTemplate() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "templates-race")
        defer { _ = try? sandbox.gc(pool: true) }
        let rootfs = try sandbox.images.rootfsPath("minimal")
        let mountPoint = try Runtime.shared(sandbox.stateDirectory).host.rootMountPoint
        let state = sandbox.stateDirectory
        let kinds = await withTaskGroup(of: UInt64.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let makers = MountTemplates(stateDirectory: state, mountPoint: mountPoint)
                    guard let fd = makers.descriptor(for: rootfs) else { return 0 }
                    return UInt64(truncatingIfNeeded: cs_namespace_type(fd.rawValue))
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(kinds == Array(repeating: CloneFlags.newNS, count: 4))
        #expect(templates(sandbox) == [try #require(MountTemplates.key(rootfs))])
        let binds = (Kernel.readText("/proc/self/mountinfo") ?? "").split(separator: "\n")
            .filter { $0.contains(state + "/templates/") }
        #expect(binds.count == 1, "one bind, not one stacked per maker: \(binds)")
    }
}
