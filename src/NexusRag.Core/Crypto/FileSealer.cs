namespace NexusRag.Core.Crypto;

/// <summary>
/// Seals platform files that hold content of every tenant (the search-index snapshot) with the platform's data key
/// (tenant <c>_platform</c>): AES-256-GCM in <see cref="ChunkedGcm"/>'s layout, magic <c>NXSNP1</c>. With encryption off,
/// files are written plain; a plain file is always read (one written before encryption was turned on).
/// </summary>
public interface IFileSealer
{
    /// <summary>A stream to write the file's plaintext into; disposing it completes the file and disposes <paramref name="output"/>.</summary>
    Task<Stream> SealAsync(Stream output, string purpose, CancellationToken ct);
    /// <summary>The plaintext of a file written by <see cref="SealAsync"/> (sealed or not); <paramref name="input"/> must be seekable and is disposed with the result.</summary>
    Task<Stream> OpenAsync(Stream input, string purpose, CancellationToken ct);
}

public sealed class PlatformFileSealer(DataKeyService dataKeys) : IFileSealer
{
    private const string Magic = "NXSNP1";

    public async Task<Stream> SealAsync(Stream output, string purpose, CancellationToken ct)
    {
        try
        {
            var cipher = await dataKeys.ForWriteAsync(Auth.Principal.PlatformTenant, ct).ConfigureAwait(false);
            if (cipher.WriteVersion is not { } v) return output;
            return new GcmEncryptingStream(output, cipher.KeyOf(v), ChunkedGcm.NewHeader(Magic, v), Context(purpose));
        }
        catch
        {
            await output.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task<Stream> OpenAsync(Stream input, string purpose, CancellationToken ct)
    {
        try
        {
            input.Position = 0;
            var header = ChunkedGcm.ReadHeader(input);
            input.Position = 0;
            if (header?.Magic != Magic) return input;
            var cipher = await dataKeys.ForReadAsync(Auth.Principal.PlatformTenant, [header.KeyVersion], ct).ConfigureAwait(false);
            return new GcmDecryptingStream(input, cipher.KeyOf(header.KeyVersion), Context(purpose));
        }
        catch
        {
            await input.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static string Context(string purpose) => "platform-file:" + purpose;
}
