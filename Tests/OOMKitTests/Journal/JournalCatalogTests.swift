import OOMTestSupport
import Testing

@testable import OOMKit

@Suite struct JournalCatalogTests {
    /// contrib/oomctl.catalog, found from this file's place in the repository.
    static let catalogPath: String = {
        let parts = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(4)
        return parts.joined(separator: "/") + "/contrib/oomctl.catalog"
    }()

    struct Section {
        var id: String
        var lines: [String]
    }

    private func sections() -> [Section] {
        var result: [Section] = []
        for line in ProcessRunner.readText(Self.catalogPath).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("-- ") {
                result.append(Section(id: String(line.dropFirst(3)), lines: []))
            } else if !result.isEmpty {
                result[result.count - 1].lines.append(String(line))
            }
        }
        return result
    }

    @Test func everyMessageIDIsDocumentedOnce() {
        let ids = sections().map(\.id)
        #expect(!ids.isEmpty, "no sections in \(Self.catalogPath)")
        for id in MessageID.allCases {
            #expect(ids.filter { $0 == id.rawValue }.count == 1, "\(id) (\(id.rawValue))")
        }
        #expect(Set(ids) == Set(MessageID.allCases.map(\.rawValue)), "catalog ids that are not in MessageID")
        #expect(ids.count == MessageID.allCases.count)
    }

    @Test func idsAreWellFormedAndDistinct() {
        for id in MessageID.allCases {
            #expect(id.rawValue.count == 32)
            #expect(id.rawValue.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        }
        #expect(Set(MessageID.allCases.map(\.rawValue)).count == MessageID.allCases.count)
    }

    @Test func sectionsHaveTheCatalogHeaders() {
        for section in sections() {
            #expect(section.lines.contains { $0.hasPrefix("Subject: ") }, "\(section.id)")
            #expect(section.lines.contains("Defined-By: oomctl"), "\(section.id)")
            #expect(section.lines.contains { $0.hasPrefix("Documentation: man:") }, "\(section.id)")
            // Headers, one empty line, then the explanation.
            let blank = section.lines.firstIndex(of: "")
            #expect(blank != nil && section.lines[(blank ?? 0)...].contains { !$0.isEmpty }, "\(section.id)")
        }
    }
}
