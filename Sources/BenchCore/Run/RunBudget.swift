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
public enum RunBudget {
    /// Counted runs per pair.
    /// - Parameters:
    ///   - trialSeconds: what one trial of each pair took (its first warm-up).
    ///   - fixedTrials: trials each pair runs anyway before its counted runs
    ///     (the remaining warm-ups), paid from the same budget.
    ///   - remainingSeconds: the budget left once every pair ran once.
    /// - Returns: for each pair, a count in `minimum...maximum`.
    public static func allocate(trialSeconds: [Double], fixedTrials: Int = 0, remainingSeconds: Double,
                                maximum: Int, minimum: Int = 1) -> [Int] {
        precondition(minimum >= 0 && maximum >= minimum)
        let d = trialSeconds.map { max($0, 1e-6) }
        func runs(cap: Double) -> [Int] {
            d.map { min(maximum, max(minimum, Int(min(Double(maximum), (cap / $0).rounded(.down))))) }
        }
        func cost(_ n: [Int]) -> Double {
            zip(n, d).reduce(0) { $0 + Double($1.0 + fixedTrials) * $1.1 }
        }
        // Everything at the maximum fits: no rationing.
        if cost(runs(cap: .infinity)) <= remainingSeconds { return runs(cap: .infinity) }
        // Otherwise the largest cap (seconds of counted runs per pair) that fits.
        var low = 0.0
        var high = (d.max() ?? 0) * Double(maximum)
        for _ in 0..<60 {
            let mid = (low + high) / 2
            if cost(runs(cap: mid)) <= remainingSeconds { low = mid } else { high = mid }
        }
        return runs(cap: low)
    }
}
