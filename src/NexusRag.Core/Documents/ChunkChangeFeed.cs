
namespace NexusRag.Core.Documents;

public enum ChunkChangeKind { Upsert, Delete }

/// <summary>One entry of the chunk change log. <see cref="Chunk"/> is set for upserts.</summary>
public sealed record ChunkChange(long Seq, ChunkChangeKind Kind, string ChunkId, string TenantId, string CorpusId, string DocumentId, ChunkInfo? Chunk, float[]? Embedding = null, int IndexVersion = 1);

/// <summary>
/// The chunk change log, ordered by seq: every chunk write is an upsert with a new seq, every removal a
/// deletion with a new seq. A derived index follows it from its last applied seq and can always be rebuilt.
/// </summary>
public interface IChunkChangeFeed
{
    Task<IReadOnlyList<ChunkChange>> ReadAsync(long afterSeq, int limit, CancellationToken ct);
    /// <summary>The highest seq ever assigned (0 when none).</summary>
    Task<long> MaxSeqAsync(CancellationToken ct);
}
