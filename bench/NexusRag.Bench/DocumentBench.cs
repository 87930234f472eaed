// `documents`: extraction throughput per format (in process, against plain text of the same size as the baseline),
// end-to-end documents/s through the API for 200 ~10-page PDFs, the server's peak memory while it ingests a
// 1,000-page PDF, and OCR pages/s with the real Tesseract.
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NexusRag.Core.Ingestion;
using NexusRag.Documents;
using UglyToad.PdfPig.Writer;

public static class DocumentBench
{
    public static async Task RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 3;
        var root = FindRepoRoot();
        var fixtures = Path.Combine(root, "tests/NexusRag.Tests/Fixtures/documents");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        var options = new ExtractionOptions();
        var ocr = new TesseractOcr(Options.Create(options), NullLogger<TesseractOcr>.Instance);
        IContentExtractor[] extractors =
        [
            new PdfExtractor(ocr), new DocxExtractor(), new PptxExtractor(), new XlsxExtractor(), new HtmlExtractor(), new CsvExtractor(),
            new EmlExtractor(), new PlainTextExtractor(), new ImageExtractor(ocr),
        ];
        var registry = new ContentExtractorRegistry(extractors);

        var tenPages = MakePdf(10, seed: 1);
        var inputs = new List<(string Name, byte[] Bytes, string Type)>
        {
            ("pdf (LibreOffice, 3 pages)", File.ReadAllBytes(Path.Combine(fixtures, "handbook.pdf")), MediaTypes.Pdf),
            ("pdf (10 pages, generated)", tenPages, MediaTypes.Pdf),
            ("docx", File.ReadAllBytes(Path.Combine(fixtures, "handbook.docx")), MediaTypes.Docx),
            ("pptx", File.ReadAllBytes(Path.Combine(fixtures, "deck.pptx")), MediaTypes.Pptx),
            ("xlsx", File.ReadAllBytes(Path.Combine(fixtures, "inventory.xlsx")), MediaTypes.Xlsx),
            ("html", File.ReadAllBytes(Path.Combine(fixtures, "page.html")), MediaTypes.Html),
            ("eml", File.ReadAllBytes(Path.Combine(fixtures, "migration.eml")), MediaTypes.Eml),
            ("csv (10,000 rows)", MakeCsv(10_000), MediaTypes.Csv),
        };
        Console.WriteLine($"\nextraction, one thread, {seconds:F0} s each; baseline: UTF-8 decoding of the same text as text/plain");
        Console.WriteLine($"{"format",-28} {"files/s",9} {"pages/s",9} {"MB/s",7} {"text MB/s",9} {"vs text",8}");
        foreach (var (name, bytes, type) in inputs)
        {
            var doc = await Extract(registry, bytes, type, options);
            var text = Encoding.UTF8.GetBytes(string.Join("\n\n", doc.Blocks.Select(b => b.Text)));
            var (rate, _) = await Measure(() => Extract(registry, bytes, type, options), seconds);
            var (baseRate, _) = await Measure(() => Extract(registry, text, MediaTypes.Text, options), seconds);
            var textMb = text.Length * rate / 1e6;
            Console.WriteLine($"{name,-28} {rate,9:F1} {(doc.PageCount ?? 1) * rate,9:F1} {bytes.Length * rate / 1e6,7:F2} {textMb,9:F2} {rate / baseRate,8:F4}");
        }

        if (await ocr.UnavailableReasonAsync("eng", CancellationToken.None) is null)
        {
            var scan = File.ReadAllBytes(Path.Combine(fixtures, "scanned.pdf"));
            var (ocrRate, n) = await Measure(() => Extract(registry, scan, MediaTypes.Pdf, options), Math.Max(seconds, 10));
            Console.WriteLine($"\nOCR (tesseract, one process at a time, 150 dpi A4 scan): {ocrRate:F2} pages/s over {n} pages");
        }
        else Console.WriteLine("\nOCR: tesseract is not installed; skipped");

        await EndToEnd(root, tenPages);
    }

    private static async Task EndToEnd(string root, byte[] tenPages)
    {
        var dll = Path.Combine(root, "src/NexusRag.Server/bin/Release/net10.0/NexusRag.Server.dll");
        var build = Process.Start("dotnet", $"build -c Release --nologo -v q {Path.Combine(root, "src/NexusRag.Server")}")!;
        await build.WaitForExitAsync();

        // 200 distinct ~10-page PDFs through POST /v1/documents, 4 senders, the default 2 workers.
        await using (var server = await Server.StartAsync(dll, 8210))
        {
            var pdfs = Enumerable.Range(0, 200).Select(i => MakePdf(10, seed: 100 + i)).ToList();
            (await server.Http.PostAsJsonAsync("/v1/corpora", new { id = "pdfs" })).EnsureSuccessStatusCode();
            var sw = Stopwatch.StartNew();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < pdfs.Count)
                {
                    var resp = await Upload(server.Http, "pdfs", pdfs[i], $"r{i}.pdf", $"r{i}");
                    if ((int)resp.StatusCode != 202) throw new InvalidOperationException($"upload {i}: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync()}");
                }
            }));
            var accepted = sw.Elapsed;
            var (done, chunks) = await WaitAll(server.Http, "pdfs", pdfs.Count);
            Console.WriteLine($"\nAPI: 200 PDFs x 10 pages ({pdfs.Sum(p => p.Length) / 1e6:F1} MB), 4 senders, 2 workers, hash embedder, SQLite");
            Console.WriteLine($"  accepted in {accepted.TotalSeconds:F1} s; all succeeded after {sw.Elapsed.TotalSeconds:F1} s: {done / sw.Elapsed.TotalSeconds:F1} documents/s, {done * 10 / sw.Elapsed.TotalSeconds:F0} pages/s, {chunks} chunks");
        }

        // Peak memory of a fresh server ingesting one 1,000-page PDF.
        await using (var server = await Server.StartAsync(dll, 8211))
        {
            var big = MakePdf(1000, seed: 7);
            (await server.Http.PostAsJsonAsync("/v1/corpora", new { id = "big" })).EnsureSuccessStatusCode();
            var before = PeakRssMb(server.Process.Id);
            var sw = Stopwatch.StartNew();
            (await Upload(server.Http, "big", big, "big.pdf", "big")).EnsureSuccessStatusCode();
            var (done, chunks) = await WaitAll(server.Http, "big", 1);
            Console.WriteLine($"\n1,000-page PDF ({big.Length / 1e6:F1} MB): {(done == 1 ? "succeeded" : "FAILED")} in {sw.Elapsed.TotalSeconds:F1} s, {chunks} chunks; " +
                              $"server peak RSS {before:F0} MiB before, {PeakRssMb(server.Process.Id):F0} MiB after (VmHWM)");
        }
    }

    private static async Task<(int Succeeded, long Chunks)> WaitAll(HttpClient http, string corpus, int count)
    {
        while (true)
        {
            var page = await Get(http, $"/v1/documents?corpus_id={corpus}&limit=100");
            var items = page.GetProperty("items").EnumerateArray().ToList();
            var all = new List<JsonElement>(items);
            var cursor = page.GetProperty("page").GetProperty("next_cursor").GetString();
            while (cursor is not null)
            {
                var more = await Get(http, $"/v1/documents?corpus_id={corpus}&limit=100&cursor={cursor}");
                all.AddRange(more.GetProperty("items").EnumerateArray());
                cursor = more.GetProperty("page").GetProperty("next_cursor").GetString();
            }
            if (all.Count >= count && all.All(d => d.GetProperty("status").GetString() is "succeeded" or "failed"))
                return (all.Count(d => d.GetProperty("status").GetString() == "succeeded"), all.Sum(d => (long)d.GetProperty("num_chunks").GetInt32()));
            await Task.Delay(100);
        }
    }

    private static async Task<JsonElement> Get(HttpClient http, string path)
    {
        using var resp = await http.GetAsync(path);
        resp.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await resp.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("data").Clone();
    }

    private static Task<HttpResponseMessage> Upload(HttpClient http, string corpus, byte[] bytes, string name, string id)
    {
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/pdf");
        return http.PostAsync("/v1/documents", new MultipartFormDataContent
        {
            { new StringContent(corpus), "corpus_id" }, { new StringContent(id), "document_id" }, { file, "file", name },
        });
    }

    private static double PeakRssMb(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? double.NaN : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
    }

    private static async Task<ExtractedDocument> Extract(ContentExtractorRegistry registry, byte[] bytes, string type, ExtractionOptions o)
    {
        using var ms = new MemoryStream(bytes, writable: false);
        return await registry.ExtractAsync(ms, new ExtractionContext(type, null, o), CancellationToken.None);
    }

    private static async Task<(double PerSecond, int Count)> Measure(Func<Task> action, double seconds)
    {
        await action(); // warm-up
        var sw = Stopwatch.StartNew();
        var n = 0;
        while (sw.Elapsed.TotalSeconds < seconds) { await action(); n++; }
        return (n / sw.Elapsed.TotalSeconds, n);
    }

    /// <summary>A text PDF of <paramref name="pages"/> pages of ~2,000 characters, distinct per seed (PdfPig's writer, Helvetica).</summary>
    public static byte[] MakePdf(int pages, int seed)
    {
        var rng = new Random(seed);
        var words = Enumerable.Range(0, 3000).Select(i => $"w{i:x}{(char)('a' + i % 26)}").ToArray();
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(UglyToad.PdfPig.Fonts.Standard14Fonts.Standard14Font.Helvetica);
        for (var p = 0; p < pages; p++)
        {
            var page = builder.AddPage(UglyToad.PdfPig.Content.PageSize.A4);
            for (var line = 0; line < 28; line++)
            {
                var text = string.Join(' ', Enumerable.Range(0, 12).Select(_ => words[rng.Next(words.Length)]));
                page.AddText(text, 10, new UglyToad.PdfPig.Core.PdfPoint(50, 780 - line * 26), font);
            }
        }
        return builder.Build();
    }

    private static byte[] MakeCsv(int rows)
    {
        var sb = new StringBuilder("id,name,warehouse,quantity,price\n");
        for (var i = 0; i < rows; i++) sb.Append(i).Append(",part ").Append(i).Append(",\"Dock ").Append(i % 7).Append(", north\",").Append(i * 3 % 1000).Append(',').Append(i % 100).Append(".50\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "NexusRag.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    private sealed class Server : IAsyncDisposable
    {
        public required Process Process { get; init; }
        public required HttpClient Http { get; init; }
        public required string Dir { get; init; }

        public static async Task<Server> StartAsync(string dll, int port)
        {
            var dir = Path.Combine(Path.GetTempPath(), $"nexusrag-docbench-{Guid.NewGuid():N}");
            Directory.CreateDirectory(dir);
            var url = $"http://127.0.0.1:{port}";
            var psi = new ProcessStartInfo("dotnet", [dll, "--urls", url]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
            psi.Environment["NEXUSRAG_DATA_DIR"] = dir;
            psi.Environment["Logging__LogLevel__Default"] = "Warning";
            psi.Environment["RATE_LIMIT_ENABLED"] = "false";
            var p = Process.Start(psi)!;
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            string? key = null;
            for (var i = 0; i < 600 && key is null; i++)
            {
                var f = Path.Combine(dir, "bootstrap-admin-key");
                if (File.Exists(f) && (await File.ReadAllTextAsync(f)).Trim() is { Length: > 0 } k) key = k;
                else await Task.Delay(100);
            }
            var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(10) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key ?? throw new TimeoutException("no bootstrap key"));
            for (var i = 0; i < 600; i++)
            {
                try { if ((await http.GetAsync("/v1/corpora")).IsSuccessStatusCode) break; } catch (HttpRequestException) { }
                await Task.Delay(100);
            }
            return new Server { Process = p, Http = http, Dir = dir };
        }

        public async ValueTask DisposeAsync()
        {
            try { Process.Kill(entireProcessTree: true); await Process.WaitForExitAsync(); } catch (InvalidOperationException) { }
            try { Directory.Delete(Dir, true); } catch (IOException) { }
        }
    }
}
