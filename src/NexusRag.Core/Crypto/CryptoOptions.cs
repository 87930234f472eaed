using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Crypto;

/// <summary>
/// Encryption at rest (section <c>NexusRag:Crypto</c>; the seed's flat names). With <see cref="Enabled"/> every sensitive
/// artefact (document originals, chunk text, session messages, stored idempotent responses, index snapshots) is sealed
/// with AES-256-GCM under the tenant's current data key, itself wrapped by the key-encryption key of
/// <see cref="Provider"/>.
/// </summary>
public sealed class CryptoOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Crypto";
    public static readonly string[] Providers = ["local_kms", "aws_kms"];

    [FlatName("CRYPTO_ENABLED")] public bool Enabled { get; set; }
    /// <summary><c>local_kms</c> (the master key in <see cref="LocalMasterKey"/>) or <c>aws_kms</c> (AWS KMS or a service speaking its API).</summary>
    [FlatName("CRYPTO_PROVIDER")] public string Provider { get; set; } = "local_kms";
    /// <summary>32 bytes, base64 or hex: the key-encryption key of <c>local_kms</c>.</summary>
    [FlatName("CRYPTO_LOCAL_MASTER_KEY")] public string? LocalMasterKey { get; set; }
    /// <summary>
    /// Sensitive data is never written in plaintext: when no data key can be had, a write is refused with
    /// <c>ENCRYPTION_REQUIRED</c> even under <c>CRYPTO_FAIL_MODE=open</c>. Defaults to <see cref="Enabled"/>.
    /// </summary>
    [FlatName("CRYPTO_REQUIRE_ENCRYPTION_FOR_SENSITIVE")] public bool? RequireEncryptionForSensitive { get; set; }
    /// <summary>The KMS key (alias or id) data keys are wrapped with.</summary>
    [FlatName("CRYPTO_DEFAULT_KEY_ALIAS")] public string DefaultKeyAlias { get; set; } = "alias/nexusrag";
    /// <summary>A tenant data key older than this is rotated (and the tenant re-encrypted) by the scheduled <c>crypto_rotate_due</c> task.</summary>
    [Range(1, 3650)] [FlatName("CRYPTO_ROTATION_INTERVAL_DAYS")] public int RotationIntervalDays { get; set; } = 90;
    /// <summary><c>closed</c> (default): no key, no write (503 <c>KMS_UNAVAILABLE</c>). <c>open</c> (not in prod): writes go in plaintext and are encrypted later.</summary>
    [FlatName("CRYPTO_FAIL_MODE")] public string FailMode { get; set; } = "closed";
    /// <summary>How long an unwrapped data key is kept in memory (a KMS outage shorter than this goes unnoticed).</summary>
    [Range(1, 86400)] [FlatName("CRYPTO_KEY_CACHE_SECONDS")] public int KeyCacheSeconds { get; set; } = 300;
    /// <summary>Rows re-encrypted per transaction by a rotation job.</summary>
    [Range(1, 100000)] [FlatName("CRYPTO_REENCRYPT_BATCH_SIZE")] public int ReencryptBatchSize { get; set; } = 500;
    /// <summary>AWS KMS endpoint (a regional endpoint, a VPC endpoint or a local KMS-compatible service); empty: the SDK's default for the region.</summary>
    [FlatName("CRYPTO_AWS_KMS_ENDPOINT")] public string? AwsKmsEndpoint { get; set; }
    [FlatName("CRYPTO_AWS_REGION")] public string AwsRegion { get; set; } = "us-east-1";

    public bool RequireForSensitive => RequireEncryptionForSensitive ?? Enabled;
    public bool FailClosed => FailMode != "open";

    public List<string> ParseErrors { get; } = [];
}

/// <summary>The seed's crypto error codes.</summary>
public static class CryptoErrorCodes
{
    public const string EncryptionRequired = "ENCRYPTION_REQUIRED";
    public const string KmsUnavailable = "KMS_UNAVAILABLE";
    public const string KeyRotationInProgress = "KEY_ROTATION_IN_PROGRESS";
    public const string KeyRotationFailed = "KEY_ROTATION_FAILED";
    public const string KeyNotActive = "KEY_NOT_ACTIVE";
    public const string DecryptionFailed = "DECRYPTION_FAILED";
    public const string CryptoPolicyDenied = "CRYPTO_POLICY_DENIED";
    public const string KeyringNotConfigured = "KEYRING_NOT_CONFIGURED";
    public const string KeyringDisabled = "KEYRING_DISABLED";
}

public static class CryptoErrors
{
    public static Errors.NexusException KmsUnavailable(string detail) =>
        new(Errors.ErrorKind.Unavailable, CryptoErrorCodes.KmsUnavailable, $"The key management service is unavailable: {detail}");

    public static Errors.NexusException EncryptionRequired(string detail) =>
        new(Errors.ErrorKind.Unavailable, CryptoErrorCodes.EncryptionRequired, $"Sensitive data must be encrypted and no data key is available: {detail}");

    public static Errors.NexusException DecryptionFailed(string what) =>
        new(Errors.ErrorKind.Internal, CryptoErrorCodes.DecryptionFailed, $"Stored data does not decrypt ({what}): it was altered or moved, or its key is not this one");

    public static Errors.NexusException PolicyDenied(string message) =>
        new(Errors.ErrorKind.Forbidden, CryptoErrorCodes.CryptoPolicyDenied, message);
}

/// <summary>Table and field names bound into sealed values' associated data.</summary>
public static class CryptoFields
{
    public const string Chunks = "chunks";
    public const string Messages = "messages";
    public const string Idempotency = "idempotency";
    public const string Text = "text";
    public const string Content = "content";
    public const string Metadata = "metadata_json";
    public const string Body = "body";
}
