using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Crypto;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class RotateKeyRequest
{
    public string? Reason { get; set; }
    public bool? Reencrypt { get; set; }
    public bool? Force { get; set; }
}

public sealed record DataKeyDto(int Version, string Status, string Provider, string KeyAlias, DateTime CreatedAt, DateTime? RotatedAt, DateTime? RetiredAt)
{
    public static DataKeyDto From(TenantDataKey k) => new(k.Version, k.Status, k.Provider, k.KeyAlias, k.CreatedAt, k.RotatedAt, k.RetiredAt);
}

public sealed record RotationJobDto(string JobId, string TenantId, int? FromVersion, int ToVersion, bool Reencrypt, string? Reason, string RequestedBy,
    string Status, string? QueueJobId, IReadOnlyDictionary<string, long> Reencrypted, IReadOnlyDictionary<string, long>? Pending, string? ErrorCode, string? Error,
    DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt)
{
    public static RotationJobDto From(KeyRotation r, IReadOnlyDictionary<string, long>? pending = null) => new(r.Id, r.TenantId, r.FromVersion, r.ToVersion, r.Reencrypt,
        r.Reason, r.RequestedBy, r.Status, r.JobId, r.Reencrypted, pending, r.ErrorCode, r.Error, r.CreatedAt, r.StartedAt, r.FinishedAt);
}

public sealed record TenantKeysDto(string TenantId, bool Enabled, string Provider, string KeyAlias, string FailMode, int RotationIntervalDays, int? ActiveVersion,
    IReadOnlyList<DataKeyDto> Keys, IReadOnlyDictionary<string, long>? Pending, RotationJobDto? Rotation);

/// <summary>
/// Encryption at rest (seed "Encryption &amp; Key Management", "Keyring admin APIs"): a tenant's data keys and their
/// rotation with re-encryption (its admin for its own tenant, the operator for any, and for <c>_platform</c>, whose key
/// seals the search-index snapshot), and the platform keyring (operator only).
/// </summary>
public static class CryptoApi
{
    public static IEndpointRouteBuilder MapCryptoApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/admin").WithTags("Encryption").WithAuditCategory("crypto");
        g.MapGet("/crypto/keys/{tenantId}", Keys).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<TenantKeysDto>>()
            .WithSummary("A tenant's data key versions, the rotation under way and how many items are not yet on the active key.");
        g.MapPost("/crypto/keys/{tenantId}/rotate", Rotate).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency()
            .Accepts<RotateKeyRequest>("application/json").Produces<Envelope<RotationJobDto>>(202)
            .WithSummary("Make a new data key version active; with reencrypt (default true) a job moves every sealed item onto it, online.");
        g.MapGet("/crypto/rotation-jobs/{jobId}", RotationJob).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<RotationJobDto>>();
        g.MapGet("/keyring", KeyringList).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<IReadOnlyList<KeyringKey>>>();
        g.MapPost("/keyring/rotate", KeyringRotate).RequireOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Produces<Envelope<KeyringKey>>(201)
            .WithSummary("A new active key for purpose=signing|encryption|backup_signing|backup_encryption|webhook_signing; the previous one verifies and decrypts only.");
        g.MapPost("/keyring/{keyId}/retire", KeyringRetire).RequireOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Produces<Envelope<KeyringKey>>();
        return app;
    }

    /// <summary>The tenant the caller may manage keys of: its own (a tenant admin), any tenant or the platform (the operator); anything else is 404.</summary>
    private static async Task<string> KeyTenantAsync(HttpContext ctx, string tenantId, IIdentityStore identity) =>
        tenantId == Principal.PlatformTenant && ctx.GetPrincipal().IsOperator ? tenantId : await ctx.TenantInScopeAsync(tenantId, identity);

    private static async Task<IResult> Keys(HttpContext ctx, string tenantId, IIdentityStore identity, DataKeyService dataKeys, IRotationStore rotations,
        KeyRotationService rotation)
    {
        var tenant = await KeyTenantAsync(ctx, tenantId, identity);
        var o = dataKeys.Options;
        var keys = await dataKeys.ListAsync(tenant, ctx.RequestAborted);
        var active = keys.FirstOrDefault(k => k.Status == DataKeyStatus.Active)?.Version;
        var pending = o.Enabled && active is { } v ? await rotation.PendingAsync(tenant, v, ctx.RequestAborted) : null;
        var open = await rotations.OpenForTenantAsync(tenant, ctx.RequestAborted);
        return ApiResults.Ok(ctx, new TenantKeysDto(tenant, o.Enabled, dataKeys.Kms.Provider, o.DefaultKeyAlias, o.FailMode, o.RotationIntervalDays, active,
            keys.Select(DataKeyDto.From).ToList(), pending, open is null ? null : RotationJobDto.From(open)));
    }

    private static async Task<IResult> Rotate(HttpContext ctx, string tenantId, IIdentityStore identity, KeyRotationService rotation)
    {
        var tenant = await KeyTenantAsync(ctx, tenantId, identity);
        var body = await JsonBody.ReadAsync<RotateKeyRequest>(ctx.Request, allowEmpty: true);
        if (body.Reason is { Length: > 500 }) throw NexusException.Validation("reason", "must be at most 500 characters");
        var r = await rotation.RotateAsync(ctx.GetPrincipal(), tenant, body.Reason?.Trim(), body.Reencrypt ?? true, body.Force ?? false, ctx.TraceIdentifier, ctx.RequestAborted);
        return ApiResults.Ok(ctx, RotationJobDto.From(r), StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> RotationJob(HttpContext ctx, string jobId, IRotationStore rotations, DataKeyService dataKeys, KeyRotationService rotation)
    {
        var p = ctx.GetPrincipal();
        // Another tenant's rotation does not exist for a tenant admin.
        if (await rotations.GetAsync(jobId, ctx.RequestAborted) is not { } r || (!p.IsOperator && r.TenantId != p.TenantId))
            throw NexusException.NotFound("rotation_job", jobId);
        var pending = RotationStatus.IsOpen(r.Status) && dataKeys.Enabled ? await rotation.PendingAsync(r.TenantId, r.ToVersion, ctx.RequestAborted) : null;
        return ApiResults.Ok(ctx, RotationJobDto.From(r, pending));
    }

    private static async Task<IResult> KeyringList(HttpContext ctx, IKeyringStore store) => ApiResults.Ok(ctx, await store.ListAsync(ctx.RequestAborted));

    private static async Task<IResult> KeyringRotate(HttpContext ctx, string? purpose, Keyring keyring, IAuditLog audit, Core.Transactions.IUnitOfWork uow)
    {
        if (string.IsNullOrWhiteSpace(purpose) || !KeyringPurposes.All.Contains(purpose))
            throw NexusException.Validation("purpose", $"must be one of {string.Join(", ", KeyringPurposes.All)}");
        // The new key, the previous one's demotion and the audit event commit together.
        var key = await uow.RunAsync(async c =>
        {
            var k = await keyring.NewKeyAsync(purpose, ctx.GetPrincipal().ActorId, c);
            await ctx.AuditForAsync(audit, Principal.PlatformTenant, "keyring.rotated", "keyring_key", k.Id, new() { ["purpose"] = purpose, ["fingerprint"] = k.Fingerprint });
            return k;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, key, StatusCodes.Status201Created);
    }

    private static async Task<IResult> KeyringRetire(HttpContext ctx, string keyId, Keyring keyring, IAuditLog audit)
    {
        var key = await keyring.RetireAsync(keyId, ctx.RequestAborted);
        await ctx.AuditForAsync(audit, Principal.PlatformTenant, "keyring.retired", "keyring_key", key.Id, new() { ["purpose"] = key.Purpose });
        return ApiResults.Ok(ctx, key);
    }
}
