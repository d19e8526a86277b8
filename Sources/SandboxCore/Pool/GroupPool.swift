#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemPackage

/// Groups of boxes (`BoxGroup`, made with `pooled: true`) kept for reuse in
/// this process, with what their boxes used: a grading job's cgroup, one
/// cgroup below it per box running at once, and for each of those a warm-pool
/// slot whose network namespace a box without network joins. Made fresh, a
/// job's cgroups cost ~0.2 ms of CPU each to make and remove, and each empty
/// network namespace ~0.35 ms more (measured here): most of what grading a
/// job cost the grader beside its boxes' programs.
///
/// A group comes back to the pool when it is removed: what still runs in it
/// is killed, its counters and its members' are reset. A member is taken by
/// one box at a time and given back once the box's init is reaped.
final class GroupPool: Sendable {
    private struct Member {
        var cgroup: CgroupHandle
        var slot: PoolSlot?
        var busy = false
        /// Its cgroup.procs files, kept open while the driver's reset keeps
        /// the group (v1): a box joins without opening five files in cgroupfs.
        var procs: [FileDescriptor]?
        /// Its slot's network namespace, kept open: a box joins it without opening it.
        var network: FileDescriptor?
        /// The limit writes it holds, while the driver's reset keeps them:
        /// a box with the same limits does not write them again.
        var applied: [CgroupWrite]?
    }

    /// A member taken for one box.
    struct Taken {
        var index: Int
        var cgroup: CgroupHandle
        /// The network namespace the box joins, when it asked for one and a slot could be had.
        var networkNamespace: String?
        /// That namespace, open (the member's: not to be closed by the box).
        var network: FileDescriptor?
        var procs: [FileDescriptor]?
        var applied: [CgroupWrite]?
    }

    private struct Kept {
        var group: CgroupHandle
        /// The limits the group holds (see `Member.applied`).
        var limits: Limits?
        var members: [Member] = []
        /// Names given to members so far (m0, m1 ...): taken under the lock, so two boxes never make the same.
        var named = 0
    }

    private struct State {
        var idle: [Kept] = []
        var taken: [String: Kept] = [:]
    }

    private let state = Mutex(State())
    /// Idle groups kept beyond this are removed: a burst of jobs leaves no more than a steady load needs.
    static let maximumIdle = 8

    /// A group for `limits`: an idle one, or `make()`'s.
    func take(_ limits: Limits, driver: any CgroupDriver, make: () throws(SandboxError) -> CgroupHandle) throws(SandboxError) -> CgroupHandle {
        var kept: Kept
        var fresh = false
        if let idle = state.withLock({ $0.idle.popLast() }) { kept = idle } else { kept = Kept(group: try make()); fresh = true }
        do {
            if !fresh {
                // Its counters from zero (v2 may make an empty group again:
                // its controllers are then handed down afresh).
                try driver.reset(&kept.group)
                try driver.enableChildren(kept.group)
            }
            if kept.limits != limits || !driver.resetKeepsGroup {
                try driver.apply(limits, to: kept.group)
                kept.limits = limits
            }
        } catch {
            discard(kept, driver: driver)
            throw error
        }
        let taken = kept
        state.withLock { $0.taken[taken.group.name] = taken }
        return kept.group
    }

    /// A member of the taken group `name` for one box: its cgroup, and the
    /// network namespace it joins when `network` (nil when no slot could be had).
    func member(of name: String, network: Bool, driver: any CgroupDriver, slots: SlotPool?) throws(SandboxError) -> Taken? {
        enum Found { case free(Int, Member), new(Int), none }
        let found = state.withLock { s -> Found in
            guard var kept = s.taken[name] else { return .none }
            defer { s.taken[name] = kept }
            if let i = kept.members.firstIndex(where: { !$0.busy }) {
                kept.members[i].busy = true
                return .free(i, kept.members[i])
            }
            kept.named += 1
            return .new(kept.named - 1)
        }
        var index: Int
        var member: Member
        switch found {
        case .none:
            return nil
        case .free(let i, let m):
            (index, member) = (i, m)
        case .new(let n):
            // A new member, kept with the group for its next jobs.
            member = Member(cgroup: try driver.create(name: "\(name)/m\(n)"), busy: true)
            let made = member
            index = state.withLock { s in
                s.taken[name]?.members.append(made)
                return (s.taken[name]?.members.count ?? 1) - 1
            }
        }
        var changed = false
        if network, member.slot == nil, let slots, let slot = try? slots.acquire() {
            member.slot = slot
            changed = true
        }
        if network, member.network == nil, let slot = member.slot, let fd = try? sys.open(slot.networkNamespace, O_RDONLY) {
            member.network = fd
            changed = true
        }
        if member.procs == nil, driver.resetKeepsGroup {
            var opened: [FileDescriptor] = []
            for path in member.cgroup.procsFiles {
                guard let fd = try? sys.open(path, O_WRONLY) else { break }
                opened.append(fd)
            }
            if opened.count == member.cgroup.procsFiles.count {
                member.procs = opened
                changed = true
            } else {
                opened.forEach(sys.close)   // the launch opens them itself, and says what failed
            }
        }
        if changed {
            let kept = member
            state.withLock { $0.taken[name]?.members[index] = kept }
        }
        return Taken(index: index, cgroup: member.cgroup, networkNamespace: network ? member.slot?.networkNamespace : nil,
                     network: network ? member.network : nil, procs: member.procs, applied: member.applied)
    }

    /// The limits a box wrote to its member (see `Member.applied`).
    func noteApplied(_ name: String, _ index: Int, _ writes: [CgroupWrite]) {
        state.withLock { s in
            guard s.taken[name] != nil, index < s.taken[name]!.members.count else { return }
            s.taken[name]!.members[index].applied = writes
        }
    }

    /// A box's member back, once its init is reaped: its counters reset for the next box.
    func giveBack(_ name: String, _ index: Int, driver: any CgroupDriver) {
        let stale = state.withLock { s -> [FileDescriptor] in
            guard var kept = s.taken[name], index < kept.members.count else { return [] }
            var cgroup = kept.members[index].cgroup
            let reset = (try? driver.reset(&cgroup)) != nil
            if reset { kept.members[index].cgroup = cgroup }
            var stale: [FileDescriptor] = []
            if !reset || !driver.resetKeepsGroup {
                // The group may be made anew: its limits and open files are not its own any more.
                kept.members[index].applied = nil
                stale = kept.members[index].procs ?? []
                kept.members[index].procs = nil
            }
            kept.members[index].busy = false
            s.taken[name] = kept
            return stale
        }
        stale.forEach(sys.close)
    }

    /// The group back in the pool: kept idle when none of its members is
    /// still taken, else emptied and removed. False when `name` is not a taken group.
    ///
    /// A member is given back once its box's init is reaped, and a box's
    /// processes end with its pid namespace; nothing runs in the group
    /// itself. So a group whose members are all back is empty: it is not
    /// read for processes (a cgroup.procs per hierarchy and member, a third
    /// of what giving it back cost).
    func give(_ name: String, driver: any CgroupDriver) throws(SandboxError) -> Bool {
        guard let kept = state.withLock({ $0.taken.removeValue(forKey: name) }) else { return false }
        if kept.members.contains(where: \.busy) {
            do { try driver.killTree(kept.group) } catch {
                discard(kept, driver: driver)
                throw error
            }
        }
        let keep = !kept.members.contains(where: \.busy) && state.withLock { s in
            guard s.idle.count < Self.maximumIdle else { return false }
            s.idle.append(kept)
            return true
        }
        if !keep { discard(kept, driver: driver) }
        return true
    }

    /// Removes every idle group (their slots go back to the warm pool); taken ones stay with their users.
    func drain(driver: any CgroupDriver) -> Int {
        let idle = state.withLock { s in
            let all = s.idle
            s.idle = []
            return all
        }
        for kept in idle { discard(kept, driver: driver) }
        return idle.count
    }

    private func discard(_ kept: Kept, driver: any CgroupDriver) {
        for member in kept.members {
            if let slot = member.slot { slotPoolRelease(slot) }
            member.procs?.forEach(sys.close)
            if let network = member.network { sys.close(network) }
        }
        try? driver.remove(kept.group)
    }

    /// Set by the runtime: how a slot goes back to the warm pool.
    let slotPoolRelease: @Sendable (PoolSlot) -> Void

    /// The door the members' open files go through.
    let sys: any Syscalls

    init(releasingSlotsTo release: @escaping @Sendable (PoolSlot) -> Void, sys: any Syscalls = Kernel.live) {
        slotPoolRelease = release
        self.sys = sys
    }
}
