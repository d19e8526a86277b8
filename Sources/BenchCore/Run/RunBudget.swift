/// How many counted runs each (candidate, experiment) pair gets so that a
/// suite ends within a time budget.
///
/// The default suite asks for every available candidate on every experiment
/// and dataset: about 50 candidates x 24 experiments, where a trial takes
/// from a millisecond (gradebox) to tens of seconds (Docker's vfs copying a
/// 500 MB image). Ten runs of everything would take many hours; a fixed
/// smaller count would starve the cheap pairs to pay for the dear ones. So
/// the runner times one warm-up trial of every pair, then shares the time
/// left like water: every pair gets `minimum` runs, and the time cap per pair
/// is raised until the budget is spent, so cheap pairs reach `maximum` runs
/// and only the dear ones get fewer.
///
/// Pairs marked `priority` (those the thesis's comparisons rest on) are
/// filled first, up to `priorityMinimum` runs: a conclusion needs several runs
/// of both candidates it compares, and one run of every other pair says less
/// than five of those. Only the budget left after them is shared over everything.
public enum RunBudget {
    /// Counted runs per pair.
    /// - Parameters:
    ///   - trialSeconds: what one trial of each pair took (its first warm-up).
    ///   - fixedTrials: trials each pair runs anyway before its counted runs
    ///     (the remaining warm-ups), paid from the same budget.
    ///   - remainingSeconds: the budget left once every pair ran once.
    ///   - priority: per pair, whether it is filled first (empty: none is).
    ///   - priorityMinimum: the runs priority pairs are filled to first.
    /// - Returns: for each pair, a count in `minimum...maximum`.
    public static func allocate(trialSeconds: [Double], fixedTrials: Int = 0, remainingSeconds: Double,
                                maximum: Int, minimum: Int = 1, priority: [Bool] = [], priorityMinimum: Int = 0) -> [Int] {
        precondition(minimum >= 0 && maximum >= minimum)
        precondition(priority.isEmpty || priority.count == trialSeconds.count)
        let d = trialSeconds.map { max($0, 1e-6) }
        let floor = [Int](repeating: minimum, count: d.count)
        let first = d.indices.map { priority.isEmpty || !priority[$0] ? minimum : max(minimum, min(maximum, priorityMinimum)) }
        let prioritized = fill(d, fixedTrials: fixedTrials, budget: remainingSeconds, lower: floor, upper: first)
        return fill(d, fixedTrials: fixedTrials, budget: remainingSeconds, lower: prioritized,
                    upper: [Int](repeating: maximum, count: d.count))
    }

    /// Raises each pair from `lower` toward `upper` by one time cap for all:
    /// the largest cap (seconds of counted runs per pair) whose total fits the
    /// budget; `lower` is kept even when it does not fit.
    static func fill(_ d: [Double], fixedTrials: Int, budget: Double, lower: [Int], upper: [Int]) -> [Int] {
        func runs(cap: Double) -> [Int] {
            d.indices.map { i in
                // An infinite cap gives upper[i]: the min is taken before the conversion to Int.
                let byCap = Int(min(Double(upper[i]), (cap / d[i]).rounded(.down)))
                return min(upper[i], max(lower[i], byCap))
            }
        }
        func cost(_ n: [Int]) -> Double {
            zip(n, d).reduce(0) { $0 + Double($1.0 + fixedTrials) * $1.1 }
        }
        // Everything at its upper bound fits: no rationing.
        if cost(runs(cap: .infinity)) <= budget { return runs(cap: .infinity) }
        var low = 0.0
        var high = (d.max() ?? 0) * Double(upper.max() ?? 0)
        for _ in 0..<60 {
            let mid = (low + high) / 2
            if cost(runs(cap: mid)) <= budget { low = mid } else { high = mid }
        }
        return runs(cap: low)
    }
}
