import Foundation

extension Provisioner {
    /// A live Docker daemon of this candidate started with an older daemon.json (the shared
    /// docker0 bridge): `setup` restarts it on its own bridge.
    public func isStale(_ c: Candidate) -> Bool {
        guard c.manager == .docker, !c.rootless else { return false }
        let unit = "docker:\(c.storage.rawValue)"
        let state = load()
        return state.liveUnits().contains(unit) && state.units[unit]?.detail["bridge"] != DockerBridge(c.storage).name
    }

    public static func dockerSocket(_ storage: Storage) -> String { ProvisionState.directory + "/docker-\(storage.rawValue).sock" }
    public static func dockerRootlessSocket(uid: UInt32) -> String { "/run/user/\(uid)/docker.sock" }

    /// The daemon.json of one Docker data root: the thesis's storage-driver and crun
    /// registered as a runtime, plus the paths that let several daemons run side by side.
    /// Each daemon gets its own bridge (`DockerBridge`): two daemons sharing docker0 tear it
    /// down under each other. Docker's iptables management is off (several daemons would
    /// rewrite the same DOCKER chains); published ports go through docker-proxy, and the
    /// forwarding rules to the ping peer are ours. Pure, for tests.
    public static func dockerConfig(_ storage: Storage) -> [String: Any] {
        let dataRoot = storage == .btrfs ? BtrfsLoop.mountPoint + "/docker" : ProvisionState.dataDirectory + "/docker-\(storage.rawValue)"
        var c: [String: Any] = [
            "storage-driver": storage.rawValue,
            "runtimes": ["crun": ["path": "/usr/bin/crun"]],
            "data-root": dataRoot,
            "exec-root": ProvisionState.directory + "/docker-\(storage.rawValue)",
            "pidfile": ProvisionState.directory + "/docker-\(storage.rawValue).pid",
            "hosts": ["unix://" + dockerSocket(storage)],
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
        ]
        c["bridge"] = DockerBridge(storage).name
        c["iptables"] = false
        c["ip-masq"] = false
        c["ip-forward"] = false
        return c
    }

    /// Deletes a bridge `dockerBridge` made and its FORWARD rules (every copy of each).
    static func removeBridge(_ name: String) async {
        for rule in DockerBridge(name: name).forwardRules {
            var n = 0
            while n < 16, (try? await Tool.output("/usr/sbin/iptables", ["-D"] + rule)) != nil { n += 1 }
        }
        _ = try? await Tool.output("/usr/sbin/ip", ["link", "del", name])
    }

    func docker(_ storage: Storage) async throws(BenchError) {
        let unit = "docker:\(storage.rawValue)"
        let config = Self.dockerConfig(storage)
        let configPath = ProvisionState.directory + "/docker-\(storage.rawValue).json"
        let log = ProvisionState.directory + "/docker-\(storage.rawValue).log"
        do {
            try FileManager.default.createDirectory(atPath: ProvisionState.directory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: config["data-root"] as! String, withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: configPath))
        } catch { throw .file(configPath, reason: "\(error)") }
        let bridge = DockerBridge(storage)
        try await dockerBridge(bridge)
        let pid: Int32
        do throws(BenchError) {
            pid = try await startDaemon(["/usr/sbin/dockerd", "--config-file", configPath], log: log)
        } catch {
            await Self.removeBridge(bridge.name)
            throw error
        }
        let socket = Self.dockerSocket(storage)
        try record(unit, .init(pid: pid, socket: socket, detail: ["config": configPath, "log": log, "bridge": bridge.name]))
        let driver = EngineDriver(candidate: Candidate(manager: .docker, runtime: .runc, storage: storage, image: .minimal, cgroup: .v1), socket: socket)
        try await waitForEngine(driver, pid: pid, log: log)
        try await importImages(driver)
    }

    func dockerRootless() async throws(BenchError) {
        let u = Self.rootlessUser
        let uid = try await Self.uid(of: u)
        // rootlesskit's slirp4netns opens /dev/net/tun as the user. udev makes
        // it 0666 on a usual host; a machine without udev may leave it 0600
        // ("open: Permission denied", then "setting up tap tap0").
        var tun = stat()
        if stat("/dev/net/tun", &tun) == 0, tun.st_mode & 0o006 != 0o006 {
            guard chmod("/dev/net/tun", 0o666) == 0 else {
                throw .setupFailed(step: "chmod 0666 /dev/net/tun", reason: String(cString: strerror(errno)))
            }
        }
        let home = "/home/\(u)"
        let log = ProvisionState.directory + "/docker-rootless.log"
        let env = ["XDG_RUNTIME_DIR": "/run/user/\(uid)", "HOME": home, "USER": u,
                   "PATH": "/usr/share/docker.io/contrib:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        let pid = try await startDaemon(["/usr/share/docker.io/contrib/dockerd-rootless.sh", "--storage-driver", "overlay2"],
                                        log: log, asUser: u, environment: env)
        let socket = Self.dockerRootlessSocket(uid: uid)
        try record("docker-rootless", .init(pid: pid, socket: socket, detail: ["log": log]))
        let driver = EngineDriver(candidate: Candidate(manager: .docker, runtime: .runc, storage: .overlay2, image: .minimal, cgroup: .none, rootless: true), socket: socket)
        try await waitForEngine(driver, pid: pid, log: log)
        try await importImages(driver)
    }
}

private extension Provisioner {
    /// Creates the daemon's bridge (ip link add ... type bridge) with its address, and the
    /// iptables FORWARD rules that let its containers reach the ping peer and nothing else.
    func dockerBridge(_ bridge: DockerBridge) async throws(BenchError) {
        // A bridge left by a daemon that died without teardown: start clean.
        await Self.removeBridge(bridge.name)
        try await HostNetworkSetup.apply(ip: bridge.ipCommands, insertRules: bridge.forwardRules) {
            await Self.removeBridge(bridge.name)
        }
    }
}
