using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace NexusRag.Tests.Infrastructure;

/// <summary>
/// A local HTTP server on a real loopback port speaking AWS KMS's JSON 1.1 protocol (<c>POST /</c> with
/// <c>X-Amz-Target: TrentService.Encrypt</c> / <c>TrentService.Decrypt</c>, <c>application/x-amz-json-1.1</c>, errors as
/// <c>{"__type", "message"}</c>), as the official AWS SDK calls it. It insists on a SigV4 <c>Authorization</c> header and
/// on the encryption context given at encrypt time being given again at decrypt time, like KMS. <see cref="Down"/>
/// makes it answer 503 (a KMS outage).
/// </summary>
public sealed class FakeAwsKmsServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    public string Url { get; }
    public bool Down { get; set; }
    public ConcurrentQueue<string> Calls { get; } = new();

    private FakeAwsKmsServer(WebApplication app, string url) => (_app, Url) = (app, url);

    public static async Task<FakeAwsKmsServer> StartAsync()
    {
        FakeAwsKmsServer? self = null;
        var (app, address) = await LoopbackServer.StartAsync(a => a.MapPost("/", async (HttpContext ctx) => await self!.HandleAsync(ctx)));
        self = new FakeAwsKmsServer(app, address);
        return self;
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var target = ctx.Request.Headers["X-Amz-Target"].ToString();
        Calls.Enqueue(target);
        if (Down)
        {
            await Error(ctx, 503, "KMSInternalException", "service unavailable");
            return;
        }
        if (!ctx.Request.Headers.Authorization.ToString().StartsWith("AWS4-HMAC-SHA256 ", StringComparison.Ordinal))
        {
            await Error(ctx, 400, "MissingAuthenticationTokenException", "Request is missing Authentication Token");
            return;
        }
        using var body = await JsonDocument.ParseAsync(ctx.Request.Body);
        var r = body.RootElement;
        var context = r.TryGetProperty("EncryptionContext", out var ec)
            ? string.Join("\n", ec.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Name + "=" + p.Value.GetString()))
            : "";
        const string arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        switch (target)
        {
            case "TrentService.Encrypt":
            {
                var plain = Convert.FromBase64String(r.GetProperty("Plaintext").GetString()!);
                var blob = new byte[12 + plain.Length + 16];
                RandomNumberGenerator.Fill(blob.AsSpan(0, 12));
                using (var gcm = new AesGcm(_key, 16))
                    gcm.Encrypt(blob.AsSpan(0, 12), plain, blob.AsSpan(12, plain.Length), blob.AsSpan(12 + plain.Length), Encoding.UTF8.GetBytes(context));
                await Json(ctx, new Dictionary<string, object> { ["CiphertextBlob"] = Convert.ToBase64String(blob), ["KeyId"] = arn, ["EncryptionAlgorithm"] = "SYMMETRIC_DEFAULT" });
                return;
            }
            case "TrentService.Decrypt":
            {
                var blob = Convert.FromBase64String(r.GetProperty("CiphertextBlob").GetString()!);
                var plain = new byte[Math.Max(0, blob.Length - 28)];
                try
                {
                    using var gcm = new AesGcm(_key, 16);
                    gcm.Decrypt(blob.AsSpan(0, 12), blob.AsSpan(12, plain.Length), blob.AsSpan(12 + plain.Length), plain, Encoding.UTF8.GetBytes(context));
                }
                catch (Exception ex) when (ex is AuthenticationTagMismatchException or ArgumentException)
                {
                    await Error(ctx, 400, "InvalidCiphertextException", "The ciphertext is invalid or the encryption context does not match");
                    return;
                }
                await Json(ctx, new Dictionary<string, object> { ["Plaintext"] = Convert.ToBase64String(plain), ["KeyId"] = arn, ["EncryptionAlgorithm"] = "SYMMETRIC_DEFAULT" });
                return;
            }
            default:
                await Error(ctx, 400, "UnknownOperationException", target);
                return;
        }
    }

    private static async Task Json(HttpContext ctx, object body)
    {
        ctx.Response.ContentType = "application/x-amz-json-1.1";
        ctx.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        await ctx.Response.WriteAsync(JsonSerializer.Serialize(body));
    }

    private static async Task Error(HttpContext ctx, int status, string type, string message)
    {
        ctx.Response.StatusCode = status;
        await Json(ctx, new Dictionary<string, object> { ["__type"] = type, ["message"] = message });
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
