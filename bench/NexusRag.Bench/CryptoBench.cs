using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

/// <summary>
/// `crypto`: what encryption at rest costs, in one run, two Release servers (SQLite, hash embedder, rate limits out of
/// reach) that differ only in <c>CRYPTO_ENABLED</c>. Ingestion: `--docs` documents of ~5 KB through
/// <c>POST /v1/documents/batch</c>, from the first request until every one has succeeded (chunks/s), plaintext server
/// first, then the encrypted one. Search: `--requests` lexical-plus-vector searches per server at `--concurrency`,
/// alternating between the two servers request by request so both see the same machine; p50/p95 and their ratio.
/// </summary>
static class CryptoBench
{
    public static async Task RunAsync(string[] args)
    {
        int docs = 1000, requests = 2000, concurrency = 8;
        string? dll = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--docs": docs = int.Parse(args[++i]); break;
                case "--requests": requests = int.Parse(args[++i]); break;
                case "--concurrency": concurrency = int.Parse(args[++i]); break;
                case "--dll": dll = Path.GetFullPath(args[++i]); break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        dll ??= Path.Combine(FindRoot(), "src/NexusRag.Server/bin/Release/net10.0/NexusRag.Server.dll");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; {docs} documents, {requests} searches per server at concurrency {concurrency}");
        MeasureFieldOpen();
        var servers = new List<(Process P, string Dir)>();
        try
        {
            var plain = await StartAsync(dll, 8301, encrypted: false, servers);
            var sealedServer = await StartAsync(dll, 8302, encrypted: true, servers);
            var corpus = Corpus(docs);
            var (plainChunks, plainSeconds) = await IngestAsync(plain, corpus);
            var (sealedChunks, sealedSeconds) = await IngestAsync(sealedServer, corpus);
            Console.WriteLine($"ingest plaintext : {plainChunks} chunks in {plainSeconds:F1} s = {plainChunks / plainSeconds,7:F0} chunks/s");
            Console.WriteLine($"ingest encrypted : {sealedChunks} chunks in {sealedSeconds:F1} s = {sealedChunks / sealedSeconds,7:F0} chunks/s  (ratio {plainSeconds / sealedSeconds * sealedChunks / plainChunks:F2} of plaintext)");

            await Task.Delay(TimeSpan.FromSeconds(10)); // let both servers finish what ingestion left behind (index catch-up, snapshots)
            var queries = Enumerable.Range(0, 50).Select(i => $"topic {i % 17} ledger {Words[i % Words.Length]} {Words[(i * 7) % Words.Length]}").ToArray();
            for (var w = 0; w < 50; w++) { await SearchAsync(plain, queries[w % queries.Length]); await SearchAsync(sealedServer, queries[w % queries.Length]); }
            var lp = new List<double>();
            var ls = new List<double>();
            var left = requests;
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async c =>
            {
                var n = c;
                while (Interlocked.Decrement(ref left) >= 0)
                {
                    var q = queries[n % queries.Length];
                    var sealedFirst = n++ % 2 == 1; // neither server always goes first
                    double tp = 0, ts = 0;
                    foreach (var encrypted in sealedFirst ? new[] { true, false } : [false, true])
                    {
                        var t = Stopwatch.GetTimestamp();
                        await SearchAsync(encrypted ? sealedServer : plain, q);
                        if (encrypted) ts = Stopwatch.GetElapsedTime(t).TotalMilliseconds; else tp = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                    }
                    lock (lp) { lp.Add(tp); ls.Add(ts); }
                }
            }));
            var (p50p, p95p) = Percentiles(lp);
            var (p50s, p95s) = Percentiles(ls);
            Console.WriteLine($"search plaintext : p50 {p50p,6:F2} ms  p95 {p95p,6:F2} ms  mean {lp.Average(),6:F2} ms");
            Console.WriteLine($"search encrypted : p50 {p50s,6:F2} ms  p95 {p95s,6:F2} ms  mean {ls.Average(),6:F2} ms  (ratio p50 {p50s / p50p:F2}, p95 {p95s / p95p:F2}, mean {ls.Average() / lp.Average():F2}; {requests * 2 / sw.Elapsed.TotalSeconds:F0} searches/s both servers together)");
        }
        finally
        {
            foreach (var (p, dir) in servers)
            {
                try { p.Kill(entireProcessTree: true); p.WaitForExit(5000); } catch (InvalidOperationException) { }
                try { Directory.Delete(dir, true); } catch (IOException) { }
            }
        }
    }

    /// <summary>What a search adds in process: opening ten sealed chunks (1,000-character text and 200-character metadata each) with a cached key.</summary>
    private static void MeasureFieldOpen()
    {
        var keys = new NexusRag.Core.Crypto.DataKeyService(new BenchKms(), new BenchKeyStore(), Microsoft.Extensions.Options.Options.Create(new NexusRag.Core.Crypto.CryptoOptions { Enabled = true }),
            TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<NexusRag.Core.Crypto.DataKeyService>.Instance);
        var writer = keys.ForWriteAsync("t1", CancellationToken.None).GetAwaiter().GetResult();
        var text = new string('x', 1000);
        var meta = new string('m', 200);
        var rows = Enumerable.Range(0, 10).Select(i => (Id: $"chk_{i}", Text: writer.Seal("chunks", "text", $"chk_{i}", text), Meta: writer.Seal("chunks", "metadata_json", $"chk_{i}", meta))).ToList();
        const int queries = 20_000;
        var sw = Stopwatch.StartNew();
        long total = 0;
        for (var q = 0; q < queries; q++)
        {
            var reader = keys.ForReadAsync("t1", [1], CancellationToken.None).GetAwaiter().GetResult();
            foreach (var r in rows) total += reader.Open("chunks", "text", r.Id, r.Text, 1).Length + reader.Open("chunks", "metadata_json", r.Id, r.Meta, 1).Length;
        }
        Console.WriteLine($"open 10 sealed chunks (key cached): {sw.Elapsed.TotalMicroseconds / queries:F1} µs per search ({total / queries} chars)");
    }

    private sealed class BenchKms : NexusRag.Core.Crypto.IKeyManagementService
    {
        public string Provider => "bench";
        public Task<byte[]> WrapAsync(string keyAlias, byte[] dataKey, IReadOnlyDictionary<string, string> context, CancellationToken ct) => Task.FromResult(dataKey.ToArray());
        public Task<byte[]> UnwrapAsync(string keyAlias, byte[] wrapped, IReadOnlyDictionary<string, string> context, CancellationToken ct) => Task.FromResult(wrapped.ToArray());
        public string? KeyCheckValue(string keyAlias) => null;
    }

    private sealed class BenchKeyStore : NexusRag.Core.Crypto.ITenantKeyStore
    {
        private readonly List<NexusRag.Core.Crypto.TenantDataKey> _keys = [];
        public Task<IReadOnlyList<NexusRag.Core.Crypto.TenantDataKey>> ListAsync(string tenantId, CancellationToken ct) => Task.FromResult<IReadOnlyList<NexusRag.Core.Crypto.TenantDataKey>>(_keys.ToList());
        public Task<bool> TryAddFirstAsync(NexusRag.Core.Crypto.TenantDataKey key, CancellationToken ct) { _keys.Add(key); return Task.FromResult(true); }
        public Task<bool> TryRotateAsync(string tenantId, int fromVersion, NexusRag.Core.Crypto.TenantDataKey next, CancellationToken ct) => Task.FromResult(false);
        public Task SetStatusAsync(string tenantId, int version, string status, CancellationToken ct) => Task.CompletedTask;
        public Task<IReadOnlyList<NexusRag.Core.Crypto.TenantDataKey>> ActiveCreatedBeforeAsync(DateTime cutoff, CancellationToken ct) => Task.FromResult<IReadOnlyList<NexusRag.Core.Crypto.TenantDataKey>>([]);
        public Task<string?> GetKeyCheckAsync(string provider, string keyAlias, CancellationToken ct) => Task.FromResult<string?>(null);
        public Task SaveKeyCheckAsync(string provider, string keyAlias, string value, CancellationToken ct) => Task.CompletedTask;
    }

    private static readonly string[] Words = ["harbor", "ledger", "quartz", "meadow", "signal", "copper", "lantern", "orbit", "canyon", "willow", "ember", "delta", "summit", "prairie", "beacon"];

    private static List<object> Corpus(int docs)
    {
        var rng = new Random(42);
        return Enumerable.Range(0, docs).Select(i =>
        {
            var sb = new StringBuilder($"Document {i} on topic {i % 17}. ");
            while (sb.Length < 5000) sb.Append(Words[rng.Next(Words.Length)]).Append(' ').Append(Words[rng.Next(Words.Length)]).Append(rng.Next(100)).Append(". ");
            return (object)new { corpus_id = "bench", document_id = $"d{i:D5}", text = sb.ToString() };
        }).ToList();
    }

    private static async Task<HttpClient> StartAsync(string dll, int port, bool encrypted, List<(Process, string)> servers)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"nexusrag-cryptobench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var url = $"http://127.0.0.1:{port}";
        var psi = new ProcessStartInfo("dotnet", [dll, "--urls", url]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        psi.Environment["NEXUSRAG_DATA_DIR"] = dir;
        psi.Environment["EMBEDDINGS_PROVIDER"] = "hash";
        psi.Environment["Logging__LogLevel__Default"] = "Warning";
        if (encrypted)
        {
            psi.Environment["CRYPTO_ENABLED"] = "true";
            psi.Environment["CRYPTO_LOCAL_MASTER_KEY"] = Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray());
        }
        foreach (var cls in new[] { "Run", "Mutation", "Read", "Ops" })
            foreach (var scope in new[] { "Key", "Tenant" })
            {
                psi.Environment[$"NexusRag__RateLimit__{cls}__{scope}__Rps"] = "1000000";
                psi.Environment[$"NexusRag__RateLimit__{cls}__{scope}__Burst"] = "1000000";
            }
        var p = Process.Start(psi)!;
        servers.Add((p, dir));
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var key = await ReadBench.WaitForFile(Path.Combine(dir, "bootstrap-admin-key"));
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(300) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        for (var i = 0; ; i++)
        {
            try { if ((await http.GetAsync("/v1/health")).IsSuccessStatusCode) break; }
            catch (HttpRequestException) when (i < 300) { }
            await Task.Delay(100);
        }
        (await http.PostAsJsonAsync("/v1/corpora", new { id = "bench" })).EnsureSuccessStatusCode();
        return http;
    }

    private static async Task<(long Chunks, double Seconds)> IngestAsync(HttpClient http, List<object> corpus)
    {
        var sw = Stopwatch.StartNew();
        foreach (var batch in corpus.Chunk(500))
            (await http.PostAsJsonAsync("/v1/documents/batch", batch)).EnsureSuccessStatusCode();
        async Task<int> Count(string status)
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync($"/v1/documents?corpus_id=bench&status={status}&limit=1"));
            return doc.RootElement.GetProperty("data").GetProperty("items").GetArrayLength();
        }
        while (await Count("queued") + await Count("processing") > 0) await Task.Delay(100);
        var seconds = sw.Elapsed.TotalSeconds;
        if (await Count("failed") > 0) throw new InvalidOperationException("some documents failed");
        long chunks = 0;
        string? cursor = null;
        do
        {
            using var page = JsonDocument.Parse(await http.GetStringAsync("/v1/documents?corpus_id=bench&limit=100" + (cursor is null ? "" : $"&cursor={cursor}")));
            var data = page.RootElement.GetProperty("data");
            chunks += data.GetProperty("items").EnumerateArray().Sum(d => d.GetProperty("num_chunks").GetInt64());
            cursor = data.GetProperty("page").GetProperty("next_cursor").GetString();
        } while (cursor is not null);
        return (chunks, seconds);
    }

    private static async Task SearchAsync(HttpClient http, string query)
    {
        using var resp = await http.PostAsJsonAsync("/v1/search", new { corpus_id = "bench", query, top_k = 10 });
        var body = await resp.Content.ReadAsStringAsync();
        if (!resp.IsSuccessStatusCode || !body.Contains("\"chunk_id\"", StringComparison.Ordinal))
            throw new InvalidOperationException($"search: {(int)resp.StatusCode} {body[..Math.Min(300, body.Length)]}");
    }

    private static (double P50, double P95) Percentiles(List<double> l)
    {
        var s = l.Order().ToArray();
        return (s[s.Length / 2], s[(int)(s.Length * 0.95)]);
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "NexusRag.slnx"))) return d.FullName;
        throw new InvalidOperationException("run from inside the repository");
    }
}
