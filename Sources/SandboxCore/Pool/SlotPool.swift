#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One reusable pair of a cgroup and an empty network namespace (loopback up),
/// held by whoever has its lock.
package struct PoolSlot: Sendable {
    package var index: Int
    package var cgroup: CgroupHandle
    /// A bind mount of the namespace (`/proc/<pid>/ns/net`), so it outlives its maker.
    package var networkNamespace: String
    fileprivate var lock: FileDescriptor
}

/// The warm pool's slots, as SOCK (USENIX ATC'18) recommends: cgroups and
/// network namespaces are the slow parts of making a box, so they are made
/// ahead of time and reused after a reset; the critical path creates
/// neither. (Whole boxes made ahead of time from these slots are `WarmBoxes`.)
///
/// Slots live under `directory` as files, so separate `gradebox run --pool`
/// processes share them: a slot is taken by an exclusive flock on its lock
/// file, which the kernel releases even when its holder is killed.
///
/// A slot given back stays locked, idle in this process, for its next box
/// here: unlocking it would let any child cloned or spawned meanwhile by
/// another thread (a box's init before it closes what it does not keep, a
/// posix_spawn before its exec) hold the lock through its copy of the
/// descriptor, and this process's next box would find its slot busy and
/// make another. Other processes get the idle slots when this one drains
/// its pool (`gc --pool`) or ends.
package final class SlotPool: Sendable {
    package let directory: String
    let cgroups: (any CgroupDriver)?
    let sys: any Syscalls
    /// Slots this process has given back, reset, still locked: taken first, newest first.
    private let idle = Mutex<[PoolSlot]>([])
    /// The error of a pool on a host with no cgroup hierarchy gradebox can write.
    static let noCgroups = SandboxError.hostUnsupported("the warm pool holds cgroups, and no writable cgroup hierarchy was found")
    /// Slots beyond this are not made: a box then waits for nothing, it gets a cold start instead.
    package static let maximumSlots = 64

    init(directory: String, cgroups: (any CgroupDriver)?, sys: any Syscalls = Kernel.live) {
        self.directory = directory
        self.cgroups = cgroups
        self.sys = sys
    }

    /// Takes a free slot, making one when every existing slot is busy.
    package func acquire() throws(SandboxError) -> PoolSlot {
        let cgroups = try requireCgroups()
        if let slot = idle.withLock({ $0.popLast() }) {
            // Held all along, so no other gradebox touched it; something else
            // (an unmount of /run, a hand-removed group) still may have.
            if partsArePresent(slot.cgroup, slot.networkNamespace) { return slot }
            do throws(SandboxError) {
                return try prepare(index: slot.index, lock: slot.lock, cgroups: cgroups)
            } catch {
                sys.close(slot.lock)
                throw error
            }
        }
        try ensureDirectory()
        for index in 0..<Self.maximumSlots {
            let lock = try sys.open("\(directory)/slot-\(index).lock", O_RDWR | O_CREAT, mode: 0o600)
            guard sys.tryLock(lock) else {
                sys.close(lock)
                continue
            }
            do throws(SandboxError) {
                return try prepare(index: index, lock: lock, cgroups: cgroups)
            } catch {
                sys.close(lock)
                throw error
            }
        }
        throw .hostUnsupported("all \(Self.maximumSlots) warm-pool slots are busy")
    }

    /// Resets the slot's cgroup for its next user and keeps it, idle, for
    /// this process's next box.
    package func release(_ slot: PoolSlot) {
        var slot = slot
        if let cgroups {
            // Anything still in the group would leak into the next box.
            try? cgroups.killAll(slot.cgroup)
            var group = slot.cgroup
            // The reset moves the OOM and CPU baselines; the next user, maybe
            // another process, reads them from the saved handle.
            guard (try? cgroups.reset(&group)) != nil else {
                // Its counters would carry this box's usage into the next:
                // without its marker, the slot is made again by its next taker.
                sys.unlink("\(directory)/slot-\(slot.index).ready")
                sys.close(slot.lock)
                return
            }
            if group != slot.cgroup {
                slot.cgroup = group
                try? saveGroup(slot.index, group)
            }
        }
        idle.withLock { $0.append(slot) }
    }

    /// Makes sure slots 0..<count exist, so the next `count` boxes start warm.
    package func fill(_ count: Int) throws(SandboxError) -> Int {
        let cgroups = try requireCgroups()
        try ensureDirectory()
        var ready = 0
        for index in 0..<min(count, Self.maximumSlots) {
            let lock = try sys.open("\(directory)/slot-\(index).lock", O_RDWR | O_CREAT, mode: 0o600)
            defer { sys.close(lock) }
            guard sys.tryLock(lock) else { ready += 1; continue }
            _ = try prepare(index: index, lock: lock, cgroups: cgroups)
            ready += 1
        }
        return ready
    }

    /// Removes every idle slot: unmounts its namespace, removes its cgroup.
    /// Returns how many were removed; busy slots are left alone.
    package func drain() -> Int {
        for slot in idle.withLock({ list in defer { list.removeAll() }; return list }) { sys.close(slot.lock) }
        var removed = 0
        for index in 0..<Self.maximumSlots {
            let lockPath = "\(directory)/slot-\(index).lock"
            guard let lock = try? sys.open(lockPath, O_RDWR) else { continue }
            defer { sys.close(lock) }
            guard sys.tryLock(lock) else { continue }
            let net = "\(directory)/net-\(index)"
            sys.detach(net)
            sys.unlink(net)
            sys.unlink("\(directory)/slot-\(index).ready")
            if let cgroups { try? cgroups.remove(CgroupHandle(name: groupName(index), procsFiles: [], directory: nil)) }
            sys.unlink("\(directory)/slot-\(index).cgroup")
            sys.unlink(lockPath)
            removed += 1
        }
        return removed
    }

    private func requireCgroups() throws(SandboxError) -> any CgroupDriver {
        guard let cgroups else { throw Self.noCgroups }
        return cgroups
    }

    /// A slot is ready once its marker exists; the marker is written last, so
    /// a maker killed halfway leaves a slot that is simply made again.
    private func prepare(index: Int, lock: FileDescriptor, cgroups: any CgroupDriver) throws(SandboxError) -> PoolSlot {
        let net = "\(directory)/net-\(index)"
        let marker = "\(directory)/slot-\(index).ready"
        let name = groupName(index)
        // Trust a ready slot only while its parts are still there: a gc, a
        // reboot of /run or another tool may have taken them away.
        if sys.exists(marker), let handle = groupHandle(index), partsArePresent(handle, net) {
            return PoolSlot(index: index, cgroup: handle, networkNamespace: net, lock: lock)
        }
        sys.unlink(marker)
        sys.detach(net)
        sys.close(try sys.open(net, O_WRONLY | O_CREAT, mode: 0o600))
        do throws(SandboxError) {
            try sys.makeNetworkNamespace(boundAt: net)
        } catch {
            if case .syscall(let what, let e) = error { throw .syscall("\(what) (pool slot \(index))", errno: e) }
            throw error
        }
        let handle: CgroupHandle
        do throws(SandboxError) {
            handle = try cgroups.create(name: name)
        } catch {
            // Left over from a slot whose marker was lost: start it afresh.
            try? cgroups.remove(CgroupHandle(name: name, procsFiles: [], directory: nil))
            handle = try cgroups.create(name: name)
        }
        try saveGroup(index, handle)
        sys.close(try sys.open(marker, O_WRONLY | O_CREAT, mode: 0o600))
        return PoolSlot(index: index, cgroup: handle, networkNamespace: net, lock: lock)
    }

    /// A slot's namespace is still bound and its group's directories are still there.
    private func partsArePresent(_ group: CgroupHandle, _ net: String) -> Bool {
        sys.isNamespaceFile(net) && group.procsFiles.allSatisfy { sys.exists($0) }
    }

    /// Group names carry a hash of the pool's directory: two pools (two state
    /// directories) on one host must never share, or remove, each other's groups.
    func groupName(_ index: Int) -> String {
        "pool-\(stableHash(directory))-\(index)"
    }

    private func ensureDirectory() throws(SandboxError) {
        do throws(SandboxError) { try sys.mkdir(directory) } catch where cgroupErrno(error) == EEXIST {}
    }

    // The handle (with its baselines) is stored beside the slot, so later
    // processes need not ask the driver again. A line per field, written and
    // read by hand: JSONEncoder took half a millisecond of a 3 ms run for it.
    // Rewritten when a release changed it, in place, then cut to length
    // (`Syscalls.rewrite`): truncating to zero first frees the file's block,
    // and where the state directory is on a disk mounted with `discard` (this
    // host's /run), that waits for the disk, 0.3-4 ms of a pooled run's end
    // here. The slot's lock keeps readers out meanwhile.
    private func saveGroup(_ index: Int, _ handle: CgroupHandle) throws(SandboxError) {
        try sys.rewrite("\(directory)/slot-\(index).cgroup", Array(SlotFile.encode(handle).utf8))
    }

    private func groupHandle(_ index: Int) -> CgroupHandle? {
        (try? sys.read("\(directory)/slot-\(index).cgroup")).flatMap(SlotFile.decode)
    }
}

/// A pool slot's cgroup handle as text: name, directory ("-" for none), the
/// baselines (OOM kills, CPU usage, forks refused), then
/// one cgroup.procs path a line. A file of an older format is no handle: the
/// slot is made afresh.
enum SlotFile {
    static let version = "gradebox-slot 2"

    static func encode(_ h: CgroupHandle) -> String {
        ([version, h.name, h.directory ?? "-"]
            + [h.oomKillBaseline, h.cpuUsageBaselineNanoseconds, h.forkFailureBaseline].map { String($0) }
            + h.procsFiles).joined(separator: "\n") + "\n"
    }

    static func decode(_ text: String) -> CgroupHandle? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        guard lines.count >= 6, lines[0] == version, !lines[1].isEmpty else { return nil }
        let numbers = lines[3..<6].compactMap { UInt64($0) }
        guard numbers.count == 3 else { return nil }
        var h = CgroupHandle(name: lines[1], procsFiles: Array(lines[6...]), directory: lines[2] == "-" ? nil : lines[2],
                             oomKillBaseline: numbers[0], cpuUsageBaselineNanoseconds: numbers[1])
        h.forkFailureBaseline = numbers[2]
        return h
    }
}
