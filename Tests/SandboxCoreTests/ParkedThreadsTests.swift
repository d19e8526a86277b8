import Foundation
import Testing
@testable import SandboxCore

@Suite("Parked threads: a thread's work done, it waits for the next")
struct ParkedThreadsTests {
    /// Which thread this is: a number given to each thread the first time it asks
    /// (pthread_self is not one: a new thread may get an ended one's).
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    private static let counter = NSLock()
    nonisolated(unsafe) private static var given = 0
    private static func threadNumber() -> Int32 {
        if let value = pthread_getspecific(key) { return Int32(Int(bitPattern: value)) }
        let n = counter.withLock { given += 1; return given }
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: n))
        return Int32(n)
    }

    /// Runs work on `threads` and waits for it; returns its thread's number.
    private func tid(on threads: ParkedThreads) throws -> Int32 {
        final class Seen: @unchecked Sendable { var tid: Int32 = 0 }
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        try threads.start("test") {
            seen.tid = Self.threadNumber()
            done.signal()
        }.get()
        done.wait()
        return seen.tid
    }

    private func waitUntil(_ condition: () -> Bool) -> Bool {
        for _ in 0..<200 where !condition() { usleep(10_000) }
        return condition()
    }

    @Test func aThreadIsReusedThenEndsWhenIdle() throws {
        let threads = ParkedThreads(maxParked: 4, idleSeconds: 1)
        let first = try tid(on: threads)
        #expect(first != Self.threadNumber(), "the work ran on a thread of its own")
        #expect(waitUntil { threads.parkedCount == 1 }, "its thread waits for more")
        let second = try tid(on: threads)
        #expect(second == first, "the next work ran on the parked thread")
        #expect(waitUntil { threads.parkedCount == 1 })
        usleep(1_300_000)
        #expect(waitUntil { threads.parkedCount == 0 }, "a thread idle past idleSeconds ends")
        #expect(try tid(on: threads) != first, "then a new thread serves")
    }

    @Test func atMostMaxParkedWait() throws {
        let threads = ParkedThreads(maxParked: 2, idleSeconds: 30)
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        for _ in 0..<4 {
            try threads.start("test") {
                started.signal()
                release.wait()
            }.get()
        }
        for _ in 0..<4 { started.wait() }
        #expect(threads.parkedCount == 0, "all four busy at once: four threads")
        for _ in 0..<4 { release.signal() }
        #expect(waitUntil { threads.parkedCount == 2 })
        usleep(50_000)
        #expect(threads.parkedCount == 2, "the two beyond maxParked ended")
    }
}

@Suite("Later work kept for the thread that answers")
struct LaterWorkTests {
    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var entries: [String] = []
        func add(_ s: String) { lock.withLock { entries.append(s) } }
        var all: [String] { lock.withLock { entries } }
    }

    @Test func workGivenWhileCollectingWaitsForRunThenRunsInOrder() throws {
        let queue = LaterQueue(label: "test.later")
        let log = Log()
        let later = LaterWork()
        later.collecting {
            queue.later { log.add("first") }
            // Another thread collecting into the same work (as a run_student server does).
            let done = DispatchSemaphore(value: 0)
            _ = startThread("test") {
                later.collecting { queue.later { log.add("second") } }
                done.signal()
            }
            done.wait()
        }
        queue.later { log.add("not collected") }   // this thread collects no more: dispatched
        queue.settle()
        #expect(log.all == ["not collected"], "kept work waits for run()")
        #expect(LaterWork.current == nil, "collecting ends with its body")
        later.run()
        #expect(log.all == ["not collected", "first", "second"])
    }

    @Test func settleWaitsForCountedWork() throws {
        let queue = LaterQueue(label: "test.counting")
        let log = Log()
        let started = DispatchSemaphore(value: 0)
        _ = startThread("test") {
            queue.counting {
                started.signal()
                usleep(200_000)
                log.add("counted")
            }
        }
        started.wait()
        queue.settle()
        #expect(log.all == ["counted"], "settle returned before the counted work ended")
    }
}
