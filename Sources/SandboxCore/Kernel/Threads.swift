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

/// Blocks SIGCHLD in the calling thread, and so in every thread it starts
/// from then on. For a process that runs boxes from many threads (the
/// agent): each box's init is watched through its pidfd and reaped with
/// wait4, and the SIGCHLD of its end, directed at the process, went to
/// whichever thread did not block it: it woke the main thread asleep in
/// ZeroMQ's poll, or a job's thread in its own, twice a grading job, for
/// nothing. (Cloning the init with no exit signal does not help: its exec
/// of the reaper resets that to SIGCHLD.) Call it first thing in main,
/// before any thread is started; nothing of gradebox waits for the signal.
package func blockChildSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGCHLD)
    pthread_sigmask(SIG_BLOCK, &set, nil)
}

/// Starts `work` on a thread of its own: a parked one when one waits (see
/// `ParkedThreads`), else a new detached thread.
@discardableResult
package func startThread(_ what: String, _ work: @escaping @Sendable () -> Void) -> Result<Void, SandboxError> {
    ParkedThreads.shared.start(what, work)
}

/// Threads that ended their work and wait a while for more. A grading job
/// hands a box's watch and its run_student server to threads of their own;
/// making each thread and ending it (clone3, the stack's madvise, exit, the
/// first run's set-up) was about a twentieth of a long-lived grader's CPU.
/// Whatever a piece of work leaves in its thread's state beyond what every
/// caller restores (the signal mask around a spawn) must not matter: no
/// caller here unshares or setns in these threads (the netns and mount
/// template makers use threads of their own that end).
final class ParkedThreads: @unchecked Sendable {
    static let shared = ParkedThreads()

    /// At most this many wait; one more ends.
    let maxParked: Int
    /// A thread parked this long with nothing to do ends.
    let idleSeconds: Int

    init(maxParked: Int = 16, idleSeconds: Int = 30) {
        self.maxParked = maxParked
        self.idleSeconds = idleSeconds
    }

    private final class Parked {
        /// Allocated: a C condition must not move, and a Swift property's address is not stable.
        let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        var next: (@Sendable () -> Void)?
        init() {
            var attributes = pthread_condattr_t()
            pthread_condattr_init(&attributes)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
            pthread_cond_init(condition, &attributes)
            pthread_condattr_destroy(&attributes)
        }
        deinit {
            pthread_cond_destroy(condition)
            condition.deallocate()
        }
    }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()
    /// The most recently parked last: it is handed work first (its stack is warm).
    private var parked: [Parked] = []

    /// How many wait now (tests).
    var parkedCount: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return parked.count
    }

    func start(_ what: String, _ work: @escaping @Sendable () -> Void) -> Result<Void, SandboxError> {
        pthread_mutex_lock(mutex)
        if let thread = parked.popLast() {
            thread.next = work
            pthread_cond_signal(thread.condition)
            pthread_mutex_unlock(mutex)
            return .success(())
        }
        pthread_mutex_unlock(mutex)
        let box = ThreadWork { [self] in self.serve(first: work) }
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

    /// A thread's life: its work, then parked for the next until idle too long.
    private func serve(first: @escaping @Sendable () -> Void) {
        var work = first
        let me = Parked()
        while true {
            work()
            pthread_mutex_lock(mutex)
            guard parked.count < maxParked else {
                pthread_mutex_unlock(mutex)
                return
            }
            parked.append(me)
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            deadline.tv_sec += idleSeconds
            while me.next == nil {
                if pthread_cond_timedwait(me.condition, mutex, &deadline) == ETIMEDOUT, me.next == nil {
                    parked.removeAll { $0 === me }
                    pthread_mutex_unlock(mutex)
                    return
                }
            }
            work = me.next!
            me.next = nil
            pthread_mutex_unlock(mutex)
        }
    }
}

private final class ThreadWork: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Work left for later, done one piece at a time in the order given, off
/// the caller's path; `settle` waits for everything given so far. What a
/// long-lived caller does after it has answered: a pooled group's box
/// released (`Runtime.releases`), a grading job's clean-up. On a thread
/// that collects its later work (`LaterWork.collecting`), it is kept there
/// for that thread to do after its answer instead.
package final class LaterQueue: Sendable {
    private let queue: DispatchQueue
    private let pending = DispatchGroup()

    package init(label: String) { queue = DispatchQueue(label: label) }

    package func later(_ work: @escaping @Sendable () -> Void) {
        if let collector = LaterWork.current {
            collector.add(work)
            return
        }
        queue.async(group: pending, execute: work)
    }

    /// Runs `body`, which `settle` waits for as it waits for work given
    /// here: work a thread does itself after its answer (`LaterWork.run`).
    package func counting<T>(_ body: () -> T) -> T {
        pending.enter()
        defer { pending.leave() }
        return body()
    }

    /// Waits until everything given so far is done.
    package func settle() {
        pending.wait()
    }
}

/// The later work of one answer, kept by the threads that made it for the
/// thread that answers to do once it has: a grading job's boxes released,
/// its files removed and its group given back, by the job's own thread
/// after its result is sent. Handed to Dispatch's threads instead, each
/// piece woke one, and a job had three.
package final class LaterWork: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()
    private var items: [@Sendable () -> Void] = []

    package init() {}

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The collector of the calling thread, if it collects.
    package static var current: LaterWork? {
        pthread_getspecific(key).map { Unmanaged<LaterWork>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Runs `body` with the later work given on this thread kept here.
    package func collecting<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let previous = pthread_getspecific(Self.key)
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.key, previous) }
        return try body()
    }

    func add(_ work: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(mutex)
        items.append(work)
        pthread_mutex_unlock(mutex)
    }

    /// Does what was kept, in the order it was given.
    package func run() {
        while true {
            pthread_mutex_lock(mutex)
            let batch = items
            items.removeAll()
            pthread_mutex_unlock(mutex)
            if batch.isEmpty { return }
            for work in batch { work() }
        }
    }
}
