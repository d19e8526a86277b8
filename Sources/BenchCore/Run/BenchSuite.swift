import Foundation

/// What `gradebox bench` runs when the command line names no candidates or experiments:
/// the default suite (issue #4: every available candidate, every experiment, every dataset)
/// or `--quick`, the same experiments on a representative subset with small datasets and
/// few runs, sized to finish within 10 minutes on a 2-core host.
public enum BenchSuite {
    /// Every experiment with every dataset: `ExperimentCatalog.resolve` expands a bare name.
    public static func allExperiments(_ catalog: ExperimentCatalog) -> String {
        catalog.names.joined(separator: ",")
    }

    /// Every experiment once, on the middle database and a 1 000-file set.
    public static let quickExperiments = "hello,run,db-read:2.6MB,db-write:2.6MB,files-read:1000,files-write:1000,network,ping"
    public static let quickRuns = 3
    /// The suites' time budgets (`BenchOptions.budgetSeconds`), a little under the
    /// promised 60 and 10 minutes: the trial running when the budget ends is finished,
    /// and the report is written after it.
    public static let defaultBudgetMinutes = 55.0
    public static let quickBudgetMinutes = 9.0
    public static let quickWarmup = 1

    /// One candidate per dimension the thesis's figures compare, on the minimal image but
    /// two: the INGInious baseline; crun against runc (Docker, Podman, and both runtimes
    /// driven directly); Docker's storage drivers overlay2, vfs and btrfs, Podman's overlay
    /// and vfs; the full image; Podman rootful and rootless, Docker rootless; containerd;
    /// LXC; bwrap; gradebox cold, warm pool, CLI and on the full image.
    /// The 50-odd available candidates at 8 experiments x 4 runs would take about an hour;
    /// these 19 took 5 minutes here once set up.
    public static let quickCandidateNames = [
        "docker/runc/overlay2/minimal",
        "docker/crun/overlay2/minimal",
        "docker/runc/vfs/minimal",
        "docker/runc/btrfs/minimal",
        "docker/runc/overlay2/full",
        "docker/runc/overlay2/minimal/rootless",
        "podman/crun/overlay/minimal",
        "podman/runc/overlay/minimal",
        "podman/crun/vfs/minimal",
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
