using System.Security.Cryptography;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;

namespace NexusRag.Server.Http;

/// <summary>
/// <c>Idempotency-Key</c> on write endpoints (seed "Idempotency"; <c>IDEMPOTENCY_ENABLED</c>, default true): the first
/// request's response is kept 24 h; the same key and payload replays it with <c>Idempotency-Replayed: true</c>; another
/// payload is 409 <c>IDEMPOTENCY_KEY_CONFLICT</c>; a key over 128 characters is 400 <c>IDEMPOTENCY_KEY_INVALID</c>;
/// concurrent requests with one key run once (the others wait and replay). Keys are scoped per tenant. Failures (5xx,
/// exceptions) are not kept, so a retry runs again. Only endpoints that declare <see cref="IdempotentWrite"/> take part (not <c>/v1/run</c>, a stream, nor <c>/v1/search</c>, a read).
/// </summary>
public sealed class IdempotencyMiddleware(RequestDelegate next, IIdempotencyStore store, Microsoft.Extensions.Options.IOptions<IdempotencyOptions> options,
    Core.Crypto.DataKeyService dataKeys, ILogger<IdempotencyMiddleware> logger)
{
    /// <summary>A stored body sealed with the tenant's data key starts with this and the key version (API bodies are JSON: they never do).</summary>
    private static readonly byte[] SealedMagic = "NXIDM1"u8.ToArray();
    public const string Header = "Idempotency-Key";
    private static readonly TimeSpan Retention = TimeSpan.FromHours(24);
    private static readonly TimeSpan LockTtl = TimeSpan.FromMinutes(2);
    private readonly bool _enabled = options.Value.Enabled;

    public async Task InvokeAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "";
        if (!_enabled || !ctx.Request.Headers.TryGetValue(Header, out var values) || ctx.GetEndpoint()?.Metadata.GetMetadata<IdempotentWrite>() is null
            || ctx.TryGetPrincipal() is not { } principal)
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        var key = values.ToString();
        if (key.Length is 0 or > 128 || key.Any(char.IsControl))
            throw new NexusException(ErrorKind.BadRequest, ErrorCodes.IdempotencyKeyInvalid, "Idempotency-Key must be 1-128 printable characters",
                new Dictionary<string, object?> { ["length"] = key.Length });

        // The payload's fingerprint: method, path, query and the exact body bytes.
        ctx.Request.EnableBuffering();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{ctx.Request.Method} {path}{ctx.Request.QueryString}\n"));
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted).ConfigureAwait(false)) > 0) sha.AppendData(buffer, 0, read);
        ctx.Request.Body.Position = 0;
        var hash = Convert.ToHexStringLower(sha.GetHashAndReset());
        var scoped = $"{principal.TenantId}:{key}";

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var claim = await store.TryBeginAsync(scoped, hash, LockTtl, ctx.RequestAborted).ConfigureAwait(false);
            switch (claim.Outcome)
            {
                case IdempotencyOutcome.Replay:
                    ctx.Response.StatusCode = claim.Response!.Status;
                    if (claim.Response.ContentType is { } type) ctx.Response.ContentType = type;
                    ctx.Response.Headers["Idempotency-Replayed"] = "true";
                    await ctx.Response.Body.WriteAsync(await OpenAsync(principal.TenantId, scoped, claim.Response.Body, ctx.RequestAborted).ConfigureAwait(false),
                        ctx.RequestAborted).ConfigureAwait(false);
                    return;
                case IdempotencyOutcome.Conflict:
                    throw NexusException.Conflict(ErrorCodes.IdempotencyKeyConflict, "Idempotency-Key was already used with a different payload",
                        new Dictionary<string, object?> { ["idempotency_key"] = Text.Clip(key, 128) });
                case IdempotencyOutcome.InProgress:
                    if (DateTime.UtcNow > deadline)
                        throw NexusException.Conflict(ErrorCodes.IdempotencyKeyConflict, "A request with this Idempotency-Key is still running; retry later");
                    await Task.Delay(25, ctx.RequestAborted).ConfigureAwait(false);
                    continue;
            }
            break;
        }

        var original = ctx.Response.Body;
        using var captured = new MemoryStream();
        ctx.Response.Body = captured;
        var kept = false;
        try
        {
            await next(ctx).ConfigureAwait(false);
            if (ctx.Response.StatusCode < 500 && await SealAsync(principal.TenantId, scoped, captured.ToArray()).ConfigureAwait(false) is { } body)
            {
                await store.CompleteAsync(scoped, hash, new StoredResponse(ctx.Response.StatusCode, ctx.Response.ContentType, body),
                    Retention, CancellationToken.None).ConfigureAwait(false);
                kept = true;
            }
        }
        finally
        {
            ctx.Response.Body = original;
            if (!kept)
            {
                try { await store.AbandonAsync(scoped, hash, CancellationToken.None).ConfigureAwait(false); }
                catch (Exception ex) when (ex is Core.Ports.SharedStateUnavailableException) { logger.LogWarning("Idempotency claim not released: {Error}", ex.Message); }
            }
        }
        captured.Position = 0;
        await captured.CopyToAsync(original, ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The response as it is kept: sealed with the tenant's key when encryption is on; null when it cannot be (the KMS is out: nothing is kept, the request is not replayable).</summary>
    private async Task<byte[]?> SealAsync(string tenantId, string scoped, byte[] body)
    {
        Core.Crypto.TenantCipher cipher;
        try { cipher = await dataKeys.ForWriteAsync(tenantId, CancellationToken.None).ConfigureAwait(false); }
        catch (NexusException ex)
        {
            logger.LogWarning("Idempotent response not kept: {Error}", ex.Message);
            return null;
        }
        if (cipher.WriteVersion is not { } v) return body;
        var sealedBody = cipher.SealBytes(Core.Crypto.CryptoFields.Idempotency, Core.Crypto.CryptoFields.Body, scoped, body);
        var output = new byte[SealedMagic.Length + 2 + sealedBody.Length];
        SealedMagic.CopyTo(output, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(output.AsSpan(SealedMagic.Length), (ushort)v);
        sealedBody.CopyTo(output, SealedMagic.Length + 2);
        return output;
    }

    private async Task<byte[]> OpenAsync(string tenantId, string scoped, byte[] stored, CancellationToken ct)
    {
        if (stored.Length < SealedMagic.Length + 2 || !stored.AsSpan(0, SealedMagic.Length).SequenceEqual(SealedMagic)) return stored;
        var v = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(stored.AsSpan(SealedMagic.Length));
        var cipher = await dataKeys.ForReadAsync(tenantId, [v], ct).ConfigureAwait(false);
        return cipher.OpenBytes(Core.Crypto.CryptoFields.Idempotency, Core.Crypto.CryptoFields.Body, scoped, stored[(SealedMagic.Length + 2)..], v);
    }
}
