#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `gc` removed.
public struct GarbageReport: Sendable, Equatable {
    public var boxes: [String] = []
    public var cgroups: [String] = []
    public var poolSlots = 0
    /// Mount templates of images no longer in the store (all of them with `pool: true`).
    public var mountTemplates = 0
}

extension Sandbox {
    /// Removes what a killed gradebox left behind: boxes whose init is gone,
    /// this state directory's box cgroups that no box owns and whose process is gone, the mount
    /// templates of images the store no longer has; with `pool: true` also every idle warm-pool
    /// slot (namespace mounts, cgroups) and every mount template (they are made again on demand).
    public func gc(pool drainPool: Bool = false) throws(SandboxError) -> GarbageReport {
        var report = GarbageReport()
        let runtime = try Runtime.shared(stateDirectory)
        // This process's own boxes still being released are not garbage.
        runtime.releases.settle()
        let sys = runtime.sys
        let store = BoxStore(stateDirectory: stateDirectory, sys: sys)
        var owned = Set<String>()
        for name in store.names() {
            guard let record = try? store.load(name) else {
                sys.removeTree(store.path(name))
                report.boxes.append(name)
                continue
            }
            if let fd = sys.openProcess(record.initPid, startedAt: record.initStartTime) {
                sys.close(fd)
                if let g = record.cgroup { owned.insert(g.name) }
                continue
            }
            if let g = record.cgroup { try? runtime.cgroups?.remove(g) }
            sys.removeTree(store.path(name))
            report.boxes.append(name)
        }
        if let driver = runtime.cgroups {
            let prefix = runtime.groupPrefix + "-"
            for name in try driver.leftovers() where name.hasPrefix(prefix) && !owned.contains(name) {
                // One-shot runs name their group <prefix>-<pid>-<n>: spare a run still going.
                let parts = name.dropFirst(prefix.count).split(separator: "-")
                if parts.count == 2, let pid = Int32(parts[0]), (try? sys.kill(pid, signal: 0)) != nil { continue }
                try? driver.remove(CgroupHandle(name: name, procsFiles: [], directory: nil))
                report.cgroups.append(name)
            }
        }
        if let templates = runtime.templates {
            // A template pins its image's directory, even once the image is removed.
            let current = drainPool ? [] : Set(((try? images.list()) ?? []).compactMap { MountTemplates.key($0.rootfs) })
            report.mountTemplates = templates.remove(keeping: current)
        }
        if drainPool {
            // This process's warm boxes hold slots: end them first, so their slots drain too.
            runtime.warm.settle()
            runtime.warm.drain()
            report.poolSlots = runtime.pool.drain()
        }
        return report
    }

    /// Ends the boxes this process made ahead of time for pooled runs
    /// (they would end with the process anyway); returns how many there were.
    @discardableResult
    public func drainWarmBoxes() throws(SandboxError) -> Int {
        let runtime = try Runtime.shared(stateDirectory)
        runtime.releases.settle()
        runtime.warm.settle()
        let drained = runtime.warm.drain()
        // This process's idle groups of boxes (`makeGroup(pooled: true)`) go too.
        if let driver = runtime.cgroups { _ = runtime.groups.drain(driver: driver) }
        return drained
    }

    /// Waits (up to `timeoutSeconds`) until the boxes this process is making
    /// ahead of time for pooled runs are ready: a caller with idle time before
    /// its next run (a grader between submissions, the benchmark between trials)
    /// lets the next run find its box.
    public func settleWarmBoxes(timeoutSeconds: Double = 10) throws(SandboxError) {
        try Runtime.shared(stateDirectory).warm.settle(timeoutSeconds: timeoutSeconds)
    }

    /// Makes `count` warm-pool slots ready ahead of time; returns how many are ready.
    public func fillPool(_ count: Int) throws(SandboxError) -> Int {
        try Runtime.shared(stateDirectory).pool.fill(count)
    }
}
