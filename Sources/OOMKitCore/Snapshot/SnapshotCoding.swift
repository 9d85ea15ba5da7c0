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
        JSONOutput.encode(self, pretty: pretty)
    }

    /// Reads a snapshot written by ``jsonBytes(pretty:)``; refuses schema versions newer than this library's.
    public init(json bytes: [UInt8], source: String) throws(SnapshotDecodingError) {
        struct Header: Decodable { var schemaVersion: Int }
        guard case .success(let header) = JSONOutput.decode(Header.self, from: bytes) else {
            throw SnapshotDecodingError(source: source, reason: "not JSON with a schemaVersion field")
        }
        guard header.schemaVersion <= Self.currentSchemaVersion, header.schemaVersion >= 1 else {
            throw SnapshotDecodingError(
                source: source,
                reason:
                    "schema version \(header.schemaVersion) is not supported (this oomctl reads 1...\(Self.currentSchemaVersion))"
            )
        }
        switch JSONOutput.decode(Snapshot.self, from: bytes) {
        case .success(let snapshot): self = snapshot
        case .failure(let failure): throw SnapshotDecodingError(source: source, reason: failure.reason)
        }
    }
}
