using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Chat;
using NexusRag.Core.DataGovernance;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfGovernanceStore(IDbContextFactory<NexusDbContext> factory, Core.Crypto.DataKeyService dataKeys) : IGovernanceStore
{
    private static RetentionPolicy Map(RetentionPolicyRow r) => new(r.TenantId, r.MessagesTtlDays, r.CheckpointsTtlDays, r.AuditTtlDays, r.DocumentsTtlDays,
        r.BackupsTtlDays, r.HardDeleteEnabled, r.AnonymizeInsteadOfDelete, r.UpdatedAt, r.UpdatedBy);

    private static LegalHold Map(LegalHoldRow r) => new(r.Id, r.TenantId, r.ScopeType, r.ScopeId, r.Reason, r.Status, r.CreatedBy, r.CreatedAt, r.ReleasedBy, r.ReleasedAt);

    private static GovernanceRun Map(GovernanceRunRow r) => new(r.Id, r.TenantId, r.Kind, r.Status, r.Trigger, r.JobId, r.ReportJson, r.Error, r.CreatedAt, r.FinishedAt);

    private static DsarRequest Map(DsarRequestRow r) => new(r.Id, r.TenantId, r.RequestType, r.SubjectType, r.SubjectId, r.Reason, r.Status, r.RequestedBy,
        r.ApprovedBy, r.ApprovedAt, r.JobId, r.ResultJson, r.ArtifactSha256, r.ArtifactBytes, r.Error, r.CreatedAt, r.CompletedAt);

    private static GovernancePolicy Map(GovernancePolicyRow r) => new(r.Id, r.TenantId, r.RuleKey, r.Enabled, r.Priority,
        JsonDocument.Parse(r.ConditionJson).RootElement.Clone(), JsonDocument.Parse(r.ActionJson).RootElement.Clone(), r.CreatedBy, r.CreatedAt, r.UpdatedAt);

    public async Task<RetentionPolicy?> GetRetentionPolicyAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.RetentionPolicies.AsNoTracking().FirstOrDefaultAsync(p => p.TenantId == tenantId, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task SaveRetentionPolicyAsync(RetentionPolicy p, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.RetentionPolicies.FirstOrDefaultAsync(r => r.TenantId == p.TenantId, ct).ConfigureAwait(false);
        if (row is null) db.RetentionPolicies.Add(row = new RetentionPolicyRow { TenantId = p.TenantId });
        row.MessagesTtlDays = p.MessagesTtlDays;
        row.CheckpointsTtlDays = p.CheckpointsTtlDays;
        row.AuditTtlDays = p.AuditTtlDays;
        row.DocumentsTtlDays = p.DocumentsTtlDays;
        row.BackupsTtlDays = p.BackupsTtlDays;
        row.HardDeleteEnabled = p.HardDeleteEnabled;
        row.AnonymizeInsteadOfDelete = p.AnonymizeInsteadOfDelete;
        row.UpdatedAt = p.UpdatedAt;
        row.UpdatedBy = p.UpdatedBy;
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<string>> TenantsWithRetentionPolicyAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.RetentionPolicies.AsNoTracking().OrderBy(p => p.TenantId).Select(p => p.TenantId).ToListAsync(ct).ConfigureAwait(false);
    }

    public async Task AddHoldAsync(LegalHold h, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.LegalHolds.Add(new LegalHoldRow
        {
            Id = h.Id, TenantId = h.TenantId, ScopeType = h.ScopeType, ScopeId = h.ScopeId, Reason = h.Reason, Status = h.Status, CreatedBy = h.CreatedBy, CreatedAt = h.CreatedAt,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<LegalHold?> GetHoldAsync(string tenantId, string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.LegalHolds.AsNoTracking().FirstOrDefaultAsync(h => h.TenantId == tenantId && h.Id == id, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<IReadOnlyList<LegalHold>> ListHoldsAsync(string tenantId, bool activeOnly, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var q = db.LegalHolds.AsNoTracking().Where(h => h.TenantId == tenantId);
        if (activeOnly) q = q.Where(h => h.Status == "active");
        return (await q.OrderBy(h => h.CreatedAt).ThenBy(h => h.Id).ToListAsync(ct).ConfigureAwait(false)).Select(Map).ToList();
    }

    public async Task<IReadOnlyList<LegalHold>> ActiveBackupHoldsAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await db.LegalHolds.AsNoTracking().Where(h => h.Status == "active" && h.ScopeType == HoldScopes.BackupSet).ToListAsync(ct).ConfigureAwait(false))
            .Select(Map).ToList();
    }

    public async Task<bool> ReleaseHoldAsync(string tenantId, string id, string by, DateTime at, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.LegalHolds.Where(h => h.TenantId == tenantId && h.Id == id && h.Status == "active")
            .ExecuteUpdateAsync(s => s.SetProperty(h => h.Status, "released").SetProperty(h => h.ReleasedBy, by).SetProperty(h => h.ReleasedAt, at), ct)
            .ConfigureAwait(false) == 1;
    }

    public async Task AddRunAsync(GovernanceRun r, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.GovernanceRuns.Add(new GovernanceRunRow
        {
            Id = r.Id, TenantId = r.TenantId, Kind = r.Kind, Status = r.Status, Trigger = r.Trigger, JobId = r.JobId, CreatedAt = r.CreatedAt,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<GovernanceRun?> GetRunAsync(string tenantId, string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.GovernanceRuns.AsNoTracking().FirstOrDefaultAsync(r => r.TenantId == tenantId && r.Id == id, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<GovernanceRun?> LatestRunAsync(string tenantId, string kind, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.GovernanceRuns.AsNoTracking().Where(r => r.TenantId == tenantId && r.Kind == kind)
            .OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task FinishRunAsync(string id, string status, string? reportJson, string? error, DateTime at, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await db.GovernanceRuns.Where(r => r.Id == id).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Status, status).SetProperty(r => r.ReportJson, reportJson).SetProperty(r => r.Error, error).SetProperty(r => r.FinishedAt, at), ct)
            .ConfigureAwait(false);
    }

    public async Task AddDsarAsync(DsarRequest r, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.DsarRequests.Add(new DsarRequestRow
        {
            Id = r.Id, TenantId = r.TenantId, RequestType = r.RequestType, SubjectType = r.SubjectType, SubjectId = r.SubjectId, Reason = r.Reason,
            Status = r.Status, RequestedBy = r.RequestedBy, JobId = r.JobId, CreatedAt = r.CreatedAt,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<DsarRequest?> GetDsarAsync(string tenantId, string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.DsarRequests.AsNoTracking().FirstOrDefaultAsync(r => r.TenantId == tenantId && r.Id == id, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<DsarRequest?> GetDsarByIdAsync(string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.DsarRequests.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<bool> ApproveDsarAsync(string tenantId, string id, string by, DateTime at, string? jobId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.DsarRequests.Where(r => r.TenantId == tenantId && r.Id == id && r.Status == DsarStatus.PendingApproval)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, DsarStatus.Queued).SetProperty(r => r.ApprovedBy, by).SetProperty(r => r.ApprovedAt, at)
                .SetProperty(r => r.JobId, jobId), ct).ConfigureAwait(false) == 1;
    }

    public async Task UpdateDsarAsync(string id, string status, string? resultJson, string? artifactSha256, long? artifactBytes, string? error, DateTime? completedAt, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await db.DsarRequests.Where(r => r.Id == id).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Status, status).SetProperty(r => r.ResultJson, resultJson).SetProperty(r => r.ArtifactSha256, artifactSha256)
            .SetProperty(r => r.ArtifactBytes, artifactBytes).SetProperty(r => r.Error, error).SetProperty(r => r.CompletedAt, completedAt), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<DsarRequest>> ListDsarsAsync(string tenantId, DateTime since, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await db.DsarRequests.AsNoTracking().Where(r => r.TenantId == tenantId && r.CreatedAt >= since).OrderByDescending(r => r.CreatedAt).Take(500)
            .ToListAsync(ct).ConfigureAwait(false)).Select(Map).ToList();
    }

    public async Task AddPolicyAsync(GovernancePolicy p, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.GovernancePolicies.Add(ToRow(p, new GovernancePolicyRow()));
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<GovernancePolicy?> GetPolicyAsync(string? tenantId, string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.GovernancePolicies.AsNoTracking().FirstOrDefaultAsync(p => p.Id == id && p.TenantId == tenantId, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<IReadOnlyList<GovernancePolicy>> ListPoliciesAsync(string? tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await db.GovernancePolicies.AsNoTracking().Where(p => p.TenantId == tenantId).OrderBy(p => p.RuleKey).ThenByDescending(p => p.Priority).ThenBy(p => p.Id)
            .ToListAsync(ct).ConfigureAwait(false)).Select(Map).ToList();
    }

    public async Task<IReadOnlyList<GovernancePolicy>> PoliciesForTenantAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await db.GovernancePolicies.AsNoTracking().Where(p => p.Enabled && (p.TenantId == tenantId || p.TenantId == null))
            .ToListAsync(ct).ConfigureAwait(false)).Select(Map).ToList();
    }

    public async Task SavePolicyAsync(GovernancePolicy p, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.GovernancePolicies.FirstAsync(r => r.Id == p.Id && r.TenantId == p.TenantId, ct).ConfigureAwait(false);
        ToRow(p, row);
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<bool> DeletePolicyAsync(string? tenantId, string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.GovernancePolicies.Where(p => p.Id == id && p.TenantId == tenantId).ExecuteDeleteAsync(ct).ConfigureAwait(false) == 1;
    }

    private static GovernancePolicyRow ToRow(GovernancePolicy p, GovernancePolicyRow row)
    {
        row.Id = p.Id;
        row.TenantId = p.TenantId;
        row.RuleKey = p.RuleKey;
        row.Enabled = p.Enabled;
        row.Priority = p.Priority;
        row.ConditionJson = p.Condition.GetRawText();
        row.ActionJson = p.Action.GetRawText();
        row.CreatedBy = p.CreatedBy;
        row.CreatedAt = p.CreatedAt;
        row.UpdatedAt = p.UpdatedAt;
        return row;
    }

    public async Task<DataOutcome> ExpireMessagesAsync(string tenantId, DateTime cutoff, IReadOnlySet<string> heldSessions, string mode, DateTime now, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var expired = db.Messages.Where(m => m.TenantId == tenantId && m.CreatedAt < cutoff && m.AnonymizedAt == null);
        var eligible = await expired.LongCountAsync(ct).ConfigureAwait(false);
        var held = heldSessions.ToList();
        var target = expired.Where(m => !held.Contains(m.SessionId));
        var heldCount = eligible - await target.LongCountAsync(ct).ConfigureAwait(false);
        long changed = mode switch
        {
            "delete" => await target.ExecuteDeleteAsync(ct).ConfigureAwait(false),
            "anonymize" => await Anonymize(target, now, ct).ConfigureAwait(false),
            _ => 0,
        };
        return new DataOutcome(eligible, changed, heldCount);
    }

    private static Task<int> Anonymize(IQueryable<MessageRow> messages, DateTime now, CancellationToken ct) =>
        messages.ExecuteUpdateAsync(s => s.SetProperty(m => m.Content, "").SetProperty(m => m.MetadataJson, (string?)null)
            .SetProperty(m => m.KeyVersion, (int?)null).SetProperty(m => m.AnonymizedAt, now), ct);

    public async Task<IReadOnlyList<string>> ExpiredDocumentsAsync(string tenantId, DateTime cutoff, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Documents.AsNoTracking().Where(d => d.TenantId == tenantId && d.CreatedAt < cutoff && d.AnonymizedAt == null)
            .OrderBy(d => d.Id).Select(d => d.Id).ToListAsync(ct).ConfigureAwait(false);
    }

    public async Task<string?> AnonymizeDocumentAsync(string tenantId, string documentId, DateTime now, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var sha = await db.Documents.AsNoTracking().Where(d => d.TenantId == tenantId && d.Id == documentId).Select(d => d.ContentSha256).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        if (sha is null) return null;
        await db.DeleteChunksLoggedAsync(db.Chunks.Where(c => c.TenantId == tenantId && c.DocumentId == documentId), now, ct).ConfigureAwait(false);
        await db.Documents.Where(d => d.TenantId == tenantId && d.Id == documentId).ExecuteUpdateAsync(s => s
            .SetProperty(d => d.Filename, (string?)null).SetProperty(d => d.MetadataJson, (string?)null).SetProperty(d => d.ExtractionJson, (string?)null)
            .SetProperty(d => d.ContentSha256, "").SetProperty(d => d.Content, Array.Empty<byte>()).SetProperty(d => d.FailureReason, (string?)null)
            .SetProperty(d => d.AnonymizedAt, now).SetProperty(d => d.UpdatedAt, now), ct).ConfigureAwait(false);
        return sha;
    }

    public async Task<IReadOnlyList<MessageInfo>> SessionMessagesAsync(string tenantId, string sessionId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.Messages.AsNoTracking().Where(m => m.TenantId == tenantId && m.SessionId == sessionId)
            .OrderBy(m => m.CreatedAt).ThenBy(m => m.Id).ToListAsync(ct).ConfigureAwait(false);
        await dataKeys.OpenAsync(rows, ct).ConfigureAwait(false);
        return rows.Select(r => new MessageInfo(r.Id, r.TenantId, r.SessionId, r.Role, r.Content, r.MetadataJson, r.CreatedAt)).ToList();
    }

    public async Task<DataOutcome> EraseSessionAsync(string tenantId, string sessionId, string mode, DateTime now, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var messages = db.Messages.Where(m => m.TenantId == tenantId && m.SessionId == sessionId);
        var count = await messages.LongCountAsync(ct).ConfigureAwait(false);
        if (mode == "anonymize") return new DataOutcome(count, await Anonymize(messages.Where(m => m.AnonymizedAt == null), now, ct).ConfigureAwait(false), 0);
        var deleted = await messages.ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await db.Sessions.Where(s => s.TenantId == tenantId && s.Id == sessionId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        return new DataOutcome(count, deleted, 0);
    }

    public async Task<IReadOnlyList<string>> DocumentsOwnedByAsync(string tenantId, string apiKeyId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.DocumentPermissions.AsNoTracking()
            .Where(g => g.TenantId == tenantId && g.PrincipalType == Core.Authorization.PrincipalTypes.ApiKey && g.PrincipalId == apiKeyId
                        && g.Permission == Core.Authorization.DocumentActions.Owner)
            .Select(g => g.DocumentId).Distinct().OrderBy(d => d).ToListAsync(ct).ConfigureAwait(false);
    }
}
