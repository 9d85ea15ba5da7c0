import Testing

@testable import OomctlCommands

@Suite struct VersionTests {
    @Test func versionIsSemantic() {
        let parts = Oomctl.version.split(separator: ".")
        #expect(parts.count == 3 && parts.allSatisfy { Int($0) != nil })
    }
}
