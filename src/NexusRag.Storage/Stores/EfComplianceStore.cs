using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Backups;
using NexusRag.Core.Compliance;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfComplianceStore(IDbContextFactory<NexusDbContext> factory, Backups.BackupService backups, TimeProvider clock) : IComplianceStore
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private static ComplianceSnapshot Map(ComplianceSnapshotRow r) =>
        new(r.Id, r.CapturedAt, r.WindowDays, r.Status, JsonSerializer.Deserialize<List<ControlResult>>(r.ResultsJson, Json) ?? [], r.CreatedBy);

    private static ComplianceBundle Map(ComplianceBundleRow r) =>
        new(r.Id, r.SnapshotId, r.BundleType, r.PeriodStart, r.PeriodEnd, r.Sha256, r.Bytes, r.SigningKeyId, r.CreatedAt, r.CreatedBy);

    private static ComplianceArtifact Map(ComplianceArtifactRow r) => new(r.Id, r.ArtifactType, r.ArtifactUri, r.Sha256, r.Notes, r.UploadedBy, r.UploadedAt);

    public async Task AddSnapshotAsync(ComplianceSnapshot s, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.ComplianceSnapshots.Add(new ComplianceSnapshotRow
        {
            Id = s.Id, CapturedAt = s.CapturedAt, WindowDays = s.WindowDays, Status = s.Status, ResultsJson = JsonSerializer.Serialize(s.Results, Json), CreatedBy = s.CreatedBy,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<ComplianceSnapshot?> GetSnapshotAsync(string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.ComplianceSnapshots.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<IReadOnlyList<ComplianceSnapshot>> ListSnapshotsAsync(int limit, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await db.ComplianceSnapshots.AsNoTracking().OrderByDescending(s => s.CapturedAt).ThenByDescending(s => s.Id).Take(limit).ToListAsync(ct).ConfigureAwait(false))
            .Select(Map).ToList();
    }

    public async Task AddArtifactAsync(ComplianceArtifact a, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.ComplianceArtifacts.Add(new ComplianceArtifactRow
        {
            Id = a.Id, ArtifactType = a.ArtifactType, ArtifactUri = a.ArtifactUri, Sha256 = a.Sha256, Notes = a.Notes, UploadedBy = a.UploadedBy, UploadedAt = a.UploadedAt,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ComplianceArtifact>> ListArtifactsAsync(DateTime? since, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var q = db.ComplianceArtifacts.AsNoTracking();
        if (since is { } s) q = q.Where(a => a.UploadedAt >= s);
        return (await q.OrderByDescending(a => a.UploadedAt).Take(500).ToListAsync(ct).ConfigureAwait(false)).Select(Map).ToList();
    }

    public async Task AddBundleAsync(ComplianceBundle b, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.ComplianceBundles.Add(new ComplianceBundleRow
        {
            Id = b.Id, SnapshotId = b.SnapshotId, BundleType = b.BundleType, PeriodStart = b.PeriodStart, PeriodEnd = b.PeriodEnd, Sha256 = b.Sha256, Bytes = b.Bytes,
            SigningKeyId = b.SigningKeyId, CreatedAt = b.CreatedAt, CreatedBy = b.CreatedBy,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<ComplianceBundle?> GetBundleAsync(string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.ComplianceBundles.AsNoTracking().FirstOrDefaultAsync(b => b.Id == id, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<IReadOnlyList<ComplianceBundle>> ListBundlesAsync(int limit, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await db.ComplianceBundles.AsNoTracking().OrderByDescending(b => b.CreatedAt).ThenByDescending(b => b.Id).Take(limit).ToListAsync(ct).ConfigureAwait(false))
            .Select(Map).ToList();
    }

    public async Task<ComplianceBundle?> BundleOfSnapshotAsync(string snapshotId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.ComplianceBundles.AsNoTracking().Where(b => b.SnapshotId == snapshotId).OrderByDescending(b => b.CreatedAt).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<(int Snapshots, IReadOnlyList<string> Bundles, int Artifacts)> PruneBeforeAsync(DateTime cutoff, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var bundles = await db.ComplianceBundles.Where(b => b.CreatedAt < cutoff).Select(b => b.Id).ToListAsync(ct).ConfigureAwait(false);
        await db.ComplianceBundles.Where(b => b.CreatedAt < cutoff).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        var snapshots = await db.ComplianceSnapshots.Where(s => s.CapturedAt < cutoff).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        var artifacts = await db.ComplianceArtifacts.Where(a => a.UploadedAt < cutoff).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        return (snapshots, bundles, artifacts);
    }

    public async Task<IReadOnlyList<ApiKeyFact>> ApiKeysAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var rows = await db.ApiKeys.AsNoTracking().ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(k => new ApiKeyFact(k.Id, k.TenantId, k.TenantId == Core.Auth.Principal.PlatformTenant, k.CreatedAt, k.LastUsedAt, k.ExpiresAt, k.RevokedAt,
            k.RevokedAt is null && (k.ExpiresAt is null || k.ExpiresAt > now))).ToList();
    }

    public async Task<(IReadOnlyList<string> Applied, IReadOnlyList<string> Pending)> SchemaAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return ((await db.Database.GetAppliedMigrationsAsync(ct).ConfigureAwait(false)).ToList(), (await db.Database.GetPendingMigrationsAsync(ct).ConfigureAwait(false)).ToList());
    }

    public Task<(DateTime CreatedAt, string Encryption, string Signing)?> LatestBackupAsync(CancellationToken ct) =>
        Task.FromResult(backups.List().FirstOrDefault(m => m.Components.Any(c => c.Name == BackupComponents.Db)) is { } m
            ? ((DateTime, string, string)?)(m.CreatedAt, m.Policy.Encryption, m.Policy.Signing)
            : null);

    public async Task<IReadOnlyDictionary<string, long>> CountsAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return new Dictionary<string, long>
        {
            ["tenants"] = await db.Tenants.LongCountAsync(ct).ConfigureAwait(false),
            ["corpora"] = await db.Corpora.LongCountAsync(ct).ConfigureAwait(false),
            ["documents"] = await db.Documents.LongCountAsync(ct).ConfigureAwait(false),
            ["chunks"] = await db.Chunks.LongCountAsync(ct).ConfigureAwait(false),
            ["sessions"] = await db.Sessions.LongCountAsync(ct).ConfigureAwait(false),
            ["messages"] = await db.Messages.LongCountAsync(ct).ConfigureAwait(false),
            ["audit_events"] = await db.AuditEvents.LongCountAsync(ct).ConfigureAwait(false),
        };
    }
}
