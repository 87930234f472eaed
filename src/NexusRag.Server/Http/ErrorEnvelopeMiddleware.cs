using Microsoft.AspNetCore.Http.Features;
using NexusRag.Core.Errors;

namespace NexusRag.Server.Http;

/// <summary>
/// Turns every failure into the error envelope: thrown <see cref="NexusException"/>s, framework
/// <see cref="BadHttpRequestException"/>s (413, malformed requests), unhandled exceptions (500 without a
/// stack trace) and body-less error statuses produced by routing (404 unknown route, 405 wrong method).
/// </summary>
public sealed class ErrorEnvelopeMiddleware(RequestDelegate next, ILogger<ErrorEnvelopeMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        try
        {
            await next(ctx).ConfigureAwait(false);
        }
        catch (NexusException ex)
        {
            if (!await TryWrite(ctx, StatusOf(ex.Kind), ex.Code, ex.Message, ex.Details).ConfigureAwait(false)) throw;
            return;
        }
        catch (BadHttpRequestException ex)
        {
            var (code, message) = ex.StatusCode switch
            {
                413 => (ErrorCodes.PayloadTooLarge, "Request body too large"),
                415 => (ErrorCodes.UnsupportedMediaType, "Unsupported media type"),
                _ => (ErrorCodes.BadRequest, "Malformed request"),
            };
            if (!await TryWrite(ctx, ex.StatusCode, code, message, null).ConfigureAwait(false)) throw;
            return;
        }
        catch (InvalidDataException ex)
        {
            // Malformed multipart bodies and similar framework parse failures.
            if (!await TryWrite(ctx, 400, ErrorCodes.BadRequest, "Malformed request body: " + ex.Message, null).ConfigureAwait(false)) throw;
            return;
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            return; // the client went away
        }
        catch (Core.Ports.SharedStateUnavailableException ex)
        {
            // Fail closed: what needs cross-replica coordination is refused rather than done unsafely.
            logger.LogWarning("Shared state unavailable for {Method} {Path}: {Error}", ctx.Request.Method, ctx.Request.Path, ex.Message);
            if (!await TryWrite(ctx, 503, ErrorCodes.RedisUnavailable, "Shared state (Redis) is unavailable; retry shortly", null, retryAfter: "2").ConfigureAwait(false)) throw;
            return;
        }
        catch (Exception ex) when (Storage.DatabaseErrors.IsUnavailable(ex))
        {
            // The database is down or refusing connections: a retryable 503, not a 500; the pool reconnects by itself.
            logger.LogWarning("Database unavailable for {Method} {Path}: {Error}", ctx.Request.Method, ctx.Request.Path, ex.GetBaseException().Message);
            if (!await TryWrite(ctx, 503, ErrorCodes.DbUnavailable, "The database is unavailable; retry shortly", null, retryAfter: "2").ConfigureAwait(false)) throw;
            return;
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Unhandled exception for {Method} {Path}", ctx.Request.Method, ctx.Request.Path);
            if (!await TryWrite(ctx, 500, ErrorCodes.InternalError, "Internal server error", null).ConfigureAwait(false)) throw;
            return;
        }

        if (ctx.Response.StatusCode >= 400 && !ctx.Response.HasStarted && ctx.Response.ContentType is null
            && ctx.Response.ContentLength is null or 0)
        {
            var status = ctx.Response.StatusCode;
            var (code, message) = status switch
            {
                404 => (ErrorCodes.NotFound, "No such route"),
                405 => (ErrorCodes.MethodNotAllowed, $"Method {ctx.Request.Method} is not allowed on this route"),
                413 => (ErrorCodes.PayloadTooLarge, "Request body too large"),
                415 => (ErrorCodes.UnsupportedMediaType, "Unsupported media type"),
                401 => (ErrorCodes.Unauthorized, "Authentication required"),
                403 => (ErrorCodes.Forbidden, "Forbidden"),
                >= 500 => (ErrorCodes.InternalError, "Internal server error"),
                _ => (ErrorCodes.BadRequest, "Bad request"),
            };
            await ApiResults.WriteErrorAsync(ctx, status, code, message, null).ConfigureAwait(false);
        }
    }

    /// <summary>The one place where a typed error kind becomes an HTTP status.</summary>
    public static int StatusOf(ErrorKind kind) => kind switch
    {
        ErrorKind.BadRequest => StatusCodes.Status400BadRequest,
        ErrorKind.Unauthorized => StatusCodes.Status401Unauthorized,
        ErrorKind.QuotaExceeded => StatusCodes.Status402PaymentRequired,
        ErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.Conflict => StatusCodes.Status409Conflict,
        ErrorKind.PayloadTooLarge => StatusCodes.Status413PayloadTooLarge,
        ErrorKind.UnsupportedMediaType => StatusCodes.Status415UnsupportedMediaType,
        ErrorKind.Validation => StatusCodes.Status422UnprocessableEntity,
        ErrorKind.RateLimited => StatusCodes.Status429TooManyRequests,
        ErrorKind.UpstreamFailure => StatusCodes.Status502BadGateway,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    private static async Task<bool> TryWrite(HttpContext ctx, int status, string code, string message, object? details, string? retryAfter = null)
    {
        if (ctx.Response.HasStarted) return false;
        ctx.Response.Clear();
        ctx.Response.Headers[RequestIdMiddleware.Header] = RequestIdMiddleware.Get(ctx);
        if (retryAfter is not null) ctx.Response.Headers.RetryAfter = retryAfter;
        await ApiResults.WriteErrorAsync(ctx, status, code, message, details).ConfigureAwait(false);
        return true;
    }
}

/// <summary>
/// Caps request bodies (default 10 MiB, <c>MAX_REQUEST_BODY_BYTES</c>; file uploads <c>MAX_UPLOAD_BYTES</c> plus room for
/// the form fields): a declared Content-Length over the cap is refused before reading; a chunked body is cut off when it
/// crosses the cap. Both → 413. Runs after routing, so the endpoint's metadata decides which cap applies.
/// </summary>
public sealed class BodySizeLimitMiddleware(RequestDelegate next, Microsoft.Extensions.Options.IOptions<Hosting.NexusRagOptions> options,
    Microsoft.Extensions.Options.IOptions<Core.Ingestion.ExtractionOptions> extraction)
{
    /// <summary>What a multipart body may carry besides the file: boundaries, part headers and the small form fields.</summary>
    private const long FormOverheadBytes = 64 * 1024;

    public Task InvokeAsync(HttpContext ctx)
    {
        var max = ctx.GetEndpoint()?.Metadata.GetMetadata<FileUpload>() is not null
            ? extraction.Value.MaxUploadBytes + FormOverheadBytes
            : options.Value.MaxRequestBodyBytes;
        if (ctx.Request.ContentLength is { } len && len > max) throw TooLarge(max);
        var feature = ctx.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = max;
        ctx.Request.Body = new LimitedReadStream(ctx.Request.Body, max);
        return next(ctx);
    }

    internal static NexusException TooLarge(long max) =>
        new(ErrorKind.PayloadTooLarge, ErrorCodes.PayloadTooLarge, $"Request body exceeds the limit of {max} bytes", new Dictionary<string, object?> { ["max_bytes"] = max });

    private sealed class LimitedReadStream(Stream inner, long max) : Stream
    {
        private long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            Count(await inner.ReadAsync(buffer, ct).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        private int Count(int n)
        {
            _read += n;
            if (_read > max) throw TooLarge(max);
            return n;
        }
    }
}
