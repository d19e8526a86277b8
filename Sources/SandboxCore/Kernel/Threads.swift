#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch

/// Runs blocking work (poll, wait4) on a thread of its own, so an async
/// caller running many boxes does not tie up the cooperative thread pool.
/// Where no thread can be started the work runs here all the same: it may
/// own a running box, which must never be dropped unwatched.
package func onOwnThread<T: Sendable, E: Error>(_ what: String = "box supervisor",
                                               _ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        let finish: @Sendable () -> Void = {
            do throws(E) { continuation.resume(returning: .success(try work())) } catch { continuation.resume(returning: .failure(error)) }
        }
        if case .failure = startThread(what, finish) { finish() }
    }
    return try result.get()
}

/// Starts `work` on a new detached thread.
@discardableResult
func startThread(_ what: String, _ work: @escaping @Sendable () -> Void) -> Result<Void, SandboxError> {
    let box = ThreadWork(work)
    var thread = pthread_t()
    let unmanaged = Unmanaged.passRetained(box)
    let rc = pthread_create(&thread, nil, { arg in
        let box = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue() as! ThreadWork
        box.run()
        return nil
    }, unmanaged.toOpaque())
    if rc != 0 {
        unmanaged.release()
        return .failure(.syscall("pthread_create(\(what))", errno: rc))
    }
    pthread_detach(thread)
    return .success(())
}

private final class ThreadWork: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Work left for later, done one piece at a time in the order given, off
/// the caller's path; `settle` waits for everything given so far. What a
/// long-lived caller does after it has answered: a pooled group's box
/// released (`Runtime.releases`), a grading job's clean-up.
package final class LaterQueue: Sendable {
    private let queue: DispatchQueue
    private let pending = DispatchGroup()

    package init(label: String) { queue = DispatchQueue(label: label) }

    package func later(_ work: @escaping @Sendable () -> Void) {
        queue.async(group: pending, execute: work)
    }

    /// Waits until everything given so far is done.
    package func settle() {
        pending.wait()
    }
}
