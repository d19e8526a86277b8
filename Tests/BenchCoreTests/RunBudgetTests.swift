import Testing
@testable import BenchCore

@Suite("run budget")
struct RunBudgetTests {
    func cost(_ runs: [Int], _ d: [Double], fixed: Int = 0) -> Double {
        zip(runs, d).reduce(0) { $0 + Double($1.0 + fixed) * $1.1 }
    }

    @Test("a budget that holds everything changes nothing")
    func roomy() {
        #expect(RunBudget.allocate(trialSeconds: [0.01, 0.5, 2], remainingSeconds: 100, maximum: 10) == [10, 10, 10])
    }

    @Test("a tight budget rations the dear pairs, not the cheap ones, and is kept")
    func tight() {
        let d = [0.01, 0.02, 1, 30]
        let runs = RunBudget.allocate(trialSeconds: d, fixedTrials: 1, remainingSeconds: 120, maximum: 10)
        #expect(runs[0] == 10 && runs[1] == 10)
        #expect(runs[3] < 10 && runs[3] >= 1)
        #expect(runs[2] >= runs[3])
        #expect(cost(runs, d, fixed: 1) <= 120)
        // Not wasteful either: one more run of the dearest rationed pair would not fit.
        let more = runs.indices.filter { runs[$0] < 10 }.map { i -> Double in cost(runs, d, fixed: 1) + d[i] }
        #expect(more.allSatisfy { $0 > 120 - 1e-9 } || more.isEmpty)
    }

    @Test("comparison pairs are filled to their minimum first, dear or not, and only then is the rest shared")
    func priorityFirst() {
        // Two comparison pairs (one dear) and two others; 30 s left.
        let d = [0.5, 4, 0.5, 4]
        let runs = RunBudget.allocate(trialSeconds: d, fixedTrials: 0, remainingSeconds: 30, maximum: 10, minimum: 1,
                                      priority: [true, true, false, false], priorityMinimum: 5)
        #expect(runs[0] >= 5 && runs[1] == 5, "\(runs)")
        #expect(runs[3] == 1, "the dear other pair keeps its one run: \(runs)")
        #expect(cost(runs, d) <= 30)
        // Without priority, the same budget gives the dear comparison pair fewer than five.
        let plain = RunBudget.allocate(trialSeconds: d, fixedTrials: 0, remainingSeconds: 30, maximum: 10, minimum: 1)
        #expect(plain[1] < 5, "\(plain)")
    }

    @Test("priority is the old sharing when it is empty, and a budget too small for it fills the cheap comparisons first")
    func priorityEdges() {
        let d = [0.01, 0.02, 1, 30]
        #expect(RunBudget.allocate(trialSeconds: d, fixedTrials: 1, remainingSeconds: 120, maximum: 10)
            == RunBudget.allocate(trialSeconds: d, fixedTrials: 1, remainingSeconds: 120, maximum: 10, priority: [false, false, false, false], priorityMinimum: 5))
        let tight = RunBudget.allocate(trialSeconds: [1, 10], remainingSeconds: 20, maximum: 10, minimum: 1,
                                       priority: [true, true], priorityMinimum: 5)
        #expect(tight[0] >= 5 && tight[1] == 1, "\(tight)")
    }

    @Test("the minimum is kept even when the budget is already spent")
    func overspent() {
        #expect(RunBudget.allocate(trialSeconds: [1, 2], remainingSeconds: -5, maximum: 10, minimum: 1) == [1, 1])
        #expect(RunBudget.allocate(trialSeconds: [1, 2], remainingSeconds: 0, maximum: 9, minimum: 0) == [0, 0])
    }
}

@Suite("disk room")
struct DiskRoomTests {
    @Test("an image that would eat into the reserve is refused, naming the disk; data-less experiments always fit")
    func room() {
        let gib = 1 << 30
        #expect(DiskRoom.shortage(for: 1 * gib, on: ["/a", "/b"], free: { $0 == "/a" ? 20 * gib : 10 * gib }) == nil)
        let short = DiskRoom.shortage(for: 4 * gib, on: ["/a", "/b"], free: { $0 == "/a" ? 20 * gib : 10 * gib })
        #expect(short?.contains("/b") == true && short?.contains("10.0 GiB free") == true && short?.contains("8.0 GiB") == true)
        #expect(DiskRoom.shortage(for: 1 << 20, on: ["/c"], free: { _ in 1 << 29 })?.contains("512 MiB free") == true)
        #expect(DiskRoom.shortage(for: 0, on: ["/a"], free: { _ in 0 }) == nil)
        #expect(DiskRoom.shortage(for: gib, on: ["/gone"], free: { _ in nil }) == nil, "an unknown disk is not guessed at")
    }
}
