import Foundation

/// What `BenchRunner.run` reports while it works.
public enum RunnerEvent: Sendable {
    case setup(ProvisionEvent)
    case skipped(candidate: String, reason: String)
    /// An experiment's preparation for a candidate (workload image built and imported) took `seconds`.
    case prepared(candidate: String, experiment: String, seconds: Double, done: Int, total: Int)
    case trial(done: Int, total: Int, record: TrialRecord)
    /// The budget shared out: counted runs per pair from `fewest` to `most`, `rationed` pairs below `runs`;
    /// the `comparisons` pairs filled first got at least `comparisonsFewest`.
    case budget(seconds: Double, fewest: Int, most: Int, rationed: Int, comparisons: Int, comparisonsFewest: Int)
    /// The budget ran out before `skipped` planned trials (pairs keep at least one counted run).
    case budgetSpent(skipped: Int)
    case interrupted
    case tornDown([String])
}
