import Dispatch

/// The ends of runs in pooled groups that nobody waits for: a box's init
/// reaped (it tears down the box's mounts and namespaces after its program
/// is done, ~0.2 ms here), its descriptors closed, its group member reset
/// and given back. The run's result does not depend on any of it: its
/// program is gone and its numbers were read from its cgroup, so a grader
/// answers run_student (and its job) that much sooner.
///
/// One serial queue: what a caller waits for with `settle` (a pooled group
/// given back, a drain) is everything queued before it.
final class Releases: Sendable {
    private let queue = DispatchQueue(label: "gradebox.releases")
    private let pending = DispatchGroup()

    func later(_ work: @escaping @Sendable () -> Void) {
        queue.async(group: pending, execute: work)
    }

    /// Waits until everything queued so far is done.
    func settle() {
        pending.wait()
    }
}
