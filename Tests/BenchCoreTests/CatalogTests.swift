import Testing
@testable import BenchCore

@Suite("Catalog: the thesis's candidates and constraint rules")
struct CatalogTests {
    @Test func generatesSeventyTwoThesisCandidates() {
        let t = Catalog.thesisCandidates
        #expect(t.count == 72)
        #expect(t.map(\.number) == (1...72).map { Optional($0) })
        #expect(t.filter { $0.manager == .docker }.count == 38)
        #expect(t.filter { $0.manager == .lxc }.count == 8)
        #expect(t.filter { $0.manager == .podman }.count == 26)
    }

    /// Rows of the thesis's table, copied from section 4.2.1.
    @Test(arguments: [
        (1, "docker/runc/aufs/minimal", CgroupVersion.v1),
        (4, "docker/runc/overlay2/minimal", .v1),
        (10, "docker/crun/overlay2/minimal", .v1),
        (13, "docker/kata-qemu/aufs/minimal", .v1),
        (19, "docker/kata-fc/devicemapper/minimal", .v1),
        (20, "docker/runc/aufs/full", .v1),
        (38, "docker/kata-fc/devicemapper/full", .v1),
        (39, "lxc/lxc/btrfs/minimal", .v1),
        (41, "lxc/lxc/dir/minimal", .v1),
        (46, "lxc/lxc/lvm/full", .v1),
        (47, "podman/runc/aufs/minimal", .v1),
        (51, "podman/runc/zfs/minimal", .v1),
        (52, "podman/crun/aufs/minimal", .v2),
        (57, "podman/crun/btrfs/minimal/rootless", .v2),
        (59, "podman/crun/vfs/minimal/rootless", .v2),
        (60, "podman/runc/aufs/full", .v1),
        (63, "podman/runc/vfs/full", .v1),
        (72, "podman/crun/vfs/full/rootless", .v2),
    ])
    func numberedAsInTheThesis(number: Int, name: String, cgroup: CgroupVersion) throws {
        let c = try Catalog.lookup("#\(number)")
        #expect(c.name == name)
        #expect(c.cgroup == cgroup)
        #expect(c.rootless == name.hasSuffix("/rootless"))
    }

    @Test func namesAreUnique() {
        let names = Catalog.all.map(\.name)
        #expect(Set(names).count == names.count)
    }

    @Test func newCandidatesArePresent() throws {
        for n in ["gradebox", "gradebox-pool", "crun", "runc", "bwrap", "containerd", "docker-rootless"] {
            _ = try Catalog.lookup(n)
        }
        #expect(try Catalog.lookup("containerd").manager == .containerd)
        #expect(try Catalog.lookup("docker-rootless").rootless)
        #expect(try Catalog.lookup("gradebox-pool").pool)
        #expect(try Catalog.lookup("4") == Catalog.lookup("docker/runc/overlay2/minimal"))
    }

    @Test func rulesRejectWhatTheThesisExcludes() {
        #expect(Catalog.violatedRule(.docker, .runc, .overlay2, .v2, rootless: false) == "Docker does not support cgroup v2")
        #expect(Catalog.violatedRule(.podman, .runc, .overlay, .v2, rootless: false) == "runc doesn't support cgroupv2 yet")
        #expect(Catalog.violatedRule(.docker, .kataFC, .overlay2, .v1, rootless: false)?.contains("Firecracker") == true)
        #expect(Catalog.violatedRule(.podman, .crun, .zfs, .v2, rootless: true)?.contains("rootless") == true)
        #expect(Catalog.violatedRule(.podman, .crun, .overlay, .v1, rootless: true) == "cgroup (v1) can not be used with rootless containers")
        #expect(Catalog.violatedRule(.lxc, .lxc, .overlay2, .v1, rootless: false) == "LXD does not support the storage driver overlay2")
        #expect(Catalog.violatedRule(.podman, .crun, .overlay, .v2, rootless: true) == nil)
        // Every generated candidate passes every rule.
        for c in Catalog.thesisCandidates {
            #expect(Catalog.isAllowed(c.manager, c.runtime, c.storage, c.cgroup, rootless: c.rootless), "\(c)")
        }
    }

    @Test func unknownNamesListTheValidOnes() {
        do {
            _ = try Catalog.lookup("docker/runc/ext4/minimal")
            Issue.record("lookup should fail")
        } catch {
            guard case .unknownCandidate(let n, let valid) = error else { Issue.record("wrong error \(error)"); return }
            #expect(n == "docker/runc/ext4/minimal")
            #expect(valid.contains("docker/crun/overlay2/minimal"))
            #expect(error.description.contains("valid names"))
        }
        #expect(throws: BenchError.self) { try Catalog.lookup("#73") }
    }

    @Test func listsAreDeduplicatedInOrder() throws {
        let l = try Catalog.lookupList("crun,#4,docker,runc")
        #expect(l.map(\.name) == ["crun", "docker/runc/overlay2/minimal", "runc"])
    }

    @Test func unitsNameWhatSetupBringsUp() throws {
        #expect(Probe.units(for: try Catalog.lookup("#8")) == ["image:minimal", "hugetlb-v1", "btrfs-loop", "docker:btrfs"])
        #expect(Probe.units(for: try Catalog.lookup("#58")) == ["image:minimal", "rootless-user", "hugetlb-v1", "podman-rootless:overlay"])
        #expect(Probe.units(for: try Catalog.lookup("bwrap")) == ["image:minimal"])
    }
}
