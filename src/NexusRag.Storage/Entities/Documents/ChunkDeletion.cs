using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>A chunk removed from the chunks table, kept in the change log so index replicas can drop it.</summary>
public sealed class ChunkDeletionRow
{
    public long Seq { get; set; }
    public string ChunkId { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public string DocumentId { get; set; } = "";
    public int IndexVersion { get; set; } = 1;
    public DateTime DeletedAt { get; set; }
}

internal sealed class ChunkDeletionConfiguration : IEntityTypeConfiguration<ChunkDeletionRow>
{
    public void Configure(EntityTypeBuilder<ChunkDeletionRow> e)
    {
        e.ToTable("chunk_deletions");
        e.HasKey(x => x.Seq);
        e.Property(x => x.Seq).ValueGeneratedNever();
    }
}
