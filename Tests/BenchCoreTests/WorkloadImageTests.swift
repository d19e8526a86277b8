import Foundation
import Testing

@testable import BenchCore

private let isRoot = getuid() == 0
private let hasStaticBusybox = FileManager.default.isExecutableFile(atPath: "/bin/busybox")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")

@Suite("Workload images")
struct WorkloadImageTests {
    @Test("ldd output gives the shared objects to copy, loader included")
    func lddParsing() {
        let out = """
            \tlinux-vdso.so.1 (0x00007ffd)
            \tlibsqlite3.so.0 => /lib/x86_64-linux-gnu/libsqlite3.so.0 (0x00007f50)
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f50)
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f50)
            """
        #expect(WorkloadImagePlan.sharedObjects(lddOutput: out) == [
            "/lib/x86_64-linux-gnu/libsqlite3.so.0", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2",
        ])
    }

    @Test("a plan links the base, copies the data, and adds only the libraries the base lacks")
    func plan() throws {
        let store = WorkloadStore(directory: "/d")
        let image = WorkloadImage(base: "full", dataset: try WorkloadCatalog.dataset(named: "db:2.6MB"))
        #expect(image.name == "gradebox-full-db-2.6mb")
        let plan = WorkloadImagePlan.make(
            image, baseRootfs: "/img/full", store: store,
            sqlite3: ("/usr/bin/sqlite3", ["/lib/x/libsqlite3.so.0", "/lib/x/libc.so.6"]),
            exists: { $0 == "/img/full/lib/x/libc.so.6" })
        #expect(plan.steps == [
            .linkTree(source: "/img/full"),
            .copy(source: "/d/db/tpcc-2.6MB.sqlite", destination: "/data/db/tpcc-2.6MB.sqlite"),
            .install(source: "/usr/bin/sqlite3", destination: "/usr/bin/sqlite3"),
            .install(source: "/lib/x/libsqlite3.so.0", destination: "/lib/x/libsqlite3.so.0"),
        ])
        let files = WorkloadImagePlan.make(
            WorkloadImage(base: "minimal", dataset: try WorkloadCatalog.dataset(named: "files:100")),
            baseRootfs: "/img/minimal", store: store, sqlite3: nil, exists: { _ in false })
        #expect(files.steps.count == 3 && files.steps[2] == .copy(source: "/d/files/files-100.tar", destination: "/data/files/files-100.tar"))
    }

    /// Builds a busybox rootfs like the minimal image, puts workload images on
    /// it and runs each experiment's command in it with chroot(8): the
    /// commands work with busybox's tools and the copied sqlite3.
    @Test("each I/O command runs in a minimal image built from the plan",
          .enabled(if: isRoot && hasStaticBusybox, "needs root (chroot) and /bin/busybox (busybox-static) and sqlite3"))
    func commandsRunInMinimalImage() async throws {
        let dir = NSTemporaryDirectory() + "gradebox-wlimage-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = dir + "/base"
        try FileManager.default.createDirectory(atPath: base + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: base + "/bin/busybox")
        for applet in ["sh", "cat", "find", "xargs", "tar", "mkdir", "wc", "ls"] {
            try FileManager.default.createSymbolicLink(atPath: base + "/bin/" + applet, withDestinationPath: "busybox")
        }
        // Containers get /dev/null from their manager; chroot(8) needs one in the tree.
        try FileManager.default.createDirectory(atPath: base + "/dev", withIntermediateDirectories: true)
        #expect(mknod(base + "/dev/null", S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0)
        let store = WorkloadStore(directory: dir + "/data")
        let db = try WorkloadCatalog.dataset(named: "db:151.6kB"), files = try WorkloadCatalog.dataset(named: "files:100")
        _ = try await store.generate(only: [db, files])
        let sqlite3 = try await WorkloadImageBuilder.hostSqlite3()

        for dataset in [db, files] {
            let image = WorkloadImage(base: "minimal", dataset: dataset)
            let plan = WorkloadImagePlan.make(image, baseRootfs: base, store: store, sqlite3: sqlite3,
                                              exists: { FileManager.default.fileExists(atPath: $0) })
            let rootfs = try await WorkloadImageBuilder.apply(plan, staging: dir + "/" + image.name)
            for kind in IOExperiment.Kind.allCases where kind.datasetKind == dataset.kind {
                let status = try chroot(rootfs, IOExperiment.command(kind, image))
                #expect(status == 0, "\(kind.rawValue) in \(image.name)")
            }
            if dataset.kind == .database {
                // db-write duplicated every table inside the image's copy only.
                let out = try chrootOutput(rootfs, ["/usr/bin/sqlite3", image.dataPath, "SELECT count(*) FROM sqlite_master WHERE name LIKE '%_copy'"])
                #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "9")
                let original = try chrootOutput(rootfs, ["/bin/sh", "-c", "ls /data/db"])
                #expect(original.contains("tpcc-151.6kB.sqlite"))
            } else {
                let out = try chrootOutput(rootfs, ["/bin/sh", "-c", "cat /data/extract/files-100/* | wc -c"])
                #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "409600")
            }
        }
        // The generated data was not written through hard links.
        #expect(try await store.missing([db, files]).isEmpty)
    }

    private func chroot(_ root: String, _ argv: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/chroot")
        p.arguments = [root] + argv
        p.environment = ["PATH": "/usr/bin:/bin"]
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    private func chrootOutput(_ root: String, _ argv: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/chroot")
        p.arguments = [root] + argv
        p.environment = ["PATH": "/usr/bin:/bin"]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
