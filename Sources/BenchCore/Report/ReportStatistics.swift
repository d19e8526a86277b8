/// Order statistics of one series of measurements (milliseconds).
///
/// Percentiles interpolate linearly between closest ranks (Hyndman & Fan
/// type 7, the default of R, NumPy and spreadsheets), so a reader can check
/// any number of the report with the tool of their choice.
public struct ReportDistribution: Sendable, Equatable, Codable {
    public var count: Int
    public var median: Double
    public var p5: Double
    public var p95: Double
    public var min: Double
    public var max: Double

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        count = sorted.count
        median = Self.percentile(sorted, 50)
        p5 = Self.percentile(sorted, 5)
        p95 = Self.percentile(sorted, 95)
        min = sorted[0]
        max = sorted[sorted.count - 1]
    }

    /// `sorted` must be sorted ascending and non-empty.
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        let rank = p / 100 * Double(sorted.count - 1)
        let lo = Int(rank.rounded(.down))
        let hi = Swift.min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - Double(lo))
    }
}
