import Foundation

/// One of the dimensions the thesis varies, as a candidate's name gives it.
enum CandidateDimension: String, CaseIterable, Sendable {
    case manager, runtime, storage, image, rootless
}

extension ReportCandidate {
    func value(_ d: CandidateDimension) -> String {
        switch d {
        case .manager: manager
        case .runtime: runtime
        case .storage: storage
        case .image: image
        case .rootless: rootless ? "rootless" : "rootful"
        }
    }

    /// Whether the two differ in `d` and in nothing else, the tool's variant
    /// included (gradebox-pool is not gradebox on another image): the only
    /// comparison from which a difference can be put down to `d`.
    func differsOnly(in d: CandidateDimension, from other: ReportCandidate) -> Bool {
        guard variant == other.variant else { return false }
        return CandidateDimension.allCases.allSatisfy { ($0 == d) != (value($0) == other.value($0)) }
    }
}

/// Two candidates that differ in one dimension: `a` is the side the claim is about.
struct CandidatePair: Sendable, Equatable {
    var a: ReportCandidate
    var b: ReportCandidate
}

extension RecordIndex {
    /// Every pair of recorded candidates with `a` on one side of `dimension` and
    /// `b` on the other, equal in every other dimension.
    func pairs(varying dimension: CandidateDimension, _ isA: (ReportCandidate) -> Bool, _ isB: (ReportCandidate) -> Bool) -> [CandidatePair] {
        candidates.filter(isA).flatMap { a in
            candidates.filter { isB($0) && a.differsOnly(in: dimension, from: $0) }.map { CandidatePair(a: a, b: $0) }
        }
    }
}

/// What two samples say about a claim once their noise is counted: a claim
/// is confirmed or refuted only when the samples' p5–p95 ranges leave no
/// doubt, and only with at least `minimumRuns` runs on each side.
enum Verdict: Sendable, Equatable {
    case confirmed, refuted, indistinct

    /// With three runs a side, both ranges apart happens by chance once in
    /// twenty (one-sided, as a rank test counts it); with two, once in six.
    static let minimumRuns = 3
}

/// The ratio of two samples, a / b: its median, and the lowest and highest
/// values their p5–p95 ranges allow.
struct RatioRange: Sendable, Equatable {
    var median: Double
    var low: Double
    var high: Double

    init(_ a: SampleStats, _ b: SampleStats) {
        let tiny = 1e-9
        median = a.median / max(b.median, tiny)
        low = a.p5 / max(b.p95, tiny)
        high = a.p95 / max(b.p5, tiny)
    }

    init(median: Double, low: Double, high: Double) {
        self.median = median
        self.low = low
        self.high = high
    }

    /// (a1 / b1) / (a2 / b2), range to range: how much more one ratio is than another.
    func over(_ other: RatioRange) -> RatioRange {
        RatioRange(median: median / max(other.median, 1e-9), low: low / max(other.high, 1e-9), high: high / max(other.low, 1e-9))
    }
}

/// How the thesis says `a` relates to `b`, as a test of the ratio a / b.
enum Relation: Sendable, Equatable {
    /// a takes at least `factor` times b (factor 1: a is slower).
    case slower(atLeast: Double)
    /// a takes less than b.
    case faster
    /// a and b within `factor` of each other, either way.
    case similar(within: Double)

    func verdict(_ r: RatioRange) -> Verdict {
        switch self {
        case .slower(let k):
            if r.low > k { return .confirmed }
            if r.high < k { return .refuted }
        case .faster:
            if r.high < 1 { return .confirmed }
            if r.low > 1 { return .refuted }
        case .similar(let k):
            if r.low >= 1 / k && r.high <= k { return .confirmed }
            if r.low > k || r.high < 1 / k { return .refuted }
        }
        return .indistinct
    }

    /// The verdict on `r` when the fewer side has `runs` runs: none below `Verdict.minimumRuns`.
    func verdict(_ r: RatioRange, runs: Int) -> Verdict {
        runs < Verdict.minimumRuns ? .indistinct : verdict(r)
    }
}

/// One comparison behind a conclusion: its verdict, the fewest runs it
/// rests on, and the numbers as the report prints them.
struct Comparison: Sendable, Equatable {
    var verdict: Verdict
    var runs: Int
    var text: String

    /// Compares two samples under `relation`; `what` names the experiment and metric.
    static func of(_ what: String, _ aName: String, _ a: SampleStats, _ bName: String, _ b: SampleStats, _ relation: Relation) -> Comparison {
        let runs = min(a.count, b.count)
        let verdict = relation.verdict(RatioRange(a, b), runs: runs)
        let text = "\(what): \(aName) \(describe(a)) vs \(bName) \(describe(b)), \(ratio(a.median, b.median)), n = \(a.count)/\(b.count): "
            + verdict.phrase(runs: runs)
        return Comparison(verdict: verdict, runs: runs, text: text)
    }

    /// Several comparisons that must all hold (crun faster at start and at exec).
    static func all(_ parts: [Comparison], label: String) -> Comparison {
        let verdict: Verdict = parts.contains { $0.verdict == .refuted } ? .refuted
            : parts.allSatisfy { $0.verdict == .confirmed } ? .confirmed : .indistinct
        return Comparison(verdict: verdict, runs: parts.map(\.runs).min() ?? 0,
                          text: label + ": " + parts.map(\.text).joined(separator: "; "))
    }
}

extension Verdict {
    func phrase(runs: Int) -> String {
        switch self {
        case .confirmed: return "holds beyond the noise"
        case .refuted: return "the opposite, beyond the noise"
        case .indistinct:
            return runs < Verdict.minimumRuns ? "not distinguishable with n = \(runs) (a verdict needs \(Verdict.minimumRuns) runs a side)"
                : "not distinguishable with n = \(runs) (the p5–p95 ranges overlap)"
        }
    }
}

/// "12.3 ms (p5–p95 11.0–14.1)".
func describe(_ s: SampleStats) -> String {
    "\(fmt(s.median)) ms (p5–p95 \(fmt(s.p5))–\(fmt(s.p95)))"
}

extension ReportConclusion {
    /// The claim's status from its comparisons, one per pair of candidates:
    /// confirmed when at least one pair confirms it and none refutes it,
    /// refuted the other way round, mixed when pairs disagree, and not
    /// distinguishable when no pair rises above its noise. With `requireAll`,
    /// a claim over every comparison at once (`Comparison.all`'s rule): one
    /// opposite refutes it, one not distinguishable leaves it undecided.
    init(figure: String, claim: String, rule: String, comparisons: [Comparison], shown: Int = 4, requireAll: Bool = false) {
        let confirmed = comparisons.filter { $0.verdict == .confirmed }.count
        let refuted = comparisons.filter { $0.verdict == .refuted }.count
        let status: Status
        if requireAll {
            status = refuted > 0 ? .refuted : confirmed > 0 && confirmed == comparisons.count ? .confirmed : .indistinct
        } else {
            status = confirmed > 0 && refuted > 0 ? .mixed
                : confirmed > 0 ? .confirmed : refuted > 0 ? .refuted : .indistinct
        }
        // The pairs with the most runs first: they carry the most weight.
        let ordered = comparisons.enumerated().sorted { ($1.element.runs, $0.offset) < ($0.element.runs, $1.offset) }.map(\.element)
        var evidence = ordered.prefix(shown).map(\.text).joined(separator: "; ")
        if ordered.count > shown {
            let rest = ordered.dropFirst(shown)
            let counts = [(Verdict.confirmed, "holding"), (.refuted, "opposite"), (.indistinct, "not distinguishable")]
                .compactMap { v, word in
                    let n = rest.filter { $0.verdict == v }.count
                    return n > 0 ? "\(n) \(word)" : nil
                }
            evidence += "; and \(rest.count) more pairs (\(counts.joined(separator: ", ")))"
        }
        self.init(figure: figure, claim: claim, status: status, evidence: evidence, rule: rule, runs: comparisons.map(\.runs))
    }
}
