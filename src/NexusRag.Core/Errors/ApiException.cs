namespace NexusRag.Core.Errors;

/// <summary>
/// An error that maps onto the public error envelope: an HTTP status, a stable machine code,
/// a human message and optional structured details. Thrown anywhere below the HTTP layer.
/// </summary>
public sealed class ApiException(int status, string code, string message, object? details = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public object? Details { get; } = details;

    public static ApiException NotFound(string resource, string? id = null) =>
        new(404, ErrorCodes.NotFound, $"{resource} not found", new Dictionary<string, object?> { ["resource"] = resource, ["id"] = id });

    public static ApiException Validation(IReadOnlyDictionary<string, string[]> fields) =>
        new(422, ErrorCodes.ValidationError,
            "Request validation failed: " + string.Join("; ", fields.Select(f => $"{f.Key} {string.Join(", ", f.Value)}")),
            new Dictionary<string, object?> { ["fields"] = fields });

    public static ApiException Validation(string field, string problem) =>
        Validation(new Dictionary<string, string[]> { [field] = [problem] });

    public static ApiException Conflict(string code, string message, object? details = null) => new(409, code, message, details);
}

/// <summary>Stable error codes of the public API (seed 001 plus the ones this product adds).</summary>
public static class ErrorCodes
{
    public const string Unauthorized = "AUTH_UNAUTHORIZED";
    public const string ExpiredKey = "AUTH_EXPIRED_KEY";
    public const string RevokedKey = "AUTH_REVOKED_KEY";
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
