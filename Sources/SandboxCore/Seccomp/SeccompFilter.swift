/// One classic-BPF instruction, laid out as `struct sock_filter`.
package struct SockFilter: Sendable, Equatable {
    package var code: UInt16
    package var jt: UInt8
    package var jf: UInt8
    package var k: UInt32
    package init(code: UInt16, jt: UInt8, jf: UInt8, k: UInt32) {
        self.code = code
        self.jt = jt
        self.jf = jf
        self.k = k
    }
}
