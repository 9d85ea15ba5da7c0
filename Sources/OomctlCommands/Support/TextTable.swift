/// A plain text table: right-aligned numeric columns, the last column left-aligned and unpadded.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []
    /// Columns (by index) aligned left; all others are aligned right.
    var leftAligned: Set<Int> = []

    init(_ headers: [String], leftAligned: Set<Int> = []) {
        self.headers = headers
        self.leftAligned = leftAligned
    }

    mutating func append(_ row: [String]) { rows.append(row) }

    /// The table as lines, each indented by `indent` spaces.
    func render(indent: Int = 2) -> [String] {
        let all = [headers] + rows
        var widths = [Int](repeating: 0, count: headers.count)
        for row in all {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        let prefix = String(repeating: " ", count: indent)
        return all.map { row in
            var cells: [String] = []
            for (index, cell) in row.enumerated() {
                let isLast = index == row.count - 1
                let padding = String(repeating: " ", count: max(0, widths[index] - cell.count))
                if isLast && leftAligned.contains(index) {
                    cells.append(cell)
                } else {
                    cells.append(leftAligned.contains(index) ? cell + padding : padding + cell)
                }
            }
            return prefix + cells.joined(separator: "  ")
        }
    }
}
