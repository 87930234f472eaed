using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Model;
using NexusRag.Core.Ports;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfAuditLog(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : IAuditLog
{
    private static readonly string[] SensitiveKeyParts = ["api_key", "authorization", "token", "secret", "password", "text", "content"];

    public async Task AppendAsync(AuditEntry entry, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.AuditEvents.Add(new AuditEventRow
        {
            TenantId = entry.TenantId, EventType = entry.EventType, Outcome = entry.Outcome, ActorType = entry.ActorType,
            ActorId = entry.ActorId, ResourceType = entry.ResourceType, ResourceId = entry.ResourceId, RequestId = entry.RequestId,
            MetadataJson = entry.Metadata is null ? null : JsonSerializer.Serialize(Redact(entry.Metadata)),
            OccurredAt = clock.GetUtcNow().UtcDateTime,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Seed redaction policy: values under sensitive keys are replaced, recursively, case-insensitively.</summary>
    public static Dictionary<string, object?> Redact(IReadOnlyDictionary<string, object?> metadata)
    {
        var result = new Dictionary<string, object?>(metadata.Count);
        foreach (var (key, value) in metadata)
        {
            var lower = key.ToLowerInvariant();
            if (SensitiveKeyParts.Any(lower.Contains)) result[key] = "[REDACTED]";
            else if (value is IReadOnlyDictionary<string, object?> nested) result[key] = Redact(nested);
            else result[key] = value;
        }
        return result;
    }
}

public sealed class EfDatabaseHealth(IDbContextFactory<NexusDbContext> factory) : IDatabaseHealth
{
    public async Task<bool> IsHealthyAsync(CancellationToken ct)
    {
        try
        {
            await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
            return await db.Database.CanConnectAsync(ct).ConfigureAwait(false);
        }
        catch (Exception)
        {
            return false;
        }
    }
}
