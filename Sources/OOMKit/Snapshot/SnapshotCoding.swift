import FoundationEssentials

/// A snapshot file that cannot be read back.
public struct SnapshotDecodingError: OOMKitError {
    public var source: String
    public var reason: String

    public var kind: FailureKind { .badData }
    public var description: String { "'\(source)' is not a usable oomctl snapshot: \(reason)" }
}

extension Snapshot {
    /// The snapshot as JSON: sorted keys, pretty-printed for people or compact for pipes.
    public func jsonBytes(pretty: Bool = true) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        // Every value in the model is encodable (no floats that can be NaN from the kernel's text),
        // so failure here is a programming error; report it in the output rather than crash.
        guard let data = try? encoder.encode(self) else { return Array(#"{"error":"snapshot encoding failed"}"#.utf8) }
        return Array(data) + [UInt8(ascii: "\n")]
    }

    /// Reads a snapshot written by ``jsonBytes(pretty:)``; refuses schema versions newer than this library's.
    public init(json bytes: [UInt8], source: String) throws(SnapshotDecodingError) {
        struct Header: Decodable { var schemaVersion: Int }
        let decoder = JSONDecoder()
        let data = Data(bytes)
        guard let header = try? decoder.decode(Header.self, from: data) else {
            throw SnapshotDecodingError(source: source, reason: "not JSON with a schemaVersion field")
        }
        guard header.schemaVersion <= Self.currentSchemaVersion, header.schemaVersion >= 1 else {
            throw SnapshotDecodingError(
                source: source,
                reason:
                    "schema version \(header.schemaVersion) is not supported (this oomctl reads 1...\(Self.currentSchemaVersion))"
            )
        }
        do {
            self = try decoder.decode(Snapshot.self, from: data)
        } catch {
            throw SnapshotDecodingError(source: source, reason: "\(error)")
        }
    }
}
