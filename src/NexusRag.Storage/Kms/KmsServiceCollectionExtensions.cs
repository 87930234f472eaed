using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NexusRag.Core.Crypto;

namespace NexusRag.Storage.Kms;

public static class KmsServiceCollectionExtensions
{
    /// <summary>The key-encryption key provider <c>CRYPTO_PROVIDER</c> names: <c>local_kms</c> (built in) or <c>aws_kms</c>.</summary>
    public static IServiceCollection AddKeyManagement(this IServiceCollection services)
    {
        services.AddSingleton<LocalKms>();
        services.AddSingleton<AwsKms>();
        services.AddSingleton<IKeyManagementService>(sp => sp.GetRequiredService<IOptions<CryptoOptions>>().Value.Provider == "aws_kms"
            ? sp.GetRequiredService<AwsKms>()
            : sp.GetRequiredService<LocalKms>());
        return services;
    }
}

/// <summary>
/// AWS KMS (or any service speaking its API, at <c>CRYPTO_AWS_KMS_ENDPOINT</c>) through the official SDK: data keys are
/// wrapped with <c>Encrypt</c> and unwrapped with <c>Decrypt</c> under <c>CRYPTO_DEFAULT_KEY_ALIAS</c>, the tenant and key
/// version as the encryption context. Credentials come from the SDK's usual chain (environment, profile, instance role),
/// or <c>CRYPTO_AWS_ACCESS_KEY_ID</c>/<c>CRYPTO_AWS_SECRET_ACCESS_KEY</c> when set.
/// </summary>
public sealed class AwsKms(IOptions<CryptoOptions> options, IConfiguration config) : IKeyManagementService, IDisposable
{
    private readonly Lazy<AmazonKeyManagementServiceClient> _client = new(() =>
    {
        var o = options.Value;
        var c = new AmazonKeyManagementServiceConfig
        {
            Timeout = TimeSpan.FromSeconds(5), MaxErrorRetry = 1, AuthenticationRegion = o.AwsRegion,
        };
        if (o.AwsKmsEndpoint is { Length: > 0 } endpoint) c.ServiceURL = endpoint;
        else c.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(o.AwsRegion);
        return config["CRYPTO_AWS_ACCESS_KEY_ID"] is { Length: > 0 } id && config["CRYPTO_AWS_SECRET_ACCESS_KEY"] is { Length: > 0 } secret
            ? new AmazonKeyManagementServiceClient(new BasicAWSCredentials(id, secret), c)
            : new AmazonKeyManagementServiceClient(c);
    });

    public string Provider => "aws_kms";

    public async Task<byte[]> WrapAsync(string keyAlias, byte[] dataKey, IReadOnlyDictionary<string, string> context, CancellationToken ct)
    {
        var response = await Call(() => _client.Value.EncryptAsync(new EncryptRequest
        {
            KeyId = keyAlias, Plaintext = new MemoryStream(dataKey, writable: false), EncryptionContext = context.ToDictionary(),
        }, ct)).ConfigureAwait(false);
        return response.CiphertextBlob.ToArray();
    }

    public async Task<byte[]> UnwrapAsync(string keyAlias, byte[] wrapped, IReadOnlyDictionary<string, string> context, CancellationToken ct)
    {
        var response = await Call(() => _client.Value.DecryptAsync(new DecryptRequest
        {
            KeyId = keyAlias, CiphertextBlob = new MemoryStream(wrapped, writable: false), EncryptionContext = context.ToDictionary(),
        }, ct)).ConfigureAwait(false);
        return response.Plaintext.ToArray();
    }

    /// <summary>AWS KMS cannot tell without a call; a wrong key shows as DECRYPTION_FAILED on the first unwrap instead.</summary>
    public string? KeyCheckValue(string keyAlias) => null;

    private static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (InvalidCiphertextException ex)
        {
            throw new KmsUnwrapException("AWS KMS: " + ex.Message, ex);
        }
        catch (IncorrectKeyException ex)
        {
            throw new KmsUnwrapException("AWS KMS: " + ex.Message, ex);
        }
        catch (AmazonServiceException ex)
        {
            throw new KmsUnavailableException($"AWS KMS: {ex.ErrorCode ?? ex.StatusCode.ToString()}: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException or AmazonClientException or ObjectDisposedException)
        {
            throw new KmsUnavailableException("AWS KMS unreachable: " + ex.GetBaseException().Message, ex);
        }
    }

    public void Dispose()
    {
        if (_client.IsValueCreated) _client.Value.Dispose();
    }
}
