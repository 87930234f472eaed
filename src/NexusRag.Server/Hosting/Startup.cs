using Microsoft.Extensions.Options;
using NexusRag.Core.Bootstrap;
using NexusRag.Storage;

namespace NexusRag.Server.Hosting;

public static class Startup
{
    /// <summary>
    /// Validates every options class before anything starts. Returns a single printable line on failure
    /// (prod refuses unsafe settings this way: one line, non-zero exit, no stack trace).
    /// </summary>
    public static string? ValidateConfiguration(IServiceProvider services)
    {
        try
        {
            // Every options class registered with ValidateOnStart, all at once, before anything is built or served.
            services.GetService<IStartupValidator>()?.Validate();
            return null;
        }
        catch (OptionsValidationException ex)
        {
            return Refusal(ex.Failures);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is OptionsValidationException or InvalidOperationException))
        {
            return Refusal(ex.InnerExceptions.SelectMany(e => e is OptionsValidationException o ? o.Failures : [BindingFailure(e)]));
        }
        catch (InvalidOperationException ex) when (ex.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
        {
            return Refusal([BindingFailure(ex)]);
        }
    }

    private static string Refusal(IEnumerable<string> failures) =>
        "nexusrag: refusing to start: " + string.Join("; ", failures.Distinct().Select(f => f.ReplaceLineEndings(" ")));

    /// <summary>A section value of the wrong type ("Failed to convert configuration value at 'NexusRag:Ingestion:LeaseMs' to type 'System.Int32'").</summary>
    private static string BindingFailure(Exception ex) => ex.Message.ReplaceLineEndings(" ");

    /// <summary>
    /// Applies migrations, checks the encryption master key against the store, then on the first start in the local
    /// profile creates the demo tenant, key and corpus. Returns a one-line refusal when the server must not start.
    /// </summary>
    public static async Task<string?> PrepareAsync(IServiceProvider services, CancellationToken ct)
    {
        _ = services.GetRequiredService<ServiceInfo>(); // starts the uptime clock
        // An unreachable database at start is waited for (one line per attempt, backoff up to 30 s), not a crash loop.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await services.GetRequiredService<DatabaseMigrator>().MigrateAsync(ct);
                break;
            }
            catch (Exception ex) when (DatabaseErrors.IsUnavailable(ex) && !ct.IsCancellationRequested)
            {
                var wait = TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, Math.Min(attempt, 5)) / 2));
                Console.Error.WriteLine($"nexusrag: database unreachable ({ex.GetBaseException().Message}); attempt {attempt}, retrying in {wait.TotalSeconds:F0} s");
                await Task.Delay(wait, ct);
            }
        }
        if (await Core.Crypto.KeyCheck.VerifyAsync(services.GetRequiredService<Core.Crypto.IKeyManagementService>(), services.GetRequiredService<Core.Crypto.ITenantKeyStore>(),
                services.GetRequiredService<IOptions<Core.Crypto.CryptoOptions>>().Value, ct) is { } refusal)
            return refusal;
        var opts = services.GetRequiredService<IOptions<NexusRagOptions>>().Value;
        if (opts.Env != "local" || !opts.Bootstrap) return null;

        var result = await services.GetRequiredService<DemoSeeder>().BootstrapAsync(ct);
        if (!result.Created || result.AdminKeyPlaintext is null || result.OperatorKeyPlaintext is null) return null;

        var dataDir = services.GetRequiredService<IOptions<StorageOptions>>().Value.ResolveDataDir();
        Directory.CreateDirectory(dataDir);
        var keyFile = await WriteSecretAsync(Path.Combine(dataDir, "bootstrap-admin-key"), result.AdminKeyPlaintext);
        var operatorFile = await WriteSecretAsync(Path.Combine(dataDir, "bootstrap-operator-key"), result.OperatorKeyPlaintext);

        var bar = new string('=', 78);
        Console.WriteLine($"""
            {bar}
             NexusRAG first start (profile: local). Created tenant '{DemoData.TenantId}' (plan enterprise), corpus '{DemoData.CorpusId}' with
             {DemoData.Documents.Length} demo documents, an admin API key for tenant '{DemoData.TenantId}' and a platform-operator key (plans,
             quota limits and kill switches of every tenant). Both are shown once; copies are in {keyFile}
             and {operatorFile} (mode 0600):

               export API_KEY={result.AdminKeyPlaintext}
               export OPERATOR_API_KEY={result.OperatorKeyPlaintext}

            {bar}
            """);
        return null;
    }

    private static async Task<string> WriteSecretAsync(string path, string secret)
    {
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using (var stream = new FileStream(path, fileOptions))
        await using (var writer = new StreamWriter(stream))
        {
            await writer.WriteLineAsync(secret);
        }
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }
}
