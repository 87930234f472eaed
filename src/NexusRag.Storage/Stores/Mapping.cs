using NexusRag.Core.Auth;
using NexusRag.Core.Corpora;
using NexusRag.Core.Documents;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

internal static class Mapping
{
    /// <summary>The <c>api_keys.role</c> value of platform-operator keys (never a tenant role).</summary>
    public const string OperatorRole = "operator";

    public static ApiKeyInfo ToInfo(this ApiKeyRow r) =>
        new(r.Id, r.TenantId, r.Name, Roles.TryParse(r.Role, out var role) ? role : Role.Reader, r.KeyPrefix,
            r.CreatedAt, r.ExpiresAt, r.RevokedAt, r.LastUsedAt, r.Role == OperatorRole);

    public static CorpusInfo ToInfo(this CorpusRow r) =>
        new(r.Id, r.TenantId, r.Name, r.ProviderConfigJson, r.CreatedAt, r.UpdatedAt,
            r.EmbeddingProvider is null || r.EmbeddingModel is null || r.EmbeddingDimensions is null
                ? null
                : new NexusRag.Core.Embeddings.EmbeddingIdentity(r.EmbeddingProvider, r.EmbeddingModel, r.EmbeddingDimensions.Value),
            r.ActiveIndexVersion);

    public static byte[] ToBlob(float[] vector)
    {
        var bytes = new byte[vector.Length * sizeof(float)];
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector.AsSpan()).CopyTo(bytes);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        return bytes;
    }

    public static float[]? FromBlob(byte[]? blob) =>
        blob is null ? null : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(blob.AsSpan()).ToArray();

    public static DocumentInfo ToInfo(this DocumentRow r) =>
        new(r.Id, r.TenantId, r.CorpusId, r.Filename, r.ContentType, r.SizeBytes, r.ContentSha256, r.Status, r.FailureReason,
            r.NumChunks, r.ChunkSizeChars, r.ChunkOverlapChars, r.MetadataJson, r.LastJobId, r.CreatedAt, r.UpdatedAt,
            r.QueuedAt, r.ProcessingStartedAt, r.CompletedAt, r.FailedAt, r.LastReindexedAt, r.ExtractionJson, r.LabelsJson, r.AnonymizedAt);

    public static Core.Jobs.Job ToInfo(this JobRow r) =>
        new(r.Id, r.TenantId, r.Kind, r.CorpusId, r.DocumentId, r.PayloadJson, r.Status, r.Attempts, r.MaxAttempts, r.AvailableAt,
            r.LeaseOwner, r.LeaseExpiresAt, r.LastError, r.CreatedAt);

    public static ChunkInfo ToInfo(this ChunkRow r) =>
        new(r.Id, r.TenantId, r.CorpusId, r.DocumentId, r.ChunkIndex, r.Text, r.StartOffset, r.EndOffset, r.MetadataJson, r.Seq, r.IndexVersion);
}
