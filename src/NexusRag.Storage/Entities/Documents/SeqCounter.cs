using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>Named monotonic counters (the chunk change log's seq).</summary>
public sealed class SeqCounterRow
{
    public string Name { get; set; } = "";
    public long Value { get; set; }
}

internal sealed class SeqCounterConfiguration : IEntityTypeConfiguration<SeqCounterRow>
{
    public void Configure(EntityTypeBuilder<SeqCounterRow> e)
    {
        e.ToTable("seq_counters");
        e.HasKey(x => x.Name);
        e.HasData(new SeqCounterRow { Name = StoreConstants.ChunkSeq, Value = 0 });
    }
}
