/// The `Node 0, zone   Normal` prefix shared by /proc/zoneinfo and /proc/buddyinfo.
enum ZoneHeader {
    /// Parses `Node N, zone NAME` from the start of `fields`; returns the node, the zone name and the
    /// fields after the name, or nil when the fields do not start that way.
    static func parse(_ fields: [Substring]) -> (node: Int, name: String, rest: ArraySlice<Substring>)? {
        guard fields.count >= 4, fields[0] == "Node", fields[1].hasSuffix(","), fields[2] == "zone",
            let node = ProcfsText.decimal(fields[1].dropLast()), node <= UInt64(Int32.max)
        else { return nil }
        return (Int(node), String(fields[3]), fields[4...])
    }
}
