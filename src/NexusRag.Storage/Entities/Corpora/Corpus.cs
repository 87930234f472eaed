using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

public sealed class CorpusRow
{
    public string TenantId { get; set; } = "";
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public string ProviderConfigJson { get; set; } = "{}";
    /// <summary>Embedding identity, recorded by the first ingest that writes vectors (null until then).</summary>
    public string? EmbeddingProvider { get; set; }
    public string? EmbeddingModel { get; set; }
    public int? EmbeddingDimensions { get; set; }
    /// <summary>The ACTIVE index version: the one every search and run reads (its model is the embedding above).</summary>
    public int ActiveIndexVersion { get; set; } = 1;
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

internal sealed class CorpusConfiguration : IEntityTypeConfiguration<CorpusRow>
{
    public void Configure(EntityTypeBuilder<CorpusRow> e)
    {
        e.ToTable("corpora");
        e.HasKey(x => new { x.TenantId, x.Id });
    }
}
