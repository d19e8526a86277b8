import Foundation
import Synchronization

/// Set by SIGINT; the runner stops between trials when it is.
public final class InterruptFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public var isSet: Bool { flag.load(ordering: .relaxed) }
    public func set() { flag.store(true, ordering: .relaxed) }

    nonisolated(unsafe) private static var source: DispatchSourceSignal?
    /// Routes SIGINT to `flag` (a second Ctrl-C exits at once with 130).
    public static func installSIGINT(_ flag: InterruptFlag) {
        signal(SIGINT, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        s.setEventHandler {
            if flag.isSet { _exit(130) }
            flag.set()
            FileHandle.standardError.write(Data("\ninterrupted: finishing the current trial, then cleaning up (Ctrl-C again to quit now)\n".utf8))
        }
        s.resume()
        source = s
    }
}
