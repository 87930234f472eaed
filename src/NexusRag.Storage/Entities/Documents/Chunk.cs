using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

public sealed class ChunkRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public string DocumentId { get; set; } = "";
    /// <summary>The corpus index version this chunk belongs to (1 for every chunk written before index versions existed).</summary>
    public int IndexVersion { get; set; } = 1;
    public int ChunkIndex { get; set; }
    public string Text { get; set; } = "";
    public int StartOffset { get; set; }
    public int EndOffset { get; set; }
    public string MetadataJson { get; set; } = "{}";
    /// <summary>The chunk's embedding: little-endian float32, L2-normalized (null when the pipeline wrote none).</summary>
    public byte[]? Embedding { get; set; }
    /// <summary>Monotonic change-log position: every write of a chunk takes a new, higher seq.</summary>
    public long Seq { get; set; }
    /// <summary>The tenant data key version <see cref="Text"/> and <see cref="MetadataJson"/> are sealed with; null: stored in plaintext.</summary>
    public int? KeyVersion { get; set; }
    public DateTime CreatedAt { get; set; }
}

internal sealed class ChunkConfiguration : IEntityTypeConfiguration<ChunkRow>
{
    public void Configure(EntityTypeBuilder<ChunkRow> e)
    {
        e.ToTable("chunks");
        e.HasKey(x => x.Id);
        e.HasIndex(x => new { x.TenantId, x.DocumentId, x.IndexVersion, x.ChunkIndex }).IsUnique();
        e.HasIndex(x => x.Seq).IsUnique();
        e.HasIndex(x => new { x.TenantId, x.CorpusId, x.IndexVersion });
        e.HasIndex(x => new { x.TenantId, x.KeyVersion });
    }
}
