import Foundation

/// What `gradebox bench` runs when the command line names no candidates or experiments:
/// the default suite (issue #4: every available candidate, every experiment, every dataset)
/// or `--quick`, the same experiments on a representative subset with small datasets and
/// five runs, sized to finish within 10 minutes on a 2-core host.
public enum BenchSuite {
    /// Every experiment with every dataset: `ExperimentCatalog.resolve` expands a bare name.
    public static func allExperiments(_ catalog: ExperimentCatalog) -> String {
        catalog.names.joined(separator: ",")
    }

    /// Every experiment once, on the middle database and a 1 000-file set.
    public static let quickExperiments = "hello,run,db-read:2.6MB,db-write:2.6MB,files-read:1000,files-write:1000,network,ping"
    /// Five counted runs: with three a side, two samples' p5–p95 ranges are
    /// nearly their extremes and fall apart (one way) by chance once in 20;
    /// with five, once in 252, and a 10-30 % difference on a shared host can show.
    public static let quickRuns = 5
    /// The suites' time budgets (`BenchOptions.budgetSeconds`), a little under the
    /// promised 60 and 10 minutes: the trial running when the budget ends is finished,
    /// and the report is written after it.
    public static let defaultBudgetMinutes = 55.0
    public static let quickBudgetMinutes = 9.0
    public static let quickWarmup = 1
    /// Counted runs the default suite gives the comparison pairs (`comparisonPairs`)
    /// before it shares its budget over the other pairs.
    public static let comparisonRuns = 5

    /// The candidates whose pairs the thesis's figures and conclusions compare:
    /// each pair differs in one dimension only (`ThesisConclusions`), all on the
    /// minimal image but the image pair.
    /// - storage (5.1): Docker + runc with overlay2, vfs and btrfs;
    /// - image (5.2): Docker + runc + overlay2 on minimal and full, and gradebox on both;
    /// - runtime (5.3): crun against runc under Docker (overlay2) and driven directly;
    /// - manager (5.4): Docker, Podman, containerd (all three with crun on overlay) and LXC;
    /// - rootless (5.4): Podman rootful against rootless;
    /// - gradebox (5.5-5.7): cold, warm pool, CLI, CLI from the pool, against bwrap and the rest.
    /// 17 candidates, 9 of them behind a daemon, where the time goes: fewer than
    /// the 20 of before (rootless Docker, Podman with runc and Podman's vfs made
    /// no pair a conclusion uses), so 1 + 5 trials of the 9 (432 per experiment
    /// set) cost about what 1 + 3 of the 12 did (384).
    public static let quickCandidateNames = [
        "docker/runc/overlay2/minimal",
        "docker/crun/overlay2/minimal",
        "docker/runc/vfs/minimal",
        "docker/runc/btrfs/minimal",
        "docker/runc/overlay2/full",
        "podman/crun/overlay/minimal",
        "podman/crun/overlay/minimal/rootless",
        "containerd/crun/overlayfs/minimal",
        "lxc/lxc/dir/minimal",
        "crun",
        "runc",
        "bwrap",
        "gradebox",
        "gradebox-pool",
        "gradebox-cli",
        "gradebox-cli-pool",
        "gradebox/full",
    ]

    /// The quick suite's pairs (`BenchOptions.pairKey`): the default suite fills
    /// them to `comparisonRuns` first, so its conclusions rest on several runs
    /// while its big datasets get what is left.
    public static func comparisonPairs(_ catalog: ExperimentCatalog) throws(BenchError) -> Set<String> {
        let experiments = try catalog.resolve(quickExperiments)
        return Set(quickCandidateNames.flatMap { c in experiments.map { BenchOptions.pairKey(c, $0.name, $0.dataset) } })
    }

    public static func quickCandidates() throws(BenchError) -> [Candidate] {
        try Catalog.lookupList(quickCandidateNames.joined(separator: ","))
    }

    /// Where `--out DIR` puts each file.
    public struct Paths: Sendable, Equatable {
        public var summary: String
        public var raw: String
        public var html: String
        public var markdown: String
        /// `export` nil: everything in `directory`; else the summary (and the raw records
        /// beside it) where `--export` says, the report still in `directory`.
        public init(directory: String, export: String?) {
            summary = export ?? directory + "/bench.json"
            raw = ExportFormat.rawPath(for: summary)
            html = directory + "/report.html"
            markdown = directory + "/report.md"
        }
    }
}
