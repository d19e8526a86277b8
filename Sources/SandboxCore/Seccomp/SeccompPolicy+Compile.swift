/// Classic-BPF opcodes a seccomp filter uses (<linux/bpf_common.h>, <linux/filter.h>).
package enum BPFOpcode {
    package static let loadWordAbsolute: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
    package static let jumpAlways: UInt16 = 0x05  // BPF_JMP | BPF_JA
    package static let jumpEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
    package static let jumpGreaterOrEqual: UInt16 = 0x35  // BPF_JMP | BPF_JGE | BPF_K
    package static let jumpAnyBitSet: UInt16 = 0x45  // BPF_JMP | BPF_JSET | BPF_K
    package static let andConstant: UInt16 = 0x54  // BPF_ALU | BPF_AND | BPF_K
    package static let returnConstant: UInt16 = 0x06  // BPF_RET | BPF_K
    /// BPF_MAXINSNS: the kernel refuses longer filters.
    package static let maximumProgramLength = 4096
}

/// Offsets into `struct seccomp_data` { int nr; u32 arch; u64 ip; u64 args[6]; }.
package enum SeccompDataOffset {
    package static let nr: UInt32 = 0
    package static let arch: UInt32 = 4
    /// Both ABIs we compile for are little-endian: the low word of a 64-bit
    /// argument comes first.
    package static func argumentLow(_ index: Int) -> UInt32 { UInt32(16 + 8 * index) }
    package static func argumentHigh(_ index: Int) -> UInt32 { UInt32(20 + 8 * index) }
}

extension SeccompPolicy {
    /// The longest run of `jeq` at the bottom of the dispatch tree.
    static let dispatchLeaf = 4

    /// The policy as a classic-BPF program for seccomp(SECCOMP_SET_MODE_FILTER):
    /// check the ABI (a foreign one, or x32 on x86_64, gets `foreignArchAction`),
    /// then find the syscall number among the numbers with a rule by a binary
    /// search, jumping to a shared `ret` per action or to a per-syscall block
    /// that tests arguments. Names the ABI lacks are skipped.
    ///
    /// The filter reads only `arch` and `nr` on the path of a syscall whose
    /// result does not depend on its arguments, so kernels ≥ 5.11 cache those
    /// verdicts and skip the filter for them.
    package func compile(for arch: SeccompArch) throws(SandboxError) -> [SockFilter] {
        var asm = BPFAssembler()
        var returnLabels: [(action: SeccompAction, label: BPFAssembler.Label)] = []
        func returning(_ action: SeccompAction) -> BPFAssembler.Label {
            if let found = returnLabels.first(where: { $0.action == action }) { return found.label }
            let label = asm.newLabel()
            returnLabels.append((action, label))
            return label
        }

        asm.load(SeccompDataOffset.arch)
        asm.jump(BPFOpcode.jumpEqual, arch.auditArch, ifTrue: .next, ifFalse: .label(returning(foreignArchAction)))
        asm.load(SeccompDataOffset.nr)
        let dispatch = asm.newLabel()
        if let x32 = arch.x32SyscallBit {
            // nr -1 is what a tracer sets to skip a call; the kernel answers it
            // with ENOSYS, so it is not an x32 call (libseccomp lets it through too).
            let aboveX32Bit = asm.newLabel()
            asm.jump(BPFOpcode.jumpGreaterOrEqual, x32, ifTrue: .label(aboveX32Bit), ifFalse: .label(dispatch))
            asm.place(aboveX32Bit)
            asm.jump(
                BPFOpcode.jumpEqual, 0xFFFF_FFFF, ifTrue: .label(dispatch), ifFalse: .label(returning(foreignArchAction)))
        }
        asm.place(dispatch)

        var rulesByNumber: [UInt32: [SeccompRule]] = [:]
        for rule in rules {
            // A bad rule is bad on every architecture, whether or not this one has the syscall.
            for condition in rule.conditions where !(0...5).contains(condition.argument) {
                throw .invalidRequest("seccomp rule for \(rule.syscall): argument \(condition.argument) is not in 0...5")
            }
            guard let nr = arch.number(of: rule.syscall) else { continue }
            rulesByNumber[nr, default: []].append(rule)
        }
        let numbers = rulesByNumber.keys.sorted()
        var argumentBlocks: [(label: BPFAssembler.Label, rules: [SeccompRule])] = []
        var targets: [BPFAssembler.Label] = []
        for nr in numbers {
            let syscallRules = rulesByNumber[nr]!
            if syscallRules[0].conditions.isEmpty {
                targets.append(returning(syscallRules[0].action))
            } else {
                let block = asm.newLabel()
                argumentBlocks.append((block, syscallRules))
                targets.append(block)
            }
        }
        // A binary search on the number, down to runs of a few `jeq`. Loading
        // a filter, the kernel runs it for every syscall number of the ABI to
        // find the calls it may cache (seccomp_cache_prepare): a linear chain
        // of 60-odd `jeq` made that ~0.1 ms of every box's start here; the
        // tree walks ~10 instructions a number instead of ~65.
        func search(_ range: Range<Int>) {
            if range.count <= Self.dispatchLeaf {
                for i in range {
                    let isLast = i == range.upperBound - 1
                    asm.jump(BPFOpcode.jumpEqual, numbers[i], ifTrue: .label(targets[i]),
                             ifFalse: isLast ? .label(returning(defaultAction)) : .next)
                }
                if range.isEmpty { asm.jumpAlways(returning(defaultAction)) }
                return
            }
            let middle = (range.lowerBound + range.upperBound) / 2
            let upper = asm.newLabel()
            asm.jump(BPFOpcode.jumpGreaterOrEqual, numbers[middle], ifTrue: .label(upper), ifFalse: .next)
            search(range.lowerBound..<middle)
            asm.place(upper)
            search(middle..<range.upperBound)
        }
        search(0..<numbers.count)

        for block in argumentBlocks {
            asm.place(block.label)
            for rule in block.rules {
                if rule.conditions.isEmpty {
                    // Matches every call: the rules after it can never be reached.
                    asm.jumpAlways(returning(rule.action))
                    break
                }
                let nextRule = asm.newLabel()
                for (i, condition) in rule.conditions.enumerated() {
                    let isLast = i == rule.conditions.count - 1
                    let onMatch = isLast ? returning(rule.action) : asm.newLabel()
                    asm.emit(condition, onMatch: onMatch, onFail: nextRule)
                    if !isLast { asm.place(onMatch) }
                }
                asm.place(nextRule)
            }
            asm.jumpAlways(returning(defaultAction))
        }

        for (action, label) in returnLabels {
            asm.place(label)
            asm.ret(action.returnValue)
        }

        let program = asm.assemble()
        guard program.count <= BPFOpcode.maximumProgramLength else {
            throw .invalidRequest(
                "seccomp policy compiles to \(program.count) BPF instructions for \(arch.rawValue); the kernel takes at most \(BPFOpcode.maximumProgramLength)"
            )
        }
        return program
    }
}

/// Classic BPF with symbolic forward jumps. Conditional jumps carry 8-bit
/// offsets; `assemble()` routes any that reach further through an
/// unconditional `ja` (32-bit offset) placed right after the jump, so a policy
/// of any length assembles.
struct BPFAssembler {
    struct Label: Hashable { fileprivate var id: Int }
    enum Target: Hashable {
        case next
        case label(Label)
    }
    private enum Item {
        case place(Label)
        case load(UInt32)
        case jump(code: UInt16, k: UInt32, ifTrue: Target, ifFalse: Target)
        case jumpAlways(Label)
        case ret(UInt32)
    }
    private var items: [Item] = []
    private var labelCount = 0

    mutating func newLabel() -> Label {
        labelCount += 1
        return Label(id: labelCount)
    }
    mutating func place(_ label: Label) { items.append(.place(label)) }
    mutating func load(_ offset: UInt32) { items.append(.load(offset)) }
    mutating func jump(_ code: UInt16, _ k: UInt32, ifTrue: Target, ifFalse: Target) {
        items.append(.jump(code: code, k: k, ifTrue: ifTrue, ifFalse: ifFalse))
    }
    mutating func jumpAlways(_ label: Label) { items.append(.jumpAlways(label)) }
    mutating func ret(_ value: UInt32) { items.append(.ret(value)) }

    /// One argument test, leaving A clobbered: control reaches `onMatch`
    /// when it holds and `onFail` when not.
    mutating func emit(_ condition: SeccompCondition, onMatch: Label, onFail: Label) {
        let low = SeccompDataOffset.argumentLow(condition.argument)
        let high = SeccompDataOffset.argumentHigh(condition.argument)
        switch condition.test {
        case .anyBitSet(let mask):
            let maskLow = UInt32(truncatingIfNeeded: mask)
            let maskHigh = UInt32(truncatingIfNeeded: mask >> 32)
            if maskHigh != 0 {
                load(high)
                jump(BPFOpcode.jumpAnyBitSet, maskHigh, ifTrue: .label(onMatch), ifFalse: maskLow != 0 ? .next : .label(onFail))
            }
            if maskLow != 0 {
                load(low)
                jump(BPFOpcode.jumpAnyBitSet, maskLow, ifTrue: .label(onMatch), ifFalse: .label(onFail))
            }
            if mask == 0 { jumpAlways(onFail) }
        case .equals(let value):
            load(high)
            jump(BPFOpcode.jumpEqual, UInt32(truncatingIfNeeded: value >> 32), ifTrue: .next, ifFalse: .label(onFail))
            load(low)
            jump(BPFOpcode.jumpEqual, UInt32(truncatingIfNeeded: value), ifTrue: .label(onMatch), ifFalse: .label(onFail))
        case .lowWordEquals(let value):
            load(low)
            jump(BPFOpcode.jumpEqual, value, ifTrue: .label(onMatch), ifFalse: .label(onFail))
        case .lowWordNotIn(let values):
            guard !values.isEmpty else {
                jumpAlways(onMatch)
                return
            }
            load(low)
            for (i, value) in values.enumerated() {
                let isLast = i == values.count - 1
                jump(BPFOpcode.jumpEqual, value, ifTrue: .label(onFail), ifFalse: isLast ? .label(onMatch) : .next)
            }
        }
    }

    /// Resolve labels into offsets. A conditional jump reaching past 255
    /// instructions goes through a trampoline placed right after it: a copy of
    /// the `ret` it aims at, or else a `ja`. Each pass reroutes every jump out
    /// of reach; the insertions can push others out, hence the loop (two or
    /// three passes for the longest policy the kernel accepts).
    mutating func assemble() -> [SockFilter] {
        var changed = true
        while changed {
            changed = false
            let positions = labelPositions()
            var returnAt: [Label: UInt32] = [:]
            var pending: [Label] = []
            for item in items {
                switch item {
                case .place(let label): pending.append(label)
                case .ret(let value):
                    for label in pending { returnAt[label] = value }
                    pending.removeAll()
                default: pending.removeAll()
                }
            }
            var rewritten: [Item] = []
            rewritten.reserveCapacity(items.count + 16)
            var instruction = 0
            for item in items {
                guard case .jump(let code, let k, let ifTrue, let ifFalse) = item else {
                    rewritten.append(item)
                    if case .place = item {} else { instruction += 1 }
                    continue
                }
                let farTrue = Self.distance(ifTrue, from: instruction, positions) > 255
                let farFalse = Self.distance(ifFalse, from: instruction, positions) > 255
                instruction += 1
                guard farTrue || farFalse else {
                    rewritten.append(item)
                    continue
                }
                changed = true
                // The trampolines sit between the jump and what used to follow
                // it, so a fall-through target becomes a label placed after them.
                let after = newLabel()
                var trampolines: [Item] = []
                func reroute(_ target: Target, far: Bool) -> Target {
                    if far, case .label(let destination) = target {
                        let trampoline = newLabel()
                        trampolines.append(.place(trampoline))
                        trampolines.append(returnAt[destination].map { .ret($0) } ?? .jumpAlways(destination))
                        return .label(trampoline)
                    }
                    return target == .next ? .label(after) : target
                }
                let newTrue = reroute(ifTrue, far: farTrue)
                let newFalse = reroute(ifFalse, far: farFalse)
                rewritten.append(.jump(code: code, k: k, ifTrue: newTrue, ifFalse: newFalse))
                rewritten += trampolines
                rewritten.append(.place(after))
            }
            items = rewritten
        }

        let positions = labelPositions()
        var program: [SockFilter] = []
        program.reserveCapacity(items.count)
        for item in items {
            let here = program.count
            switch item {
            case .place:
                continue
            case .load(let offset):
                program.append(SockFilter(code: BPFOpcode.loadWordAbsolute, jt: 0, jf: 0, k: offset))
            case .jump(let code, let k, let ifTrue, let ifFalse):
                let jt = Self.distance(ifTrue, from: here, positions)
                let jf = Self.distance(ifFalse, from: here, positions)
                program.append(SockFilter(code: code, jt: UInt8(jt), jf: UInt8(jf), k: k))
            case .jumpAlways(let label):
                let k = Self.distance(.label(label), from: here, positions)
                program.append(SockFilter(code: BPFOpcode.jumpAlways, jt: 0, jf: 0, k: UInt32(k)))
            case .ret(let value):
                program.append(SockFilter(code: BPFOpcode.returnConstant, jt: 0, jf: 0, k: value))
            }
        }
        return program
    }

    private func labelPositions() -> [Label: Int] {
        var positions: [Label: Int] = [:]
        var index = 0
        for item in items {
            if case .place(let label) = item { positions[label] = index } else { index += 1 }
        }
        return positions
    }

    private static func distance(_ target: Target, from index: Int, _ positions: [Label: Int]) -> Int {
        switch target {
        case .next: return 0
        case .label(let label):
            let distance = positions[label]! - index - 1
            precondition(distance >= 0, "BPF jumps only go forward")
            return distance
        }
    }
}
