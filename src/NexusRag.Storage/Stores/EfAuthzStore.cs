using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Auth;
using NexusRag.Core.Authorization;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfAuthzStore(IDbContextFactory<NexusDbContext> factory, SqliteHotReads hot) : IAuthzStore
{
    // Compiled once per store (each store serves one provider's model; EF must not share a compiled query across
    // providers in one process): every document read and search asks for the tenant's policies.
    private readonly Func<NexusDbContext, string, IAsyncEnumerable<AuthzPolicyRow>> _ofTenant =
        EF.CompileAsyncQuery((NexusDbContext db, string tenantId) => db.AuthzPolicies.AsNoTracking().Where(p => p.TenantId == tenantId));

    public async Task<IReadOnlyList<AuthzPolicy>> PoliciesAsync(string tenantId, CancellationToken ct)
    {
        List<AuthzPolicyRow> rows;
        if (hot.Enabled) rows = hot.Policies(tenantId);
        else
        {
            await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
            rows = [];
            await foreach (var row in _ofTenant(db, tenantId).WithCancellation(ct).ConfigureAwait(false)) rows.Add(row);
        }
        return rows.OrderByDescending(p => p.Priority).ThenBy(p => p.Name, StringComparer.Ordinal).Select(Map).ToList();
    }

    public async Task<AuthzPolicy?> GetPolicyAsync(string tenantId, string policyId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.AuthzPolicies.AsNoTracking().SingleOrDefaultAsync(p => p.TenantId == tenantId && p.Id == policyId, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task AddPolicyAsync(AuthzPolicy p, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.AuthzPolicies.Add(new AuthzPolicyRow
        {
            Id = p.Id, TenantId = p.TenantId, Name = p.Name, Effect = p.Effect, ResourceType = p.ResourceType, Action = p.Action,
            Priority = p.Priority, ConditionJson = p.ConditionJson, Enabled = p.Enabled, CreatedAt = p.CreatedAt, UpdatedAt = p.UpdatedAt,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<bool> UpdatePolicyAsync(AuthzPolicy p, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.AuthzPolicies.Where(r => r.TenantId == p.TenantId && r.Id == p.Id).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Name, p.Name).SetProperty(r => r.Effect, p.Effect).SetProperty(r => r.ResourceType, p.ResourceType)
            .SetProperty(r => r.Action, p.Action).SetProperty(r => r.Priority, p.Priority).SetProperty(r => r.ConditionJson, p.ConditionJson)
            .SetProperty(r => r.Enabled, p.Enabled).SetProperty(r => r.UpdatedAt, p.UpdatedAt), ct).ConfigureAwait(false) == 1;
    }

    public async Task<bool> DeletePolicyAsync(string tenantId, string policyId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.AuthzPolicies.Where(r => r.TenantId == tenantId && r.Id == policyId).ExecuteDeleteAsync(ct).ConfigureAwait(false) == 1;
    }

    public async Task<IReadOnlyList<DocumentGrant>> GrantsAsync(string tenantId, string documentId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.DocumentPermissions.AsNoTracking().Where(g => g.TenantId == tenantId && g.DocumentId == documentId)
            .ToListAsync(ct).ConfigureAwait(false);
        return rows.OrderBy(g => g.CreatedAt).ThenBy(g => g.Id, StringComparer.Ordinal).Select(Map).ToList();
    }

    public Task AddGrantAsync(DocumentGrant g, CancellationToken ct) => AddGrantsAsync([g], ct);

    public async Task AddGrantsAsync(IReadOnlyList<DocumentGrant> grants, CancellationToken ct)
    {
        if (grants.Count == 0) return;
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.DocumentPermissions.AddRange(grants.Select(g => new DocumentPermissionRow
        {
            Id = g.Id, TenantId = g.TenantId, DocumentId = g.DocumentId, PrincipalType = g.PrincipalType, PrincipalId = g.PrincipalId,
            Permission = g.Permission, ExpiresAt = g.ExpiresAt, CreatedAt = g.CreatedAt, CreatedBy = g.CreatedBy,
        }));
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<bool> DeleteGrantAsync(string tenantId, string documentId, string grantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.DocumentPermissions.Where(g => g.TenantId == tenantId && g.DocumentId == documentId && g.Id == grantId)
            .ExecuteDeleteAsync(ct).ConfigureAwait(false) == 1;
    }

    public async Task<IReadOnlyDictionary<string, string>> GrantedDocumentsAsync(AuthzSubject s, string? corpusId, DateTime now, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var roles = Enum.TryParse<Role>(s.Role, true, out var held)
            ? Enum.GetValues<Role>().Where(r => r <= held).Select(r => r.ToString().ToLowerInvariant()).ToList()
            : [];
        var apiKey = s.ApiKeyId ?? "";
        var user = s.UserId ?? "";
        var groups = s.Groups.ToList();
        var q = db.DocumentPermissions.AsNoTracking().Where(g => g.TenantId == s.TenantId && (g.ExpiresAt == null || g.ExpiresAt > now) &&
            ((g.PrincipalType == PrincipalTypes.ApiKey && g.PrincipalId == apiKey) ||
             (g.PrincipalType == PrincipalTypes.User && g.PrincipalId == user) ||
             (g.PrincipalType == PrincipalTypes.Role && roles.Contains(g.PrincipalId)) ||
             (g.PrincipalType == PrincipalTypes.Group && groups.Contains(g.PrincipalId))));
        if (corpusId is not null)
            q = q.Where(g => db.Documents.Any(d => d.TenantId == g.TenantId && d.Id == g.DocumentId && d.CorpusId == corpusId));
        var rows = await q.Select(g => new { g.DocumentId, g.Permission }).ToListAsync(ct).ConfigureAwait(false);
        return rows.GroupBy(r => r.DocumentId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(x => x.Permission).MaxBy(DocumentActions.Rank)!, StringComparer.Ordinal);
    }

    public async Task<IReadOnlyDictionary<string, string>> LabeledDocumentsAsync(string tenantId, string? corpusId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var q = db.Documents.AsNoTracking().Where(d => d.TenantId == tenantId && d.LabelsJson != null);
        if (corpusId is not null) q = q.Where(d => d.CorpusId == corpusId);
        return await q.Select(d => new { d.Id, d.LabelsJson }).ToDictionaryAsync(d => d.Id, d => d.LabelsJson!, StringComparer.Ordinal, ct).ConfigureAwait(false);
    }

    private static AuthzPolicy Map(AuthzPolicyRow r) =>
        new(r.Id, r.TenantId, r.Name, r.Effect, r.ResourceType, r.Action, r.Priority, r.ConditionJson, r.Enabled, r.CreatedAt, r.UpdatedAt);

    private static DocumentGrant Map(DocumentPermissionRow r) =>
        new(r.Id, r.TenantId, r.DocumentId, r.PrincipalType, r.PrincipalId, r.Permission, r.ExpiresAt, r.CreatedAt, r.CreatedBy);
}
