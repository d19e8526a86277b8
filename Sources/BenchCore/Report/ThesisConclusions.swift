/// The thesis's findings (chapter 5), each checked against this host's records.
///
/// A finding about one dimension (storage driver, image, runtime, rootless)
/// compares only candidates that differ in that dimension and in nothing
/// else: vfs against overlay2 with the same manager, runtime, image and
/// rootlessness. Each such pair gives a verdict beyond the noise or none
/// (`Comparison`); the finding is confirmed, refuted, mixed or not
/// distinguishable from its pairs' verdicts, and not measured when the
/// records hold no such pair. The findings about a manager at its fastest
/// compare each side's best configuration on the same image, as the thesis did.
enum ThesisConclusions {
    static func evaluate(_ ix: RecordIndex) -> [ReportConclusion] {
        [
            vfsCreation(ix), overlayBtrfsCreation(ix), aufsReads(ix), btrfsBigWrites(ix), btrfsManyFiles(ix),
            minimalReads(ix), fullWrites(ix), crunFaster(ix), kata(ix), dockerBest(ix), rootlessCreation(ix),
            rootlessIO(ix), idealConfiguration(ix), gradeboxFastest(ix),
        ]
    }

    typealias C = ReportConclusion

    static let beyondNoise = "beyond the noise: the two p5–p95 ranges apart, at least \(Verdict.minimumRuns) counted runs a side"

    /// The overlay drivers as each manager names them.
    static let overlay: Set<String> = ["overlay2", "overlay"]

    static func storage(_ names: Set<String>) -> (ReportCandidate) -> Bool {
        { $0.isThesisManager && names.contains($0.storage) }
    }

    static func image(_ image: String, storage: Set<String>? = nil) -> (ReportCandidate) -> Bool {
        { c in c.isThesisManager && c.image == image && (storage?.contains(c.storage) ?? true) }
    }

    /// A claim over one dimension: each pair measured by `measure`, the claim
    /// concluded from every pair's verdict.
    private static func pairwise(
        _ figure: String, _ claim: String, _ ix: RecordIndex, varying dimension: CandidateDimension,
        _ isA: (ReportCandidate) -> Bool, _ isB: (ReportCandidate) -> Bool,
        sides: String, rule: String, measured: String, _ measure: (CandidatePair) -> Comparison?
    ) -> C {
        let pairs = ix.pairs(varying: dimension, isA, isB)
        let comparisons = pairs.compactMap(measure)
        let fullRule = rule + ", " + beyondNoise + "; pairs differ only in \(dimension.rawValue) (\(sides))"
        guard !comparisons.isEmpty else {
            let evidence = pairs.isEmpty
                ? "no two candidates in these records differ only in \(dimension.rawValue) (\(sides))"
                : "no successful trials of \(measured) for " + pairs.map { "\($0.a.name) and \($0.b.name)" }.joined(separator: ", ")
            return C(figure: figure, claim: claim, status: .notMeasured, evidence: evidence, rule: rule + ", " + beyondNoise)
        }
        return C(figure: figure, claim: claim, rule: fullRule, comparisons: comparisons)
    }

    /// One phase of both candidates: on hello; for a phase every experiment has
    /// (create, start, ready) and a pair without hello trials, on another
    /// experiment both ran, on the dataset `ix.sharedDataset` picks.
    static func phase(_ ix: RecordIndex, _ p: CandidatePair, _ metric: ReportMetric, _ relation: Relation,
                      helloOnly: Bool = false) -> Comparison? {
        if let a = ix.median(p.a.name, "hello", nil, metric), let b = ix.median(p.b.name, "hello", nil, metric) {
            return .of("hello \(metric.label)", p.a.name, a, p.b.name, b, relation)
        }
        // Every experiment's exec runs another program: only hello's is echo.
        guard !helloOnly, metric != .phase("exec") else { return nil }
        for other in ["files-read", "db-read", "files-write", "db-write", "network", "ping"] {
            let hasDatasets = WorkloadCatalog.datasets(forExperiment: other) != nil
            let size = ix.sharedDataset(other, p.a.name, p.b.name, metric)
            guard size != nil || !hasDatasets,
                  let a = ix.median(p.a.name, other, size, metric), let b = ix.median(p.b.name, other, size, metric) else { continue }
            return .of("\(experimentLabel(other, size)) \(metric.label) (no hello trials)", p.a.name, a, p.b.name, b, relation)
        }
        return nil
    }

    /// An I/O experiment's phase for both candidates, on the dataset `ix.sharedDataset` picks.
    static func io(_ ix: RecordIndex, _ p: CandidatePair, _ experiment: String, _ relation: Relation,
                   metric: ReportMetric = .phase("exec")) -> Comparison? {
        guard let size = ix.sharedDataset(experiment, p.a.name, p.b.name, metric),
              let a = ix.median(p.a.name, experiment, size, metric), let b = ix.median(p.b.name, experiment, size, metric) else { return nil }
        return .of("\(experiment):\(size) \(metric.label)", p.a.name, a, p.b.name, b, relation)
    }

    // MARK: figure 5.1, storage drivers

    static func vfsCreation(_ ix: RecordIndex) -> C {
        pairwise("5.1", "vfs makes container creation far costlier than overlay2 (a full copy of the image per container)", ix,
                 varying: .storage, storage(["vfs"]), storage(overlay), sides: "vfs against overlay2/overlay",
                 rule: "confirmed when vfs's t_create is at least 2x overlay's", measured: "hello (or any experiment's create)") {
            phase(ix, $0, .phase("create"), .slower(atLeast: 2))
        }
    }

    static func overlayBtrfsCreation(_ ix: RecordIndex) -> C {
        pairwise("5.1", "overlay2 and btrfs create containers in similar time", ix,
                 varying: .storage, storage(["btrfs"]), storage(overlay), sides: "btrfs against overlay2/overlay",
                 rule: "confirmed when the two t_create are within 1.5x of each other", measured: "hello (or any experiment's create)") {
            phase(ix, $0, .phase("create"), .similar(within: 1.5))
        }
    }

    static func aufsReads(_ ix: RecordIndex) -> C {
        pairwise("5.1", "overlay2 reads many small files faster than aufs", ix,
                 varying: .storage, storage(overlay), storage(["aufs"]), sides: "overlay2/overlay against aufs",
                 rule: "confirmed when overlay's files-read t_exec is lower", measured: "files-read") {
            io(ix, $0, "files-read", .faster)
        }
    }

    static func btrfsBigWrites(_ ix: RecordIndex) -> C {
        pairwise("5.1", "block-based copy-on-write (btrfs) modifies big files faster than overlay2, which copies the whole file first", ix,
                 varying: .storage, storage(["btrfs"]), storage(overlay), sides: "btrfs against overlay2/overlay",
                 rule: "confirmed when btrfs's db-write t_exec is lower", measured: "db-write") {
            io(ix, $0, "db-write", .faster)
        }
    }

    // MARK: figure 5.2, base images

    static func btrfsManyFiles(_ ix: RecordIndex) -> C {
        pairwise("5.2", "on btrfs, an image with more files (full) makes creation costlier than the minimal image", ix,
                 varying: .image, image("full", storage: ["btrfs"]), image("minimal", storage: ["btrfs"]), sides: "full against minimal, on btrfs",
                 rule: "confirmed when the full image's t_create is higher", measured: "hello (or any experiment's create)") {
            phase(ix, $0, .phase("create"), .slower(atLeast: 1))
        }
    }

    static func minimalReads(_ ix: RecordIndex) -> C {
        pairwise("5.2", "reads are a little faster with the minimal image (Alpine) than with the full one (CentOS)", ix,
                 varying: .image, image("minimal"), image("full"), sides: "minimal against full",
                 rule: "confirmed when the minimal image's files-read t_exec is lower", measured: "files-read") {
            io(ix, $0, "files-read", .faster)
        }
    }

    static func fullWrites(_ ix: RecordIndex) -> C {
        pairwise("5.2", "tar extraction (writes) is faster with the full image's tar than with the minimal image's", ix,
                 varying: .image, image("full"), image("minimal"), sides: "full against minimal",
                 rule: "confirmed when the full image's files-write t_exec is lower", measured: "files-write") {
            io(ix, $0, "files-write", .faster)
        }
    }

    // MARK: figure 5.3, runtimes

    static func crunFaster(_ ix: RecordIndex) -> C {
        // Any manager: the runtime is what is compared, and the runtimes driven
        // directly (crun against runc) are its purest pair.
        pairwise("5.3", "crun is faster than runc, most at start and exec", ix,
                 varying: .runtime, { $0.runtime == "crun" }, { $0.runtime == "runc" }, sides: "crun against runc",
                 rule: "confirmed when crun's hello t_start and t_exec are both lower", measured: "hello") { p in
            guard let start = phase(ix, p, .phase("start"), .faster, helloOnly: true),
                  let exec = phase(ix, p, .phase("exec"), .faster, helloOnly: true) else { return nil }
            return .all([start, exec], label: p.a.manager == "oci" ? "driven directly" : p.a.manager)
        }
    }

    static func kata(_ ix: RecordIndex) -> C {
        let claim = "Kata Containers (a VM per container) create and start far more slowly, with a lower exec overhead"
        guard ix.candidates.contains(where: { $0.runtime.hasPrefix("kata") }) else {
            return C(figure: "5.3", claim: claim, status: .notMeasured,
                     evidence: "no Kata trials: Kata is not packaged for Debian 12 and needs a hypervisor this host cannot give a guest")
        }
        return pairwise("5.3", claim, ix, varying: .runtime, { $0.runtime.hasPrefix("kata") }, { ["runc", "crun"].contains($0.runtime) },
                        sides: "kata against runc/crun", rule: "confirmed when Kata's t_create + t_start is higher", measured: "hello") {
            phase(ix, $0, .ready, .slower(atLeast: 1))
        }
    }

    // MARK: figure 5.4, managers and rootless

    /// `mine` against each of `others` on `metric`: confirmed when it is lower
    /// than every one beyond the noise, refuted when one is lower beyond it.
    static func fastest(
        _ figure: String, _ claim: String, _ ix: RecordIndex, rule: String, mine: (ReportCandidate, SampleStats),
        others: [(ReportCandidate, SampleStats)], metric: ReportMetric = .ready
    ) -> C {
        // The closest rivals first: they are the ones that can tie or win.
        let comparisons = others.sorted { $0.1.median < $1.1.median }.map { Comparison.of("hello \(metric.label)", mine.0.name, mine.1, $0.0.name, $0.1, .faster) }
        // Faster than all: every comparison must hold.
        return C(figure: figure, claim: claim, rule: rule + ", " + beyondNoise, comparisons: comparisons, requireAll: true)
    }

    static func dockerBest(_ ix: RecordIndex) -> C {
        let claim = "among Docker, Podman and LXD (here LXC), each at its fastest, Docker gives a ready container first"
        let best = FigurePlan.bestPerFamily(ix, ix.candidates.filter { $0.isThesisManager && $0.image == "minimal" && !$0.rootless })
        let ranked = best.compactMap { c in ix.median(c.name, "hello", nil, .ready).map { (c, $0) } }
        guard let docker = ranked.first(where: { $0.0.manager == "docker" }), ranked.count >= 2 else {
            return C(figure: "5.4", claim: claim, status: .notMeasured,
                     evidence: "no successful hello trials for Docker and at least one other manager (rootful, minimal image) in these records")
        }
        return fastest("5.4", claim, ix, rule: "each manager in its fastest rootful configuration on the minimal image; confirmed when Docker's t_create + t_start is lower than every other manager's",
                       mine: docker, others: ranked.filter { $0.0.manager != "docker" })
    }

    static func rootlessCreation(_ ix: RecordIndex) -> C {
        pairwise("5.4", "rootless Podman creates containers more slowly than rootful Podman", ix,
                 varying: .rootless, { $0.manager == "podman" && $0.rootless }, { $0.manager == "podman" && !$0.rootless },
                 sides: "rootless against rootful Podman", rule: "confirmed when rootless t_create is higher",
                 measured: "hello (or any experiment's create)") {
            phase(ix, $0, .phase("create"), .slower(atLeast: 1))
        }
    }

    static func rootlessIO(_ ix: RecordIndex) -> C {
        pairwise("5.4", "rootless Podman costs I/O performance (the thesis: its fuse-overlayfs), writes even more than reads", ix,
                 varying: .rootless, { $0.manager == "podman" && $0.rootless }, { $0.manager == "podman" && !$0.rootless },
                 sides: "rootless against rootful Podman",
                 rule: "confirmed when rootless reads slower (files-read t_exec) and its write ratio (files-write t_exec) is higher than its read ratio",
                 measured: "files-read and files-write") { p in
            guard let rs = ix.sharedDataset("files-read", p.a.name, p.b.name, .phase("exec")),
                  let ws = ix.sharedDataset("files-write", p.a.name, p.b.name, .phase("exec")),
                  let ra = ix.median(p.a.name, "files-read", rs, .phase("exec")), let rb = ix.median(p.b.name, "files-read", rs, .phase("exec")),
                  let wa = ix.median(p.a.name, "files-write", ws, .phase("exec")), let wb = ix.median(p.b.name, "files-write", ws, .phase("exec"))
            else { return nil }
            let reads = Comparison.of("files-read:\(rs) t_exec", p.a.name, ra, p.b.name, rb, .slower(atLeast: 1))
            let read = RatioRange(ra, rb), write = RatioRange(wa, wb)
            let more = write.over(read)
            let runs = [ra.count, rb.count, wa.count, wb.count].min()!
            let verdict = Relation.slower(atLeast: 1).verdict(more, runs: runs)
            let writes = Comparison(
                verdict: verdict, runs: runs,
                text: "files-write:\(ws) t_exec: \(describe(wa)) vs \(describe(wb)), \(ratio(wa.median, wb.median)) against reads' \(ratio(ra.median, rb.median)): "
                    + verdict.phrase(runs: runs))
            return .all([reads, writes], label: "\(p.a.name) vs \(p.b.name)")
        }
    }

    static func idealConfiguration(_ ix: RecordIndex) -> C {
        let claim = "the thesis's final configuration, Docker + crun + overlay2 (cgroup v1, rootful), is the fastest ready container among the thesis's managers"
        let ideal = "docker/crun/overlay2/minimal"
        let ready = ix.candidates.filter { $0.isThesisManager && $0.image == "minimal" }
            .compactMap { c in ix.median(c.name, "hello", nil, .ready).map { (c, $0) } }
        guard let mine = ready.first(where: { $0.0.name == ideal }), ready.count >= 2 else {
            return C(figure: "5.4", claim: claim, status: .notMeasured,
                     evidence: "no successful hello trials of \(ideal) and another candidate of the thesis's managers on the minimal image")
        }
        return fastest("5.4", claim, ix, rule: "on the minimal image; confirmed when \(ideal)'s t_create + t_start is lower than every other Docker, Podman or LXC candidate's",
                       mine: mine, others: ready.filter { $0.0.name != ideal })
    }

    // MARK: figure 5.5, gradebox

    static func gradeboxFastest(_ ix: RecordIndex) -> C {
        let claim = "a manager tailor-made for grading (gradebox) gives a ready container faster than every existing solution"
        let ready = ix.candidates.filter { $0.image == "minimal" }.compactMap { c in ix.median(c.name, "hello", nil, .ready).map { (c, $0) } }
        guard let mine = ready.filter({ $0.0.manager == "gradebox" }).min(by: { $0.1.median < $1.1.median }),
              ready.contains(where: { $0.0.manager != "gradebox" }) else {
            return C(figure: "5.5", claim: claim, status: .notMeasured,
                     evidence: "no successful hello trials for gradebox and another candidate on the minimal image")
        }
        return fastest("5.5", claim, ix, rule: "on the minimal image; confirmed when gradebox's t_create + t_start is lower than every other candidate's",
                       mine: mine, others: ready.filter { $0.0.manager != "gradebox" })
    }
}
