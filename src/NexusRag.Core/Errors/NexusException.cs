namespace NexusRag.Core.Errors;

/// <summary>What kind of failure an error is; each transport maps kinds its own way (HTTP statuses, MCP errors, …).</summary>
public enum ErrorKind
{
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Validation,
    PayloadTooLarge,
    UnsupportedMediaType,
    QuotaExceeded,
    RateLimited,
    /// <summary>A dependency or the service itself is (temporarily) unavailable; retry later.</summary>
    Unavailable,
    /// <summary>An upstream provider (embeddings, LLM) failed.</summary>
    UpstreamFailure,
    Internal,
}

/// <summary>
/// A typed error: its <see cref="Kind"/>, a stable machine code (the seed's error codes), a human message and optional
/// structured details. Core throws these and speaks no transport; the server maps the kind to a status in one place.
/// </summary>
public sealed class NexusException(ErrorKind kind, string code, string message, object? details = null)
    : Exception(message)
{
    public ErrorKind Kind { get; } = kind;
    public string Code { get; } = code;
    public object? Details { get; } = details;

    public static NexusException NotFound(string resource, string? id = null) =>
        new(ErrorKind.NotFound, ErrorCodes.NotFound, $"{resource} not found", new Dictionary<string, object?> { ["resource"] = resource, ["id"] = id });

    public static NexusException Validation(IReadOnlyDictionary<string, string[]> fields) =>
        new(ErrorKind.Validation, ErrorCodes.ValidationError,
            "Request validation failed: " + string.Join("; ", fields.Select(f => $"{f.Key} {string.Join(", ", f.Value)}")),
            new Dictionary<string, object?> { ["fields"] = fields });

    public static NexusException Validation(string field, string problem) =>
        Validation(new Dictionary<string, string[]> { [field] = [problem] });

    public static NexusException Conflict(string code, string message, object? details = null) => new(ErrorKind.Conflict, code, message, details);
}

/// <summary>Stable error codes of the public API (seed 001 plus the ones this product adds).</summary>
public static class ErrorCodes
{
    public const string Unauthorized = "AUTH_UNAUTHORIZED";
    public const string ExpiredKey = "AUTH_EXPIRED_KEY";
    public const string RevokedKey = "AUTH_REVOKED_KEY";
    /// <summary>The key was not used for AUTH_API_KEY_INACTIVE_DAYS (with AUTH_API_KEY_INACTIVE_ENFORCED=true).</summary>
    public const string InactiveKey = "AUTH_INACTIVE_KEY";
    public const string Forbidden = "FORBIDDEN";
    public const string NotFound = "NOT_FOUND";
    public const string MethodNotAllowed = "METHOD_NOT_ALLOWED";
    public const string PayloadTooLarge = "PAYLOAD_TOO_LARGE";
    public const string UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE";
    public const string InvalidJson = "INVALID_JSON";
    public const string UnknownField = "UNKNOWN_FIELD";
    public const string ValidationError = "VALIDATION_ERROR";
    public const string TenantIdNotAllowed = "TENANT_ID_NOT_ALLOWED";
    public const string InvalidCursor = "INVALID_CURSOR";
    public const string InternalError = "INTERNAL_ERROR";
    public const string BadRequest = "BAD_REQUEST";
    public const string DocumentInFlight = "DOCUMENT_IN_FLIGHT";
    public const string DocumentExists = "DOCUMENT_EXISTS";
    public const string CorpusExists = "CORPUS_EXISTS";
    public const string CorpusBusy = "CORPUS_HAS_DOCUMENTS_IN_FLIGHT";
    public const string UnknownProvider = "UNKNOWN_RETRIEVAL_PROVIDER";
    public const string ServiceUnavailable = "SERVICE_UNAVAILABLE";
    /// <summary>A bulkhead is full (RUN_MAX_CONCURRENCY, INGEST_API_MAX_CONCURRENCY): retry after Retry-After.</summary>
    public const string ServiceBusy = "SERVICE_BUSY";
    /// <summary>The server is shutting down; the stream was ended before it finished.</summary>
    public const string ShuttingDown = "SERVICE_SHUTTING_DOWN";
    public const string EmbeddingModelMismatch = "EMBEDDING_MODEL_MISMATCH";
    public const string EmbeddingProviderError = "EMBEDDING_PROVIDER_ERROR";
    public const string SessionTenantMismatch = "SESSION_TENANT_MISMATCH";
    public const string LlmProviderError = "LLM_PROVIDER_ERROR";
    public const string DbUnavailable = "DB_UNAVAILABLE";
    public const string RedisUnavailable = "REDIS_UNAVAILABLE";
    public const string RateLimited = "RATE_LIMITED";
    public const string FeatureDisabled = "FEATURE_DISABLED";
    public const string FeatureNotEnabled = "FEATURE_NOT_ENABLED";
    public const string QuotaExceeded = "QUOTA_EXCEEDED";
    public const string IdempotencyKeyConflict = "IDEMPOTENCY_KEY_CONFLICT";
    public const string IdempotencyKeyInvalid = "IDEMPOTENCY_KEY_INVALID";
    public const string RateLimitUnavailable = "RATE_LIMIT_UNAVAILABLE";
}
