import Foundation
import SandboxCore

/// What provisioning reports while it works: a step starts, ends (with its time), or fails.
public enum ProvisionEvent: Sendable {
    case begin(step: String)
    case end(step: String, seconds: Double)
    case failed(step: String, reason: String)
    case note(String)
}

/// `bench setup` / `bench teardown` as Swift steps, one definition per manager family.
///
/// Why not ansible playbooks as the thesis did: this host (and many CI hosts) has no
/// systemd, so the daemons are started by hand, and teardown must stop exactly the
/// daemons we started: their pids go into `ProvisionState`, which `candidates` reads
/// to say "ready". Each step checks before it acts (idempotent), is timed, and its
/// failure names the command and the object; a Python runtime and ansible-core would
/// add a dependency without doing any of the work.
public struct Provisioner: Sendable {
    public typealias Progress = @Sendable (ProvisionEvent) -> Void
    let progress: Progress
    public let statePath: String
    public static let rootlessUser = "gbxbench"
    public static let userSubidStart = 200_000

    public init(statePath: String = ProvisionState.path, progress: @escaping Progress = { _ in }) {
        self.statePath = statePath
        self.progress = progress
    }

    /// Sets up each candidate in turn; one that fails is reported with its reason and
    /// the others go on. Units shared by several candidates are brought up once.
    public func setup(_ candidates: [Candidate]) async -> [(Candidate, BenchError?)] {
        var done: [String: BenchError?] = [:]
        var out: [(Candidate, BenchError?)] = []
        let facts = await HostFacts.collect(state: ProvisionState.load(from: statePath))
        for c in candidates {
            let status = Probe.status(c, facts: facts)
            if status.state == .unavailable {
                let e = BenchError.unavailable(candidate: c.name, reason: status.reason ?? "")
                progress(.failed(step: c.name, reason: e.description))
                out.append((c, e))
                continue
            }
            var failure: BenchError?
            do throws(BenchError) {
                try await step("packages for \(c.name)") { () async throws(BenchError) in try await self.installPackages(Packages.required(for: c)) }
                for unit in Probe.units(for: c) {
                    if let previous = done[unit] {
                        if let previous { throw previous }
                        continue
                    }
                    do throws(BenchError) {
                        try await bringUp(unit)
                        done[unit] = .some(nil)
                    } catch {
                        done[unit] = .some(error)
                        throw error
                    }
                }
                try await ensureImage(c)
            } catch {
                failure = error
            }
            out.append((c, failure))
        }
        return out
    }

    /// Runs one named, timed step.
    func step(_ name: String, _ body: () async throws(BenchError) -> Void) async throws(BenchError) {
        progress(.begin(step: name))
        let t0 = Monotonic.now()
        do {
            try await body()
        } catch {
            progress(.failed(step: name, reason: error.description))
            throw error
        }
        progress(.end(step: name, seconds: Double(Monotonic.now() - t0) / 1e9))
    }

    func load() -> ProvisionState { ProvisionState.load(from: statePath) }
    func record(_ unit: String, _ u: ProvisionState.Unit) throws(BenchError) {
        var s = load()
        s.units[unit] = u
        try s.save(to: statePath)
    }

    /// A live Docker daemon of this candidate started with an older daemon.json (the shared
    /// docker0 bridge): `setup` restarts it on its own bridge.
    public func isStale(_ c: Candidate) -> Bool {
        guard c.manager == .docker, !c.rootless else { return false }
        let unit = "docker:\(c.storage.rawValue)"
        let state = load()
        return state.liveUnits().contains(unit) && state.units[unit]?.detail["bridge"] != DockerBridge(c.storage).name
    }

    /// Brings one unit up unless it is already live.
    public func bringUp(_ unit: String) async throws(BenchError) {
        let parts = unit.split(separator: ":", maxSplits: 1).map(String.init)
        let kind = parts[0], arg = parts.count > 1 ? parts[1] : ""
        if load().liveUnits().contains(unit) {
            guard kind == "docker", let storage = Storage(rawValue: arg), load().units[unit]?.detail["bridge"] != DockerBridge(storage).name else {
                progress(.note("\(unit): already set up"))
                return
            }
            // Started by an older gradebox with the shared docker0 bridge: restart it on its own.
            progress(.note("\(unit): daemon.json changed (own bridge): restarting"))
            _ = await teardown(only: [unit])
        }
        try await step(unit) { () async throws(BenchError) in
            switch kind {
            case "image": try await self.image(BaseImage(rawValue: arg) ?? .minimal)
            case "hugetlb-v1": try await self.hugetlbV1()
            case "btrfs-loop": try await self.btrfsLoop()
            case "rootless-user": try await self.rootlessUser()
            case "docker": try await self.docker(Storage(rawValue: arg) ?? .overlay2)
            case "docker-rootless": try await self.dockerRootless()
            case "podman": try await self.podman(Storage(rawValue: arg) ?? .overlay, rootless: false)
            case "podman-rootless": try await self.podman(Storage(rawValue: arg) ?? .overlay, rootless: true)
            case "lxc": try await self.lxc(Storage(rawValue: arg) ?? .dir)
            case "containerd": try await self.containerd()
            default: throw .setupFailed(step: unit, reason: "no such provisioning unit")
            }
        }
    }

    // MARK: packages

    /// `apt-get install -y` of what is missing, with `exit 101` in policy-rc.d first so
    /// packages do not try to start services (there is no init to talk to).
    public func installPackages(_ names: [String]) async throws(BenchError) {
        let installed = await HostFacts.installedPackages(names)
        let missing = names.filter { installed[$0] == nil }
        guard !missing.isEmpty else { return }
        progress(.note("apt-get install -y \(missing.joined(separator: " "))"))
        let policy = "/usr/sbin/policy-rc.d"
        if (try? String(contentsOfFile: policy, encoding: .utf8))?.contains("exit 101") != true {
            do {
                try "#!/bin/sh\nexit 101\n".write(toFile: policy, atomically: true, encoding: .utf8)
                chmod(policy, 0o755)
            } catch { throw .file(policy, reason: "\(error)") }
        }
        try await Tool.output("/usr/bin/apt-get", ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends"] + missing,
                              environment: ["DEBIAN_FRONTEND": "noninteractive"])
    }

    // MARK: images

    /// The base image from gradebox's ImageStore (built when missing), registered for the
    /// runtimes that use a directory. Managers import it in their own unit.
    func image(_ kind: BaseImage) async throws(BenchError) {
        let store = ImageStore()
        let path: String
        do {
            if let p = try? store.rootfsPath(kind.rawValue) {
                path = p
            } else {
                let info = try await store.build(kind == .minimal ? .minimal : .full, name: kind.rawValue,
                                                 progress: { line in self.progress(.note(line)) })
                path = info.rootfs
            }
        } catch {
            throw .setupFailed(step: "image:\(kind.rawValue)", reason: "ImageStore.build(.\(kind.rawValue)): \(error)")
        }
        try ImageDirectory().register(kind.imageName, rootfs: path)
        try record("image:\(kind.rawValue)", .init(detail: ["rootfs": path]))
    }

    static func rootfsOf(_ image: BaseImage) throws(BenchError) -> String {
        try ImageDirectory().rootfs(image.imageName)
    }

    // MARK: kernel and storage

    /// crun refuses a hybrid layout while hugetlb sits in cgroup2; mounting it as a v1
    /// hierarchy takes it out of cgroup2 (until unmounted).
    func hugetlbV1() async throws(BenchError) {
        let controllers = (try? String(contentsOfFile: "/sys/fs/cgroup/unified/cgroup.controllers", encoding: .utf8)) ?? ""
        guard controllers.split(whereSeparator: \.isWhitespace).contains("hugetlb") else {
            try record("hugetlb-v1", .init(detail: ["note": "hugetlb not in cgroup2: nothing to do"]))
            return
        }
        try? FileManager.default.createDirectory(atPath: "/sys/fs/cgroup/hugetlb", withIntermediateDirectories: true)
        try await Tool.output("/bin/mount", ["-t", "cgroup", "-o", "hugetlb", "cgroup", "/sys/fs/cgroup/hugetlb"])
        try record("hugetlb-v1", .init(mounts: ["/sys/fs/cgroup/hugetlb"]))
    }

    func btrfsLoop() async throws(BenchError) {
        let fm = FileManager.default
        try? fm.createDirectory(atPath: BtrfsLoop.mountPoint, withIntermediateDirectories: true)
        var files: [String] = []
        if !BtrfsLoop.isMounted() {
            if !fm.fileExists(atPath: BtrfsLoop.imageFile) {
                try await Tool.output("/usr/bin/truncate", ["-s", String(BtrfsLoop.sizeBytes), BtrfsLoop.imageFile])
                try await Tool.output("/sbin/mkfs.btrfs", ["-q", BtrfsLoop.imageFile])
                files.append(BtrfsLoop.imageFile)
            }
            try await Tool.output("/bin/mount", ["-o", "loop", BtrfsLoop.imageFile, BtrfsLoop.mountPoint])
        }
        try record("btrfs-loop", .init(mounts: [BtrfsLoop.mountPoint], files: files))
    }

    /// The rootless user with a subordinate id range and its runtime directory.
    func rootlessUser() async throws(BenchError) {
        let u = Self.rootlessUser
        if (try? await Tool.output("/usr/bin/id", ["-u", u])) == nil {
            try await Tool.output("/usr/sbin/useradd", ["-m", "-s", "/bin/sh", u])
        }
        let uid = try await Self.uid(of: u)
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            if !text.split(separator: "\n").contains(where: { $0.hasPrefix(u + ":") }) {
                let line = "\(u):\(Self.userSubidStart):65536\n"
                guard let h = FileHandle(forWritingAtPath: file) ?? (fm_create(file) ? FileHandle(forWritingAtPath: file) : nil) else {
                    throw .file(file, reason: "cannot open for writing")
                }
                h.seekToEndOfFile()
                h.write(Data(line.utf8))
                h.closeFile()
            }
        }
        let run = "/run/user/\(uid)"
        try? FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        chown(run, uid_t(uid), gid_t(try await Self.gid(of: u)))
        chmod(run, 0o700)
        try record("rootless-user", .init(detail: ["uid": String(uid)]))
    }

    private func fm_create(_ path: String) -> Bool { FileManager.default.createFile(atPath: path, contents: nil) }

    static func uid(of user: String) async throws(BenchError) -> UInt32 { try await id("-u", of: user) }

    static func gid(of user: String) async throws(BenchError) -> UInt32 { try await id("-g", of: user) }

    /// `id -u USER` or `id -g USER`, as a number.
    private static func id(_ flag: String, of user: String) async throws(BenchError) -> UInt32 {
        let s = try await Tool.output("/usr/bin/id", [flag, user])
        guard let v = UInt32(s.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw .setupFailed(step: "id \(flag) \(user)", reason: s) }
        return v
    }

    // MARK: daemons

    /// Starts a daemon in its own session with stdio on a log file, and returns its pid.
    /// `setsid` execs in place (a background job is not a group leader), so `$!` is the daemon.
    func startDaemon(_ argv: [String], log: String, asUser user: String? = nil, environment: [String: String] = [:]) async throws(BenchError) -> Int32 {
        var prefix = ""
        if let user {
            let uid = try await Self.uid(of: user), gid = try await Self.gid(of: user)
            prefix = "setpriv --reuid=\(uid) --regid=\(gid) --init-groups "
        }
        let env = environment.map { "\($0.key)='\($0.value)'" }.sorted().joined(separator: " ")
        let cmd = argv.map { "'\($0)'" }.joined(separator: " ")
        // From /: a daemon outlives the checkout it was started from, and one whose
        // working directory was deleted under it breaks (podman's conmon then
        // fails every start with "Failed to get working directory").
        let script = "cd /; \(env.isEmpty ? "" : "env \(env) ")setsid \(prefix)\(cmd) </dev/null >'\(log)' 2>&1 & echo $!"
        let out = try await Tool.shell(script)
        guard let pid = Int32(out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw .setupFailed(step: argv[0], reason: "no pid from: \(script)")
        }
        return pid
    }

    /// Waits until the engine answers /_ping, or the daemon dies (its log's tail is the reason).
    func waitForEngine(_ driver: EngineDriver, pid: Int32, log: String, seconds: Double = 60) async throws(BenchError) {
        let deadline = Monotonic.now() + UInt64(seconds * 1e9)
        while Monotonic.now() < deadline {
            if (try? await driver.ping()) != nil { return }
            if kill(pid, 0) != 0 {
                let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(5).joined(separator: "\n")
                throw .setupFailed(step: "start \(driver.candidate.manager.rawValue) daemon", reason: "it exited; \(log): \(tail)")
            }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        throw .timeout("\(driver.socket) to answer /_ping", seconds: seconds)
    }

    public static func dockerSocket(_ storage: Storage) -> String { ProvisionState.directory + "/docker-\(storage.rawValue).sock" }
    public static func podmanSocket(_ storage: Storage) -> String { ProvisionState.directory + "/podman-\(storage.rawValue).sock" }
    public static func podmanRootlessSocket(_ storage: Storage, uid: UInt32) -> String { "/run/user/\(uid)/podman-\(storage.rawValue).sock" }
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

    /// Creates the daemon's bridge (ip link add ... type bridge) with its address, and the
    /// iptables FORWARD rules that let its containers reach the ping peer and nothing else.
    func dockerBridge(_ bridge: DockerBridge) async throws(BenchError) {
        // A bridge left by a daemon that died without teardown: start clean.
        await Self.removeBridge(bridge.name)
        try await HostNetworkSetup.apply(ip: bridge.ipCommands, insertRules: bridge.forwardRules) {
            await Self.removeBridge(bridge.name)
        }
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

    func importImages(_ driver: ContainerDriver) async throws(BenchError) {
        for image in BaseImage.allCases {
            guard let rootfs = try? Self.rootfsOf(image) else { continue }
            if let engine = driver as? EngineDriver, await engine.hasImage(image.imageName) { continue }
            try await step("import \(image.imageName) into \(driver.candidate.manager.rawValue)/\(driver.candidate.storage.rawValue)") { () async throws(BenchError) in
                try await driver.importImage(image.imageName, rootfs: rootfs)
            }
        }
    }

    /// Imports the candidate's base image into its manager when the manager lacks it
    /// (a daemon started before the image was built). Cheap when it is there.
    public func ensureImage(_ c: Candidate) async throws(BenchError) {
        let rootfs = try Self.rootfsOf(c.image)
        let state = load()
        switch c.manager {
        case .docker, .podman:
            let driver = try Drivers.make(c, state: state)
            guard let engine = driver as? EngineDriver, await !engine.hasImage(c.image.imageName) else { return }
            try await step("import \(c.image.imageName) into \(c.manager.rawValue)/\(c.storage.rawValue)\(c.rootless ? " (rootless)" : "")") { () async throws(BenchError) in
                try await engine.importImage(c.image.imageName, rootfs: rootfs)
            }
        case .containerd:
            let driver = ContainerdDriver(candidate: c, socket: try Drivers.socket(of: "containerd", state: state, candidate: c))
            guard await !driver.hasImage(c.image.imageName) else { return }
            try await step("import \(c.image.imageName) into containerd") { () async throws(BenchError) in
                try await driver.importImage(c.image.imageName, rootfs: rootfs)
            }
        case .lxc:
            let driver = LXCDriver(candidate: c)
            guard !FileManager.default.fileExists(atPath: driver.lxcpath + "/" + LXCDriver.baseName(c.image.imageName) + "/config") else { return }
            try await step("lxc base container \(c.image.imageName) in \(driver.lxcpath)") { () async throws(BenchError) in
                try await driver.importImage(c.image.imageName, rootfs: rootfs)
            }
        default: return
        }
    }

    /// A containerd of our own (the Docker daemons run theirs privately), CRI off.
    func containerd() async throws(BenchError) {
        let socket = ProvisionState.directory + "/containerd.sock"
        let configPath = ProvisionState.directory + "/containerd.toml"
        let log = ProvisionState.directory + "/containerd.log"
        let text = ContainerdDriver.config(root: ProvisionState.dataDirectory + "/containerd",
                                           state: ProvisionState.directory + "/containerd", socket: socket)
        do { try text.write(toFile: configPath, atomically: true, encoding: .utf8) } catch { throw .file(configPath, reason: "\(error)") }
        let pid = try await startDaemon(["/usr/bin/containerd", "--config", configPath], log: log)
        try record("containerd", .init(pid: pid, socket: socket, detail: ["log": log]))
        let deadline = Monotonic.now() + 30_000_000_000
        while Monotonic.now() < deadline {
            if (try? await Tool.output("/usr/bin/ctr", ["-a", socket, "version"])) != nil { return }
            if kill(pid, 0) != 0 { throw .setupFailed(step: "containerd", reason: "it exited; see \(log)") }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        throw .timeout("containerd on \(socket)", seconds: 30)
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

    /// containers.conf as HOST.md found Podman needs it on this kind of host.
    func podmanConf() throws(BenchError) {
        let path = "/etc/containers/containers.conf"
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard !existing.contains("# gradebox-bench") else { return }
        let text = """
        # gradebox-bench: no systemd here, nofile capped at 20000 (HOST.md)
        [containers]
        default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
        [engine]
        cgroup_manager = "cgroupfs"
        events_logger = "file"

        """
        do {
            try FileManager.default.createDirectory(atPath: "/etc/containers", withIntermediateDirectories: true)
            if !existing.isEmpty { try existing.write(toFile: path + ".gradebox-bench.orig", atomically: true, encoding: .utf8) }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch { throw .file(path, reason: "\(error)") }
    }

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

    func lxc(_ storage: Storage) async throws(BenchError) {
        let driver = LXCDriver(candidate: Candidate(manager: .lxc, runtime: .lxc, storage: storage, image: .minimal, cgroup: .v1))
        do { try FileManager.default.createDirectory(atPath: driver.lxcpath, withIntermediateDirectories: true) } catch {
            throw .file(driver.lxcpath, reason: "\(error)")
        }
        for image in BaseImage.allCases {
            guard let rootfs = try? Self.rootfsOf(image) else { continue }
            if FileManager.default.fileExists(atPath: driver.lxcpath + "/" + LXCDriver.baseName(image.imageName) + "/config") { continue }
            try await step("lxc base container \(image.imageName) in \(driver.lxcpath)") { () async throws(BenchError) in
                try await driver.importImage(image.imageName, rootfs: rootfs)
            }
        }
        try record("lxc:\(storage.rawValue)", .init(detail: ["lxcpath": driver.lxcpath]))
    }

    // MARK: teardown

    /// Stops the daemons setup started (SIGTERM, then SIGKILL after 20 s), unmounts what it
    /// mounted (btrfs loop, hugetlb v1), and forgets them. Data roots stay, so the next
    /// setup is quick; `purge` removes them too.
    public func teardown(purge: Bool = false, only: Set<String>? = nil) async -> [String] {
        var log: [String] = []
        var state = load()
        let order = state.units.keys.filter { only?.contains($0) ?? true }.sorted { a, b in rank(a) < rank(b) }
        for name in order {
            guard let unit = state.units[name] else { continue }
            if let pid = unit.pid, kill(pid, 0) == 0 {
                progress(.begin(step: "stop \(name) (pid \(pid))"))
                let t0 = Monotonic.now()
                kill(pid, SIGTERM)
                var waited = 0
                while kill(pid, 0) == 0 && waited < 200 {
                    try? await Task.sleep(nanoseconds: 100_000_000)
                    waited += 1
                    // Not our child: kill(0) stays 0 for a zombie only if we were its parent.
                }
                if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
                progress(.end(step: "stop \(name) (pid \(pid))", seconds: Double(Monotonic.now() - t0) / 1e9))
                log.append("stopped \(name) (pid \(pid))")
            }
            if let bridge = unit.detail["bridge"] {
                await Self.removeBridge(bridge)
                log.append("removed bridge \(bridge)")
            }
            if name.hasPrefix("lxc:"), let path = unit.detail["lxcpath"] {
                // Containers a run left behind (interrupted runs clean their own).
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                for n in names where n.hasPrefix("gbx-") {
                    _ = try? await Tool.run("/usr/bin/lxc-destroy", ["-P", path, "-n", n, "-f"])
                }
            }
            for m in unit.mounts.reversed() {
                // Daemons leave mounts inside their data roots (podman's overlay bind, for one).
                for inner in Self.mounts(under: m + "/") { _ = try? await Tool.run("/bin/umount", ["-l", inner]) }
                let r = try? await Tool.run("/bin/umount", [m])
                log.append(r?.status == 0 ? "unmounted \(m)" : "could not unmount \(m): \(r?.stderr ?? "")")
            }
            if purge { for f in unit.files { try? FileManager.default.removeItem(atPath: f) } }
            state.units[name] = nil
            try? state.save(to: statePath)
        }
        if only == nil {
            // Whatever is still mounted under our directories (podman's storage binds, gradebox
            // pool namespaces): deepest first.
            for m in Self.mounts(under: ProvisionState.dataDirectory + "/") + Self.mounts(under: ProvisionState.directory + "/") {
                let r = try? await Tool.run("/bin/umount", ["-l", m])
                if r?.status == 0 { log.append("unmounted \(m)") }
            }
            // The in-process gradebox's pool slots and its images' mount templates
            // held the namespaces just unmounted.
            try? FileManager.default.removeItem(atPath: ProvisionState.directory + "/gradebox/pool")
            try? FileManager.default.removeItem(atPath: ProvisionState.directory + "/gradebox/templates")
        }
        return log
    }

    /// Mount points below `prefix` from /proc/self/mountinfo, deepest first.
    static func mounts(under prefix: String, mountinfo: String? = nil) -> [String] {
        let text = mountinfo ?? Kernel.readText("/proc/self/mountinfo") ?? ""
        let points = MountInfo.parse(text).map(\.mountPoint).filter { $0.hasPrefix(prefix) }
        return Array(Set(points)).sorted { $0.count > $1.count }
    }

    /// Daemons first, then what they stored on (btrfs), then cgroup mounts.
    private func rank(_ unit: String) -> Int {
        if unit.hasPrefix("docker") || unit.hasPrefix("podman") || unit.hasPrefix("containerd") { return 0 }
        if unit.hasPrefix("lxc") { return 1 }
        if unit == "btrfs-loop" { return 2 }
        if unit == "hugetlb-v1" { return 3 }
        return 4
    }
}
