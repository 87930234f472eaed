using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;

namespace NexusRag.Documents;

/// <summary>Optical character recognition of one image (PNG, JPEG, TIFF; a multi-page TIFF gives one text per page).</summary>
public interface IOcrEngine
{
    /// <summary>Null when the engine can run these languages, else why not (not installed, a language pack missing).</summary>
    Task<string?> UnavailableReasonAsync(string languages, CancellationToken ct);
    Task<IReadOnlyList<string>> RecognizeAsync(byte[] image, string languages, TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// Tesseract through its command line (Debian <c>tesseract-ocr</c>): the image goes in on stdin, the text comes back on
/// stdout, one process per image, killed at the timeout or on cancellation. OpenMP is held to one thread per process so
/// concurrent jobs do not oversubscribe the cores.
/// </summary>
public sealed class TesseractOcr(Microsoft.Extensions.Options.IOptions<Core.Ingestion.ExtractionOptions> options, ILogger<TesseractOcr> logger) : IOcrEngine
{
    private Lazy<Task<(bool Installed, HashSet<string> Languages, string? Error)>>? _probe;

    private string Binary => options.Value.TesseractPath;

    public async Task<string?> UnavailableReasonAsync(string languages, CancellationToken ct)
    {
        var probe = LazyInitializer.EnsureInitialized(ref _probe, () => new(() => ProbeAsync(Binary)));
        var (installed, langs, error) = await probe.Value.WaitAsync(ct).ConfigureAwait(false);
        if (!installed) return "Tesseract is not installed (Debian package tesseract-ocr)" + (error is null ? "" : $": {error}");
        var missing = languages.Split('+').Where(l => !langs.Contains(l)).ToList();
        return missing.Count == 0 ? null : $"Tesseract has no language data for {string.Join(", ", missing)} (Debian tesseract-ocr-{missing[0]})";
    }

    public async Task<IReadOnlyList<string>> RecognizeAsync(byte[] image, string languages, TimeSpan timeout, CancellationToken ct)
    {
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
        budget.CancelAfter(timeout);
        var psi = Start(Binary, "stdin", "stdout", "-l", languages);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("tesseract did not start");
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(budget.Token);
            var stderr = process.StandardError.ReadToEndAsync(budget.Token);
            await process.StandardInput.BaseStream.WriteAsync(image, budget.Token).ConfigureAwait(false);
            process.StandardInput.Close();
            await process.WaitForExitAsync(budget.Token).ConfigureAwait(false);
            var text = await stdout.ConfigureAwait(false);
            if (process.ExitCode != 0)
                throw new Core.Ingestion.ExtractionException(Core.Ingestion.ExtractionCodes.OcrFailed,
                    $"tesseract exited with {process.ExitCode}: {Core.Errors.Text.Clip((await stderr.ConfigureAwait(false)).Trim(), 200)}");
            return text.Split('\f').Select(p => p.Replace("\r\n", "\n", StringComparison.Ordinal).Trim()).ToList();
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            if (!ct.IsCancellationRequested) throw new Core.Ingestion.ExtractionException(Core.Ingestion.ExtractionCodes.Timeout, $"OCR of one image took longer than {timeout.TotalSeconds:0} s");
            throw;
        }
        catch (IOException ex)
        {
            // tesseract closed stdin early: it could not read the image.
            logger.LogDebug(ex, "tesseract closed its input");
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new Core.Ingestion.ExtractionException(Core.Ingestion.ExtractionCodes.OcrFailed, "tesseract could not read the image");
        }
    }

    private static ProcessStartInfo Start(string binary, params string[] args)
    {
        var psi = new ProcessStartInfo(binary)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false, StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_THREAD_LIMIT"] = "1";
        return psi;
    }

    private static async Task<(bool, HashSet<string>, string?)> ProbeAsync(string binary)
    {
        try
        {
            var psi = Start(binary, "--list-langs");
            psi.RedirectStandardInput = false;
            using var p = Process.Start(psi)!;
            var output = await p.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
            await p.StandardError.ReadToEndAsync().ConfigureAwait(false);
            await p.WaitForExitAsync().ConfigureAwait(false);
            var langs = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(l => !l.Contains(' ') && !l.EndsWith(':')).ToHashSet(StringComparer.Ordinal);
            return (p.ExitCode == 0, langs, p.ExitCode == 0 ? null : $"exit {p.ExitCode}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (false, [], ex.Message);
        }
    }
}
