#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs blocking work (poll, wait4) on a thread of its own, so an async
/// caller running many boxes does not tie up the cooperative thread pool.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws(SandboxError) -> T) async throws(SandboxError) -> T {
    let result: Result<T, SandboxError> = await withCheckedContinuation { continuation in
        let box = ThreadWork {
            do throws(SandboxError) { continuation.resume(returning: .success(try work())) } catch { continuation.resume(returning: .failure(error)) }
        }
        var thread = pthread_t()
        let unmanaged = Unmanaged.passRetained(box)
        let rc = pthread_create(&thread, nil, { arg in
            let box = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue() as! ThreadWork
            box.run()
            return nil
        }, unmanaged.toOpaque())
        if rc != 0 {
            unmanaged.release()
            continuation.resume(returning: .failure(.syscall("pthread_create(box supervisor)", errno: rc)))
        } else {
            pthread_detach(thread)
        }
    }
    return try result.get()
}

private final class ThreadWork: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
