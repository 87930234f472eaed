using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;

namespace NexusRag.Core.DataGovernance;

/// <summary>
/// Legal holds: an active hold on a tenant, document, session, user key or backup set supersedes retention and refuses
/// every destructive request on what it covers (409 <c>LEGAL_HOLD_ACTIVE</c>): document and corpus deletion, DSAR
/// delete and anonymize, backup pruning. A tenant hold covers everything of the tenant.
/// </summary>
public sealed class LegalHolds(IGovernanceStore store, IAuditLog audit, Transactions.IUnitOfWork uow, TimeProvider clock)
{
    public async Task<LegalHold> PlaceAsync(Principal principal, string tenantId, string scopeType, string scopeId, string reason, string? requestId, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (!HoldScopes.All.Contains(scopeType)) errors["scope_type"] = [$"must be one of {string.Join(", ", HoldScopes.All)}"];
        if (string.IsNullOrWhiteSpace(scopeId) || scopeId.Length > 200) errors["scope_id"] = ["must be 1-200 characters"];
        if (scopeType == HoldScopes.Tenant && scopeId != tenantId) errors["scope_id"] = ["must be the tenant's own id for a tenant hold"];
        if (string.IsNullOrWhiteSpace(reason) || reason.Length > 1000) errors["reason"] = ["must be 1-1000 characters"];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var hold = new LegalHold(Services.Identifiers.NewId("hold"), tenantId, scopeType, scopeId.Trim(), reason.Trim(), "active", principal.ActorId,
            clock.GetUtcNow().UtcDateTime, null, null);
        await uow.RunAsync(async c =>
        {
            await store.AddHoldAsync(hold, c).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(tenantId, "governance.legal_hold.placed", "success", principal.ActorType, principal.ActorId, "legal_hold", hold.Id, requestId,
                new Dictionary<string, object?> { ["scope_type"] = scopeType, ["scope_id"] = hold.ScopeId, ["reason"] = hold.Reason }), c).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
        return hold;
    }

    public async Task<LegalHold> ReleaseAsync(Principal principal, string tenantId, string holdId, string? requestId, CancellationToken ct)
    {
        var hold = await store.GetHoldAsync(tenantId, holdId, ct).ConfigureAwait(false) ?? throw NexusException.NotFound("legal_hold", holdId);
        if (!hold.Active) throw NexusException.Conflict("LEGAL_HOLD_RELEASED", $"Legal hold '{holdId}' was already released");
        var now = clock.GetUtcNow().UtcDateTime;
        await uow.RunAsync(async c =>
        {
            if (!await store.ReleaseHoldAsync(tenantId, holdId, principal.ActorId, now, c).ConfigureAwait(false))
                throw NexusException.Conflict("LEGAL_HOLD_RELEASED", $"Legal hold '{holdId}' was already released");
            await audit.AppendAsync(new AuditEntry(tenantId, "governance.legal_hold.released", "success", principal.ActorType, principal.ActorId, "legal_hold", holdId, requestId,
                new Dictionary<string, object?> { ["scope_type"] = hold.ScopeType, ["scope_id"] = hold.ScopeId }), c).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
        return hold with { Status = "released", ReleasedBy = principal.ActorId, ReleasedAt = now };
    }

    /// <summary>The tenant's active holds, looked up by scope; a user-key hold covers the documents that key created.</summary>
    public async Task<HoldSet> ActiveAsync(string tenantId, CancellationToken ct)
    {
        var holds = await store.ListHoldsAsync(tenantId, activeOnly: true, ct).ConfigureAwait(false);
        var owned = new Dictionary<string, LegalHold>(StringComparer.Ordinal);
        foreach (var keyHold in holds.Where(h => h.ScopeType == HoldScopes.UserKey))
            foreach (var doc in await store.DocumentsOwnedByAsync(tenantId, keyHold.ScopeId, ct).ConfigureAwait(false))
                owned.TryAdd(doc, keyHold);
        return new HoldSet(holds, owned);
    }

    /// <summary>Refuses (409 <c>LEGAL_HOLD_ACTIVE</c>) when a hold covers the document: the tenant, the document, or the key that created it.</summary>
    public async Task EnsureDocumentNotHeldAsync(string tenantId, string documentId, CancellationToken ct)
    {
        if ((await ActiveAsync(tenantId, ct).ConfigureAwait(false)).CoveringDocument(documentId) is { } hold) throw Held(hold);
    }

    /// <summary>Refuses (409 <c>LEGAL_HOLD_ACTIVE</c>) when an active hold covers any of <paramref name="scopes"/> or the whole tenant.</summary>
    public async Task EnsureNotHeldAsync(string tenantId, CancellationToken ct, params (string Type, string Id)[] scopes)
    {
        if ((await ActiveAsync(tenantId, ct).ConfigureAwait(false)).Covering(scopes) is { } hold) throw Held(hold);
    }

    public static NexusException Held(LegalHold hold) =>
        NexusException.Conflict(GovernanceErrorCodes.LegalHoldActive, $"An active legal hold ({hold.ScopeType} '{hold.ScopeId}') forbids this",
            new Dictionary<string, object?> { ["hold_id"] = hold.Id, ["scope_type"] = hold.ScopeType, ["scope_id"] = hold.ScopeId });
}

/// <summary>A tenant's active holds, with the documents that user-key holds cover.</summary>
public sealed class HoldSet(IReadOnlyList<LegalHold> holds, IReadOnlyDictionary<string, LegalHold> documentsOfHeldKeys)
{
    public IReadOnlyList<LegalHold> All => holds;
    public LegalHold? Tenant => holds.FirstOrDefault(h => h.ScopeType == HoldScopes.Tenant);
    public IReadOnlySet<string> Ids(string scopeType) => holds.Where(h => h.ScopeType == scopeType).Select(h => h.ScopeId).ToHashSet();

    /// <summary>Every document a hold names, directly or through the key that created it, with that hold.</summary>
    public IEnumerable<(string DocumentId, LegalHold Hold)> HeldDocuments =>
        holds.Where(h => h.ScopeType == HoldScopes.Document).Select(h => (h.ScopeId, h)).Concat(documentsOfHeldKeys.Select(kv => (kv.Key, kv.Value)));

    /// <summary>The hold that keeps a document: the tenant's, the document's own, or one on the key that created it.</summary>
    public LegalHold? CoveringDocument(string documentId) =>
        Covering([(HoldScopes.Document, documentId)]) ?? documentsOfHeldKeys.GetValueOrDefault(documentId);

    public LegalHold? Covering(IEnumerable<(string Type, string Id)> scopes) =>
        Tenant ?? scopes.Select(s => holds.FirstOrDefault(h => h.ScopeType == s.Type && h.ScopeId == s.Id)).FirstOrDefault(h => h is not null);
}
