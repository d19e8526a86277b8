/// The thesis's findings (chapter 5), each checked against this host's records.
///
/// A finding is confirmed when the measured medians point the same way as
/// the thesis says (by the margin given with it), not confirmed when they
/// do not, and not measured when a compared candidate has no successful trial.
enum ThesisConclusions {
    static func evaluate(_ ix: RecordIndex) -> [ReportConclusion] {
        [
            vfsCreation(ix), overlayBtrfsCreation(ix), aufsReads(ix), btrfsBigWrites(ix), btrfsManyFiles(ix),
            minimalReads(ix), fullWrites(ix), crunFaster(ix), kata(ix), dockerBest(ix), rootlessCreation(ix),
            rootlessIO(ix), idealConfiguration(ix), gradeboxFastest(ix),
        ]
    }

    typealias C = ReportConclusion

    /// The first name in `preferred` that has successful trials of `experiment`.
    private static func pick(_ ix: RecordIndex, _ experiment: String, _ metric: ReportMetric, _ preferred: [String]) -> (String, SampleStats)? {
        for name in preferred {
            if let d = ix.median(name, experiment, nil, metric) { return (name, d) }
        }
        return nil
    }

    private static func notMeasured(_ figure: String, _ claim: String, _ what: String) -> C {
        C(figure: figure, claim: claim, status: .notMeasured, evidence: "no successful trials of \(what) in these records")
    }

    /// Compares the first measured of `a` with the first measured of `b`. A
    /// phase claim made on hello (create, start, exec) falls back on the same
    /// phase of another experiment both ran, on the largest dataset they share,
    /// when the records hold no hello: every experiment creates and starts a container.
    private static func compare(
        _ figure: String, _ claim: String, _ ix: RecordIndex, experiment: String, metric: ReportMetric,
        _ a: [String], _ b: [String], holds: (Double, Double) -> Bool, relation: String
    ) -> C {
        if let (na, da) = pick(ix, experiment, metric, a), let (nb, db) = pick(ix, experiment, metric, b) {
            let ok = holds(da.median, db.median)
            return C(figure: figure, claim: claim, status: ok ? .confirmed : .notConfirmed,
                     evidence: "\(experiment) \(metric.label): \(na) \(fmt(da.median)) ms vs \(nb) \(fmt(db.median)) ms (\(ratio(da.median, db.median)); \(relation))")
        }
        if experiment == "hello", metric != .phase("exec") {
            for other in ["files-read", "db-read", "files-write", "db-write", "network", "ping"] {
                for na in a {
                    for nb in b {
                        let size = ix.largestShared(other, na, nb)
                        guard size != nil || WorkloadCatalog.datasets(forExperiment: other) == nil,
                              let da = ix.median(na, other, size, metric), let db = ix.median(nb, other, size, metric) else { continue }
                        let ok = holds(da.median, db.median)
                        let name = other + (size.map { ":" + $0 } ?? "")
                        return C(figure: figure, claim: claim, status: ok ? .confirmed : .notConfirmed,
                                 evidence: "\(name) \(metric.label) (no hello trials): \(na) \(fmt(da.median)) ms vs \(nb) \(fmt(db.median)) ms (\(ratio(da.median, db.median)); \(relation))")
                    }
                }
            }
        }
        return notMeasured(figure, claim, "\(experiment) for \(a[0]) and \(b[0])")
    }

    /// Compares two candidates on the largest dataset both have.
    private static func compareIO(
        _ figure: String, _ claim: String, _ ix: RecordIndex, experiment: String, _ a: [String], _ b: [String],
        metric: ReportMetric = .phase("exec"), holds: (Double, Double) -> Bool, relation: String
    ) -> C {
        for na in a {
            for nb in b {
                guard let size = ix.largestShared(experiment, na, nb),
                      let da = ix.median(na, experiment, size, metric), let db = ix.median(nb, experiment, size, metric) else { continue }
                let ok = holds(da.median, db.median)
                return C(figure: figure, claim: claim, status: ok ? .confirmed : .notConfirmed,
                         evidence: "\(experiment):\(size) \(metric.label): \(na) \(fmt(da.median)) ms vs \(nb) \(fmt(db.median)) ms (\(ratio(da.median, db.median)); \(relation))")
            }
        }
        return notMeasured(figure, claim, "\(experiment) on a dataset shared by \(a[0]) and \(b[0])")
    }

    private static func docker(_ runtime: String, _ storage: String, _ image: String) -> String { "docker/\(runtime)/\(storage)/\(image)" }
    private static func both(_ runtime: String, _ storage: String) -> [String] {
        [docker(runtime, storage, "full"), docker(runtime, storage, "minimal")]
    }

    static func vfsCreation(_ ix: RecordIndex) -> C {
        compare("5.1", "vfs makes container creation far costlier than overlay2 (a full copy of the image per container)", ix,
                experiment: "hello", metric: .phase("create"), both("runc", "vfs") + both("crun", "vfs"),
                both("runc", "overlay2") + both("crun", "overlay2"),
                holds: { $0 >= 2 * $1 }, relation: "confirmed when vfs takes at least 2x")
    }

    static func overlayBtrfsCreation(_ ix: RecordIndex) -> C {
        compare("5.1", "overlay2 and btrfs create containers in similar time", ix,
                experiment: "hello", metric: .phase("create"), both("runc", "btrfs") + both("crun", "btrfs"),
                both("runc", "overlay2") + both("crun", "overlay2"),
                holds: { $0 <= 1.5 * $1 && $1 <= 1.5 * $0 }, relation: "confirmed when within 1.5x of each other")
    }

    static func aufsReads(_ ix: RecordIndex) -> C {
        compareIO("5.1", "overlay2 reads many small files faster than aufs", ix, experiment: "files-read",
                  both("runc", "overlay2"), both("runc", "aufs"), holds: { $0 < $1 }, relation: "confirmed when overlay2 is lower")
    }

    static func btrfsBigWrites(_ ix: RecordIndex) -> C {
        compareIO("5.1", "block-based copy-on-write (btrfs) modifies big files faster than overlay2, which copies the whole file first", ix,
                  experiment: "db-write", both("runc", "btrfs") + both("crun", "btrfs"),
                  both("runc", "overlay2") + both("crun", "overlay2"), holds: { $0 < $1 }, relation: "confirmed when btrfs is lower")
    }

    static func btrfsManyFiles(_ ix: RecordIndex) -> C {
        compare("5.2", "on btrfs, an image with more files (full) makes creation costlier than the minimal image", ix,
                experiment: "hello", metric: .phase("create"), [docker("runc", "btrfs", "full"), docker("crun", "btrfs", "full")],
                [docker("runc", "btrfs", "minimal"), docker("crun", "btrfs", "minimal")],
                holds: { $0 > $1 }, relation: "confirmed when the full image is slower")
    }

    static func minimalReads(_ ix: RecordIndex) -> C {
        compareIO("5.2", "reads are a little faster with the minimal image (Alpine) than with the full one (CentOS)", ix,
                  experiment: "files-read", [docker("runc", "overlay2", "minimal"), docker("crun", "overlay2", "minimal")],
                  [docker("runc", "overlay2", "full"), docker("crun", "overlay2", "full")],
                  holds: { $0 < $1 }, relation: "confirmed when the minimal image is lower")
    }

    static func fullWrites(_ ix: RecordIndex) -> C {
        compareIO("5.2", "tar extraction (writes) is faster with the full image's tar than with the minimal image's", ix,
                  experiment: "files-write", [docker("runc", "overlay2", "full"), docker("crun", "overlay2", "full")],
                  [docker("runc", "overlay2", "minimal"), docker("crun", "overlay2", "minimal")],
                  holds: { $0 < $1 }, relation: "confirmed when the full image is lower")
    }

    static func crunFaster(_ ix: RecordIndex) -> C {
        let claim = "crun is faster than runc, most at start and exec"
        let pairs = [("overlay2", "minimal"), ("overlay2", "full"), ("btrfs", "minimal"), ("vfs", "minimal")]
        for (storage, image) in pairs {
            let c = docker("crun", storage, image), r = docker("runc", storage, image)
            guard let cs = ix.median(c, "hello", nil, .phase("start")), let rs = ix.median(r, "hello", nil, .phase("start")),
                  let ce = ix.median(c, "hello", nil, .phase("exec")), let re = ix.median(r, "hello", nil, .phase("exec")) else { continue }
            let ok = cs.median < rs.median && ce.median < re.median
            return C(figure: "5.3", claim: claim, status: ok ? .confirmed : .notConfirmed,
                     evidence: "docker \(storage) \(image): t_start crun \(fmt(cs.median)) ms vs runc \(fmt(rs.median)) ms; t_exec crun \(fmt(ce.median)) ms vs runc \(fmt(re.median)) ms")
        }
        return notMeasured("5.3", claim, "hello for docker with crun and runc on the same storage and image")
    }

    static func kata(_ ix: RecordIndex) -> C {
        let claim = "Kata Containers (a VM per container) create and start far more slowly, with a lower exec overhead"
        let kata = ix.candidates.filter { $0.runtime.hasPrefix("kata") }
        guard let k = kata.first, let kd = ix.median(k.name, "hello", nil, .ready),
              let (rn, rd) = pick(ix, "hello", .ready, [docker("runc", "overlay2", k.image), docker("crun", "overlay2", k.image)]) else {
            return C(figure: "5.3", claim: claim, status: .notMeasured,
                     evidence: "no Kata trials: Kata is not packaged for Debian 12 and needs a hypervisor this host cannot give a guest")
        }
        return C(figure: "5.3", claim: claim, status: kd.median > rd.median ? .confirmed : .notConfirmed,
                 evidence: "hello t_create + t_start: \(k.name) \(fmt(kd.median)) ms vs \(rn) \(fmt(rd.median)) ms")
    }

    static func dockerBest(_ ix: RecordIndex) -> C {
        let claim = "among Docker, Podman and LXD (here LXC), each at its fastest, Docker gives a ready container first"
        let best = FigurePlan.bestPerFamily(ix, ix.candidates.filter { $0.isThesisManager && $0.image == "minimal" && !$0.rootless })
        let ranked = best.compactMap { c in ix.median(c.name, "hello", nil, .ready).map { (c, $0.median) } }.sorted { $0.1 < $1.1 }
        guard ranked.count >= 2, ranked.contains(where: { $0.0.manager == "docker" }) else {
            return notMeasured("5.4", claim, "hello for Docker and at least one other manager")
        }
        let text = ranked.map { "\($0.0.name) \(fmt($0.1)) ms" }.joined(separator: " < ")
        return C(figure: "5.4", claim: claim, status: ranked[0].0.manager == "docker" ? .confirmed : .notConfirmed,
                 evidence: "hello t_create + t_start: \(text)")
    }

    static func rootlessCreation(_ ix: RecordIndex) -> C {
        let claim = "rootless Podman creates containers more slowly than rootful Podman"
        let rootless = ix.candidates.filter { $0.manager == "podman" && $0.rootless }.map(\.name)
        let rootful = ix.candidates.filter { $0.manager == "podman" && !$0.rootless }.map(\.name)
        guard !rootless.isEmpty, !rootful.isEmpty else { return notMeasured("5.4", claim, "hello for rootless and rootful Podman") }
        return compare("5.4", claim, ix, experiment: "hello", metric: .phase("create"), rootless, rootful,
                       holds: { $0 > $1 }, relation: "confirmed when rootless is slower")
    }

    static func rootlessIO(_ ix: RecordIndex) -> C {
        let claim = "rootless Podman's fuse-overlayfs costs I/O performance, writes even more than reads"
        let rootless = ix.candidates.filter { $0.manager == "podman" && $0.rootless }.map(\.name)
        let rootful = ix.candidates.filter { $0.manager == "podman" && !$0.rootless }.map(\.name)
        for a in rootless {
            for b in rootful {
                guard let rs = ix.largestShared("files-read", a, b), let ws = ix.largestShared("files-write", a, b),
                      let ra = ix.median(a, "files-read", rs, .phase("exec")), let rb = ix.median(b, "files-read", rs, .phase("exec")),
                      let wa = ix.median(a, "files-write", ws, .phase("exec")), let wb = ix.median(b, "files-write", ws, .phase("exec"))
                else { continue }
                let readRatio = ra.median / max(rb.median, 1e-9), writeRatio = wa.median / max(wb.median, 1e-9)
                let ok = readRatio > 1 && writeRatio > readRatio
                return C(figure: "5.4", claim: claim, status: ok ? .confirmed : .notConfirmed,
                         evidence: "t_exec rootless vs rootful (\(a) vs \(b)): files-read:\(rs) \(fmt(ra.median)) vs \(fmt(rb.median)) ms (\(ratio(ra.median, rb.median))), files-write:\(ws) \(fmt(wa.median)) vs \(fmt(wb.median)) ms (\(ratio(wa.median, wb.median)))")
            }
        }
        return notMeasured("5.4", claim, "files-read and files-write for rootless and rootful Podman")
    }

    static func idealConfiguration(_ ix: RecordIndex) -> C {
        let claim = "the thesis's final configuration, Docker + crun + overlay2 (cgroup v1, rootful), is the fastest ready container among the thesis's managers"
        let ranked = ix.candidates.filter(\.isThesisManager).compactMap { c in ix.median(c.name, "hello", nil, .ready).map { (c, $0.median) } }
            .sorted { $0.1 < $1.1 }
        guard let first = ranked.first, ranked.count >= 2 else { return notMeasured("5.4", claim, "hello for the thesis's managers") }
        let ok = first.0.manager == "docker" && first.0.runtime == "crun" && first.0.storage == "overlay2" && !first.0.rootless
        var evidence = "fastest: \(first.0.name) \(fmt(first.1)) ms"
        if let base = ranked.first(where: { $0.0.isBaseline }) {
            evidence += "; INGInious's \(base.0.name) \(fmt(base.1)) ms (\(ratio(base.1, first.1)))"
        }
        return C(figure: "5.4", claim: claim, status: ok ? .confirmed : .notConfirmed, evidence: evidence)
    }

    static func gradeboxFastest(_ ix: RecordIndex) -> C {
        let claim = "a manager tailor-made for grading (gradebox) gives a ready container faster than every existing solution"
        let ranked = ix.candidates.compactMap { c in ix.median(c.name, "hello", nil, .ready).map { (c, $0.median) } }.sorted { $0.1 < $1.1 }
        guard let gb = ranked.first(where: { $0.0.manager == "gradebox" }),
              let other = ranked.first(where: { $0.0.manager != "gradebox" }) else {
            return notMeasured("5.5", claim, "hello for gradebox and another candidate")
        }
        return C(figure: "5.5", claim: claim, status: gb.1 < other.1 ? .confirmed : .notConfirmed,
                 evidence: "hello t_create + t_start: \(gb.0.name) \(fmt(gb.1)) ms vs the fastest other, \(other.0.name) \(fmt(other.1)) ms (\(ratio(other.1, gb.1)))")
    }
}
