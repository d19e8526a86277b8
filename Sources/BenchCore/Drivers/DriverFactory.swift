import Foundation

/// Builds the driver for a candidate from what setup recorded (sockets, lxcpaths).
public enum Drivers {
    /// The socket of a live unit, or why the candidate cannot run.
    public static func socket(of unit: String, state: ProvisionState, candidate c: Candidate) throws(BenchError) -> String {
        guard let s = state.units[unit]?.socket, state.liveUnits().contains(unit) else {
            throw .unavailable(candidate: c.name, reason: "\(unit) is not running (run `gradebox bench setup \(c.name)`)")
        }
        return s
    }

    public static func make(_ c: Candidate, state: ProvisionState = .load()) throws(BenchError) -> any ContainerDriver {
        func socket(_ unit: String) throws(BenchError) -> String { try Self.socket(of: unit, state: state, candidate: c) }
        switch c.manager {
        case .docker: return EngineDriver(candidate: c, socket: try socket(Probe.units(for: c).last!))
        case .podman: return EngineDriver(candidate: c, socket: try socket(Probe.units(for: c).last!))
        case .lxc: return LXCDriver(candidate: c)
        case .oci: return OCIRuntimeDriver(candidate: c, images: ImageDirectory())
        case .bwrap: return BwrapDriver(candidate: c, images: ImageDirectory())
        case .gradebox: return GradeboxDriver(candidate: c)
        case .containerd: return ContainerdDriver(candidate: c, socket: try socket("containerd"))
        }
    }
}
