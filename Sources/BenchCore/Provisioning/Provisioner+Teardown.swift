import Foundation
import SandboxCore

extension Provisioner {
    /// Stops what setup started and unmounts what it mounted, in this order:
    /// 1. each Podman service's containers removed through it (a container's
    ///    conmon outlives the service, which does not stop them on its way out);
    /// 2. the daemons (SIGTERM, then SIGKILL after 20 s), each pid checked to
    ///    still run its daemon first (a pid of a dead daemon may be reused);
    /// 3. what the daemons leave: Podman's conmon processes and every process
    ///    of the rootless user (rootless Podman's pause process, slirp4netns),
    ///    found by `Leftovers`, once the daemons cannot start more;
    /// 4. the mounts (btrfs loop, hugetlb v1), after the daemons that used them.
    /// Data roots stay, so the next setup is quick; `purge` removes them too.
    public func teardown(purge: Bool = false, only: Set<String>? = nil) async -> [String] {
        var log: [String] = []
        var state = load()
        let initial = state
        let order = state.units.keys.filter { only?.contains($0) ?? true }.sorted { a, b in rank(a) < rank(b) }
        var swept = false
        for name in order {
            guard let unit = state.units[name] else { continue }
            if rank(name) > 0 && !swept {
                // What the daemons left, once they cannot start more and before
                // unmounting what they stored on.
                log += await stopLeftovers(initial, only: only)
                swept = true
            }
            if let pid = unit.pid, kill(pid, 0) == 0 {
                if !Self.runsDaemon(of: name, pid) {
                    log.append("\(name): pid \(pid) no longer runs its daemon: left alone")
                } else {
                    if name.hasPrefix("podman"), let socket = unit.socket {
                        log += await removePodmanContainers(name, socket: socket)
                    }
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
        if !swept { log += await stopLeftovers(initial, only: only) }
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

    /// What `teardown` would stop and unmount now, one line each, changing
    /// nothing: `bench teardown --dry-run`, which the quick start ends with.
    public func inventory() -> [String] {
        let state = load()
        let table = ProcessTable.read()
        var lines: [String] = []
        var daemons: Set<Int32> = []
        for name in state.units.keys.sorted(by: { (rank($0), $0) < (rank($1), $1) }) {
            let unit = state.units[name]!
            if let pid = unit.pid, kill(pid, 0) == 0, Self.runsDaemon(of: name, pid) {
                daemons.insert(pid)
                lines.append("daemon \(name): pid \(pid) \(table.first { $0.pid == pid }?.summary ?? "")")
            }
            for m in unit.mounts where Self.isMountPoint(m) { lines.append("mount \(name): \(m)") }
        }
        let found = Leftovers.ofSetup(table, roots: Self.podmanRoots(state, units: nil), uids: Self.rootlessIDs(state),
                                      excluding: daemons.union([getpid()]))
        for f in found {
            lines.append("process pid \(f.process.pid) \(f.process.command == "conmon" ? "conmon" : f.process.summary): \(f.why)")
        }
        return lines
    }

    /// Every container of one Podman service, removed through its API socket
    /// (`podman --url ... rm --all --force --time 0`).
    private func removePodmanContainers(_ unit: String, socket: String) async -> [String] {
        let r = try? await Tool.run("/usr/bin/podman", ["--url", "unix://" + socket, "rm", "--all", "--force", "--time", "0"])
        let removed = r?.stdout.split(separator: "\n").count ?? 0
        guard let r else { return ["\(unit): podman rm --all could not run"] }
        if r.status != 0 { return ["\(unit): podman rm --all: \(r.stderr.suffix(300))"] }
        return removed > 0 ? ["\(unit): removed \(removed) container(s) a run left"] : []
    }

    /// Podman's and the rootless user's leftovers (step 3 of `teardown`). With
    /// `only`, the conmons of those Podman stores, and the rootless user's
    /// processes only when no rootless daemon outside `only` still runs.
    private func stopLeftovers(_ state: ProvisionState, only: Set<String>?) async -> [String] {
        let others = state.units.filter { name, unit in !(only?.contains(name) ?? true) && unit.pid.map { kill($0, 0) == 0 } == true }
        let rootless = (only?.contains { $0.contains("rootless") } ?? true) && !others.keys.contains { $0.contains("rootless") }
        let roots = Self.podmanRoots(state, units: only)
        guard !roots.isEmpty || rootless else { return [] }
        let found = Leftovers.ofSetup(ProcessTable.read(), roots: roots, uids: rootless ? Self.rootlessIDs(state) : [],
                                      excluding: Set(others.values.compactMap(\.pid)).union([getpid()]))
        return await Leftovers.stop(found)
    }

    /// Where the Podman stores setup makes live: their paths are in every
    /// conmon's arguments (`-b`, `--exit-dir`, `--exit-command-arg`). Of
    /// every store (`units` nil), or of those units' stores (their `--root`
    /// and `--runroot`, as recorded).
    static func podmanRoots(_ state: ProvisionState, units: Set<String>?) -> [String] {
        guard let units else {
            var roots = [ProvisionState.dataDirectory + "/podman", ProvisionState.directory + "/podman", BtrfsLoop.mountPoint + "/podman",
                         "/home/\(rootlessUser)/.local/share/gbx-podman-"]
            if let uid = state.units["rootless-user"]?.detail["uid"] { roots.append("/run/user/\(uid)/gbx-podman-") }
            return roots
        }
        return units.sorted().filter { $0.hasPrefix("podman") }.flatMap { name -> [String] in
            let global = (state.units[name]?.detail["global"] ?? "").split(separator: " ").map(String.init)
            return zip(global, global.dropFirst()).filter { ["--root", "--runroot"].contains($0.0) }.map { $0.1 + "/" }
        }
    }

    /// The rootless user's uid and its subordinate ids (/etc/subuid), which only
    /// the benchmark's rootless daemons and their containers run as.
    static func rootlessIDs(_ state: ProvisionState, subuid: String? = nil) -> [ClosedRange<UInt32>] {
        guard let uid = state.units["rootless-user"]?.detail["uid"].flatMap({ UInt32($0) }), uid != 0 else { return [] }
        var ranges = [uid...uid]
        let text = subuid ?? (try? String(contentsOfFile: "/etc/subuid", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":")
            guard f.count == 3, f[0] == rootlessUser, let start = UInt32(f[1]), let count = UInt32(f[2]), count > 0 else { continue }
            ranges.append(start...(start + count - 1))
        }
        return ranges
    }

    /// Whether `pid` runs the daemon of `unit` (dockerd, podman, containerd,
    /// rootlesskit), read from /proc/PID/cmdline.
    static func runsDaemon(of unit: String, _ pid: Int32, cmdline: [String]? = nil) -> Bool {
        let argv = cmdline ?? FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map(ProcessTable.argv) ?? []
        let line = argv.joined(separator: " ")
        let kind = unit.split(separator: ":").first.map(String.init) ?? unit
        switch kind {
        case "docker": return line.contains("dockerd")
        case "docker-rootless": return line.contains("rootlesskit") || line.contains("dockerd-rootless")
        case "podman", "podman-rootless": return line.contains("podman")
        case "containerd": return line.contains("containerd")
        default: return !argv.isEmpty
        }
    }

    static func isMountPoint(_ path: String, mountinfo: String? = nil) -> Bool {
        let text = mountinfo ?? Kernel.readText("/proc/self/mountinfo") ?? ""
        return MountInfo.parse(text).contains { $0.mountPoint == path }
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
