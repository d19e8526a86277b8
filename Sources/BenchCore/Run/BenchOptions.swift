import Foundation

/// What `bench run` measures and how: the candidates, experiments, rounds and time budget.
public struct BenchOptions: Sendable {
    public var candidates: [Candidate]
    public var experiments: [any Experiment]
    public var runs: Int
    public var warmup: Int
    /// The raw records file (one TrialRecord per line), appended and flushed per trial.
    public var rawPath: String
    /// Set up candidates that are not ready (and tear down, at the end, what that started).
    public var setupMissing: Bool
    /// Seconds the whole run (set-up included) may take; nil: no limit. With a budget,
    /// `runs` is the most a pair gets: after one timed trial of every pair the
    /// counted runs are shared out by `RunBudget`, at least one per pair.
    public var budgetSeconds: Double?
    /// Pairs (`pairKey`) the thesis's comparisons rest on: with a budget, they
    /// are prepared first and filled to `priorityRuns` counted runs before the
    /// rest of the budget is shared out.
    public var priority: Set<String>
    public var priorityRuns: Int
    public init(candidates: [Candidate], experiments: [any Experiment], runs: Int = 10, warmup: Int = 2,
                rawPath: String, setupMissing: Bool = true, budgetSeconds: Double? = nil,
                priority: Set<String> = [], priorityRuns: Int = 0) {
        self.budgetSeconds = budgetSeconds
        self.priority = priority
        self.priorityRuns = priorityRuns
        self.candidates = candidates
        self.experiments = experiments
        self.runs = runs
        self.warmup = warmup
        self.rawPath = rawPath
        self.setupMissing = setupMissing
    }

    /// "docker/runc/vfs/minimal|files-read:1000": a candidate and an experiment with its dataset.
    public static func pairKey(_ candidate: String, _ experiment: String, _ dataset: String?) -> String {
        candidate + "|" + experimentLabel(experiment, dataset)
    }
}

/// "files-read:1000", or "hello" for an experiment without datasets: how
/// records, reports and progress name an experiment on a dataset.
func experimentLabel(_ experiment: String, _ dataset: String?) -> String {
    experiment + (dataset.map { ":" + $0 } ?? "")
}
