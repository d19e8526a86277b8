import Foundation

extension Provisioner {
    public static func podmanSocket(_ storage: Storage) -> String { ProvisionState.directory + "/podman-\(storage.rawValue).sock" }
    public static func podmanRootlessSocket(_ storage: Storage, uid: UInt32) -> String { "/run/user/\(uid)/podman-\(storage.rawValue).sock" }

    func podman(_ storage: Storage, rootless: Bool) async throws(BenchError) {
        try podmanConf()
        let unit = (rootless ? "podman-rootless:" : "podman:") + storage.rawValue
        let driverName = storage == .overlay ? "overlay" : storage.rawValue
        var global: [String]
        let socket: String
        var user: String?
        var env: [String: String] = [:]
        let log = ProvisionState.directory + "/\(unit.replacingOccurrences(of: ":", with: "-")).log"
        if rootless {
            let u = Self.rootlessUser, uid = try await Self.uid(of: u)
            user = u
            let home = "/home/\(u)"
            let root = storage == .btrfs ? BtrfsLoop.mountPoint + "/podman-\(u)" : "\(home)/.local/share/gbx-podman-\(storage.rawValue)"
            if storage == .btrfs {
                try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
                chown(root, uid, try await Self.gid(of: u))
            }
            global = ["--root", root, "--runroot", "/run/user/\(uid)/gbx-podman-\(storage.rawValue)", "--storage-driver", driverName]
            socket = Self.podmanRootlessSocket(storage, uid: uid)
            env = ["XDG_RUNTIME_DIR": "/run/user/\(uid)", "HOME": home, "USER": u]
        } else {
            let root = storage == .btrfs ? BtrfsLoop.mountPoint + "/podman" : ProvisionState.dataDirectory + "/podman-\(storage.rawValue)"
            global = ["--root", root, "--runroot", ProvisionState.directory + "/podman-\(storage.rawValue)", "--storage-driver", driverName]
            socket = Self.podmanSocket(storage)
        }
        try? FileManager.default.removeItem(atPath: socket)
        let pid = try await startDaemon(["/usr/bin/podman"] + global + ["system", "service", "--time=0", "unix://" + socket],
                                        log: log, asUser: user, environment: env)
        try record(unit, .init(pid: pid, socket: socket, detail: ["log": log, "global": global.joined(separator: " ")]))
        let driver = EngineDriver(candidate: Candidate(manager: .podman, runtime: .crun, storage: storage, image: .minimal, cgroup: .v1, rootless: rootless), socket: socket)
        try await waitForEngine(driver, pid: pid, log: log)
        try await importImages(driver)
    }
}

extension Provisioner {
    /// containers.conf as HOST.md found Podman needs it on this kind of host, and
    /// an exec's conmon kept 10 s after the exec instead of 300 (its exit status
    /// is read at once; hundreds of idle conmons would sit beside the trials).
    static let podmanConfText = """
        # gradebox-bench 2: no systemd here, nofile capped at 20000 (HOST.md); exec conmons kept 10 s
        [containers]
        default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
        [engine]
        cgroup_manager = "cgroupfs"
        events_logger = "file"
        exit_command_delay = 10

        """

    /// Writes /etc/containers/containers.conf unless it is this version of ours;
    /// a file that is not ours is kept beside it as .gradebox-bench.orig.
    func podmanConf(path: String = "/etc/containers/containers.conf") throws(BenchError) {
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard existing != Self.podmanConfText else { return }
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if !existing.isEmpty && !existing.hasPrefix("# gradebox-bench") {
                try existing.write(toFile: path + ".gradebox-bench.orig", atomically: true, encoding: .utf8)
            }
            try Self.podmanConfText.write(toFile: path, atomically: true, encoding: .utf8)
        } catch { throw .file(path, reason: "\(error)") }
    }
}
