#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A hold on a run while it goes on, from another thread: signals for its
/// program (INGInious's run_student passes its caller's signals on to the
/// student's program). Given to `Sandbox.run` or `runBlocking`; good for one run.
public final class RunControl: Sendable {
    /// The box's init (host pid) while the run goes on.
    private let initPid = Mutex<Int32?>(nil)

    public init() {}

    /// Sends `sig` to the box's program (not to what it started: as a
    /// terminal would to a foreground process). False when the run has not
    /// started, has ended, or its program is gone.
    @discardableResult
    public func signal(_ sig: Int32) -> Bool {
        initPid.withLock { pid in pid.map { Kernel.signalFirstChild(of: $0, sig) } ?? false }
    }

    func attach(initPid pid: Int32) { initPid.withLock { $0 = pid } }
    func detach() { initPid.withLock { $0 = nil } }
}
