import Testing

@testable import OOMKit

/// `smallest(_:)` gives what sorting the whole and taking a prefix gives.
struct SmallestTests {
    @Test func theSmallestAreThoseOfTheWholeSortedInOrder() {
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<200 {
            let values = (0..<Int.random(in: 0...300, using: &generator)).map { _ in
                Int.random(in: 0...(trial % 2 == 0 ? 50 : 100_000), using: &generator)  // duplicates too
            }
            for count in [0, 1, 7, values.count / 2, values.count, values.count + 5] {
                #expect(values.smallest(count) == Array(values.sorted().prefix(count)), "\(values) \(count)")
            }
        }
    }

    /// Cgroup paths, as a status reply's page takes them: the first 512 of 10,000 in path order.
    @Test func theFirstPageOfManyCgroupPaths() throws {
        let paths = try (0..<10_000).map { try CgroupPath("/pool/job\($0 % 97)/task\($0)") }.shuffled()
        #expect(paths.smallest(512) == Array(paths.sorted().prefix(512)))
    }
}
