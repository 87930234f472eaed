// Load driver for NexusRAG: ingestion throughput through the HTTP API and GET /v1/documents latency
// under concurrent clients. Starts the Release server on a throwaway data directory (or targets --url/--key).
// `search` runs the in-process index benchmark instead (see SearchBench.cs); `reads` compares server builds (ReadBench.cs);
// `documents` measures extraction and document ingestion (DocumentBench.cs); `embeddings` the built-in models (EmbeddingBench.cs).
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

if (args.Length > 0 && args[0] == "governance")
{
    await GovernanceBench.RunAsync(args[1..]);
    return;
}
if (args.Length > 0 && args[0] == "reads")
{
    await ReadBench.RunAsync(args[1..]);
    return;
}
if (args.Length > 0 && args[0] == "documents")
{
    await DocumentBench.RunAsync(args[1..]);
    return;
}
if (args.Length > 0 && args[0] == "embeddings")
{
    await EmbeddingBench.RunAsync(args[1..]);
    return;
}
if (args.Length > 0 && args[0] == "acl")
{
    AclBench.Run(args[1..]);
    return;
}
if (args.Length > 0 && args[0] == "bare")
{
    // The baseline of the read benchmarks: a bare Kestrel app that returns one small JSON body (`bare --urls http://127.0.0.1:8091`).
    var web = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder(args[1..]);
    var bare = web.Build();
    Microsoft.AspNetCore.Builder.EndpointRouteBuilderExtensions.MapGet(bare, "/ok", () => Microsoft.AspNetCore.Http.Results.Json(new { id = "c1", name = "Agent 2.0 demo corpus" }));
    await bare.RunAsync();
    return;
}
if (args.Length > 0 && args[0] == "backup")
{
    await BackupBench.RunAsync(args[1..]);
    return;
}
if (args.Length > 0 && args[0] == "crypto")
{
    await CryptoBench.RunAsync(args[1..]);
    return;
}
if (args.Length > 0 && args[0] == "clients")
{
    await ClientsBench.RunAsync(args[1..]);
    return;
}
if (args.Length > 0 && args[0] == "search")
{
    SearchBench.Run(args[1..]);
    return;
}
var runMode = args.Length > 0 && args[0] == "run";
if (runMode) args = args[1..];
var opts = Args.Parse(args);
var root = FindRepoRoot();
Process? server = null;
string dataDir = Path.Combine(Path.GetTempPath(), $"nexusrag-bench-{Guid.NewGuid():N}");
try
{
    string url = opts.Url ?? "http://127.0.0.1:8077";
    string key;
    if (opts.Url is null)
    {
        Run("dotnet", $"build -c Release --nologo -v q {Path.Combine(root, "src/NexusRag.Server")}");
        Directory.CreateDirectory(dataDir);
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(root, "src/NexusRag.Server/bin/Release/net10.0/NexusRag.Server.dll"), "--urls", url])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dataDir,
        };
        psi.Environment["NEXUSRAG_DATA_DIR"] = dataDir;
        psi.Environment["Logging__LogLevel__Default"] = "Warning";
        psi.Environment["INGEST_MAX_CONCURRENCY"] = opts.Workers.ToString();
        psi.Environment["RATE_LIMIT_ENABLED"] = opts.RateLimit ? "true" : "false"; // a load test would trip the seed's bursts
        if (opts.RateLimit)
        {
            // Governance on, limits out of reach: measures the cost of deciding, not the refusals.
            foreach (var cls in new[] { "Run", "Mutation", "Read", "Ops" })
                foreach (var scope in new[] { "Key", "Tenant" })
                {
                    psi.Environment[$"NexusRag__RateLimit__{cls}__{scope}__Rps"] = "1000000";
                    psi.Environment[$"NexusRag__RateLimit__{cls}__{scope}__Burst"] = "1000000";
                }
        }
        if (opts.RedisUrl is not null) psi.Environment["REDIS_URL"] = opts.RedisUrl;
        if (runMode) psi.Environment["LLM_PROVIDER"] = "fake";
        if (opts.DatabaseUrl is not null) psi.Environment["DATABASE_URL"] = opts.DatabaseUrl;
        server = Process.Start(psi)!;
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine("server: " + e.Data); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        key = await WaitForKey(Path.Combine(dataDir, "bootstrap-admin-key"));
    }
    else key = opts.Key ?? throw new ArgumentException("--key is required with --url");

    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = new Uri(url) };
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
    await WaitHealthy(http);

    Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; workers={opts.Workers}");
    if (runMode)
    {
        await WaitDemoIngested(http);
        foreach (var c in new[] { 1, 10, 50 }) await RunLoad(http, c, opts.Seconds);
    }
    else
    {
        var corpus = await Ingest(http, opts);
        for (var round = 2; round <= opts.Rounds; round++) corpus = await Ingest(http, opts); // later rounds: a warm server (JIT done)
        await ListLoad(http, opts);
        await SearchLoad(http, opts, corpus);
        if (opts.Propagation) await Propagation(http, opts, root, dataDir, corpus);
    }
}
finally
{
    if (server is { HasExited: false }) { server.Kill(entireProcessTree: true); await server.WaitForExitAsync(); }
    try { Directory.Delete(dataDir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

static async Task<string> Ingest(HttpClient http, Args opts)
{
    var corpus = "bench-" + Guid.NewGuid().ToString("N")[..6];
    (await http.PostAsJsonAsync("/v1/corpora", new { id = corpus })).EnsureSuccessStatusCode();
    var rng = new Random(42);
    var vocab = Enumerable.Range(0, 5000).Select(i => $"w{i:x}{(char)('a' + i % 26)}").ToArray();
    var docs = Enumerable.Range(0, opts.Docs).Select(i => corpus + " " + MakeDoc(rng, vocab, 5 * 1024)).ToArray();

    var sw = Stopwatch.StartNew();
    var next = -1;
    if (opts.Batch > 0)
    {
        // Bulk load: POST /v1/documents/batch with --batch documents per request, --senders requests in flight.
        var batches = Enumerable.Range(0, docs.Length).Chunk(opts.Batch).ToArray();
        await Task.WhenAll(Enumerable.Range(0, opts.Senders).Select(async _ =>
        {
            int b;
            while ((b = Interlocked.Increment(ref next)) < batches.Length)
            {
                var body = batches[b].Select(i => new { corpus_id = corpus, document_id = $"{corpus}-d{i}", text = docs[i] }).ToArray();
                var resp = await http.PostAsJsonAsync("/v1/documents/batch", body);
                if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"batch {b}: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync()}");
            }
        }));
    }
    else
        await Task.WhenAll(Enumerable.Range(0, opts.Senders).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < docs.Length)
            {
                var resp = await http.PostAsJsonAsync("/v1/documents/text", new { corpus_id = corpus, document_id = $"{corpus}-d{i}", text = docs[i] });
                if ((int)resp.StatusCode != 202) throw new InvalidOperationException($"ingest {i}: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync()}");
            }
        }));
    var accepted = sw.Elapsed;
    Console.WriteLine($"  (all accepted after {accepted.TotalSeconds:F2} s; waiting for the workers)");
    while (true)
    {
        var queued = await Count(http, corpus, "queued");
        var processing = await Count(http, corpus, "processing");
        if (queued == 0 && processing == 0) break;
        await Task.Delay(100);
    }
    var done = sw.Elapsed;
    long chunks = 0; int succeeded = 0; string? cursor = null;
    do
    {
        var page = await Get(http, $"/v1/documents?corpus_id={corpus}&limit=100" + (cursor is null ? "" : $"&cursor={cursor}"));
        foreach (var d in page.GetProperty("items").EnumerateArray())
        {
            chunks += d.GetProperty("num_chunks").GetInt32();
            if (d.GetProperty("status").GetString() == "succeeded") succeeded++;
        }
        cursor = page.GetProperty("page").GetProperty("next_cursor").GetString();
    } while (cursor is not null);

    Console.WriteLine($"ingest: {opts.Docs} docs x ~5 KB, {opts.Senders} concurrent senders" + (opts.Batch > 0 ? $", POST /v1/documents/batch of {opts.Batch}" : ", POST /v1/documents/text each"));
    Console.WriteLine($"  all accepted (202) after {accepted.TotalSeconds:F2} s ({opts.Docs / accepted.TotalSeconds:F0} req/s)");
    Console.WriteLine($"  all succeeded after     {done.TotalSeconds:F2} s: {opts.Docs / done.TotalSeconds:F1} documents/s, {chunks / done.TotalSeconds:F1} chunks/s ({chunks} chunks, {succeeded} succeeded)");
    return corpus;
}

static async Task SearchLoad(HttpClient http, Args opts, string corpus)
{
    var rng = new Random(5);
    var queries = Enumerable.Range(0, 200).Select(i => $"w{rng.Next(5000):x}{(char)('a' + rng.Next(26))} w{rng.Next(5000):x}{(char)('a' + rng.Next(26))}").ToArray();
    var latencies = new List<double>[opts.Clients];
    for (var i = 0; i < 20; i++) (await http.PostAsJsonAsync("/v1/search", new { corpus_id = corpus, query = queries[i], top_k = 5 })).EnsureSuccessStatusCode();
    var wall = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, opts.Clients).Select(async c =>
    {
        var mine = latencies[c] = [];
        var n = c;
        while (wall.Elapsed < TimeSpan.FromSeconds(opts.Seconds))
        {
            var t = Stopwatch.GetTimestamp();
            using var resp = await http.PostAsJsonAsync("/v1/search", new { corpus_id = corpus, query = queries[n++ % queries.Length], top_k = 5 });
            await resp.Content.ReadAsByteArrayAsync();
            if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"search: {(int)resp.StatusCode}");
            mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
    }));
    var all = latencies.SelectMany(l => l).Order().ToArray();
    double P(double q) => all[Math.Min(all.Length - 1, (int)Math.Ceiling(q * all.Length) - 1)];
    Console.WriteLine($"search: POST /v1/search hybrid top_k=5, {opts.Clients} concurrent clients for {opts.Seconds} s");
    Console.WriteLine($"  {all.Length} requests, {all.Length / wall.Elapsed.TotalSeconds:F0} req/s, p50 {P(0.50):F2} ms, p95 {P(0.95):F2} ms, p99 {P(0.99):F2} ms");
}

// Starts a second API replica on the same store and measures how long after a document's commit the replica's index
// has applied it without being asked (background follower; LISTEN/NOTIFY on PostgreSQL, polling on SQLite).
static async Task Propagation(HttpClient http, Args opts, string root, string dataDir, string corpus)
{
    const string url2 = "http://127.0.0.1:8078";
    var psi = new ProcessStartInfo("dotnet", [Path.Combine(root, "src/NexusRag.Server/bin/Release/net10.0/NexusRag.Server.dll"), "--role", "api", "--urls", url2])
    {
        RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dataDir,
    };
    psi.Environment["NEXUSRAG_DATA_DIR"] = dataDir;
    psi.Environment["NexusRag__Bootstrap"] = "false";
    psi.Environment["RATE_LIMIT_ENABLED"] = "false";
    psi.Environment["Logging__LogLevel__Default"] = "Warning";
    if (opts.DatabaseUrl is not null) psi.Environment["DATABASE_URL"] = opts.DatabaseUrl;
    using var replica = Process.Start(psi)!;
    replica.OutputDataReceived += (_, _) => { };
    replica.ErrorDataReceived += (_, _) => { };
    replica.BeginOutputReadLine();
    replica.BeginErrorReadLine();
    try
    {
        using var http2 = new HttpClient { BaseAddress = new Uri(url2) };
        await WaitHealthy(http2);
        for (var i = 0; i < 50 && (await Get(http2, "/v1/health")).GetProperty("index_lag").GetInt64() > 0; i++) await Task.Delay(100);
        var delays = new List<double>();
        for (var i = 0; i < 40; i++)
        {
            var id = $"prop{i}";
            (await http.PostAsJsonAsync("/v1/documents/text", new { corpus_id = corpus, document_id = id, text = $"propagation probe {i} " + new string('x', 200) })).EnsureSuccessStatusCode();
            while ((await Get(http, $"/v1/documents/{id}")).GetProperty("status").GetString() != "succeeded") await Task.Delay(2);
            var t = Stopwatch.GetTimestamp();
            while ((await Get(http2, "/v1/health")).GetProperty("index_lag").GetInt64() > 0) await Task.Delay(1);
            delays.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        var all = delays.Order().ToArray();
        double P(double q) => all[Math.Min(all.Length - 1, (int)Math.Ceiling(q * all.Length) - 1)];
        Console.WriteLine($"propagation: commit seen on replica 1 → applied by replica 2's index (no search asked): p50 {P(0.5):F1} ms, p95 {P(0.95):F1} ms over {all.Length} documents");
    }
    finally
    {
        replica.Kill(entireProcessTree: true);
        await replica.WaitForExitAsync();
    }
}

static async Task ListLoad(HttpClient http, Args opts)
{
    var latencies = new List<double>[opts.Clients];
    var duration = TimeSpan.FromSeconds(opts.Seconds);
    // warm-up
    for (var i = 0; i < 50; i++) await Get(http, "/v1/documents?limit=25");
    var wall = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, opts.Clients).Select(async c =>
    {
        var mine = latencies[c] = [];
        while (wall.Elapsed < duration)
        {
            var t = Stopwatch.GetTimestamp();
            using var resp = await http.GetAsync("/v1/documents?limit=25");
            await resp.Content.ReadAsByteArrayAsync();
            if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"list: {(int)resp.StatusCode}");
            mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
    }));
    var all = latencies.SelectMany(l => l).Order().ToArray();
    double P(double q) => all[Math.Min(all.Length - 1, (int)Math.Ceiling(q * all.Length) - 1)];
    Console.WriteLine($"list: GET /v1/documents?limit=25, {opts.Clients} concurrent clients for {opts.Seconds} s");
    Console.WriteLine($"  {all.Length} requests, {all.Length / wall.Elapsed.TotalSeconds:F0} req/s, p50 {P(0.50):F2} ms, p95 {P(0.95):F2} ms, p99 {P(0.99):F2} ms");
}

// /v1/run with the fake generator: time to the first token.delta and completed runs per second.
static async Task RunLoad(HttpClient http, int clients, int seconds)
{
    async Task<(double Ttft, double Total)> OneRun(string session)
    {
        var t = System.Diagnostics.Stopwatch.GetTimestamp();
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/run")
        {
            Content = JsonContent.Create(new { session_id = session, corpus_id = "c1", message = "What are the release gates for Agent 2.0?", top_k = 5 }),
        };
        using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"run: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync()}");
        using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync());
        double ttft = -1;
        string? line;
        var sawDone = false;
        while ((line = await reader.ReadLineAsync()) is not null)
        {
            if (ttft < 0 && line == "event: token.delta") ttft = System.Diagnostics.Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            if (line == "event: done") sawDone = true;
        }
        if (!sawDone || ttft < 0) throw new InvalidOperationException("run stream ended without token.delta/done");
        return (ttft, System.Diagnostics.Stopwatch.GetElapsedTime(t).TotalMilliseconds);
    }

    for (var i = 0; i < 20; i++) await OneRun($"warm-{i}");
    var results = new List<(double, double)>[clients];
    var wall = System.Diagnostics.Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
    {
        var mine = results[c] = [];
        var n = 0;
        while (wall.Elapsed < TimeSpan.FromSeconds(seconds)) mine.Add(await OneRun($"bench-{clients}-{c}-{n++}"));
    }));
    var all = results.SelectMany(r => r).ToList();
    var ttft = all.Select(r => r.Item1).Order().ToArray();
    var total = all.Select(r => r.Item2).Order().ToArray();
    double P(double[] a, double q) => a[Math.Min(a.Length - 1, (int)Math.Ceiling(q * a.Length) - 1)];
    Console.WriteLine($"run (fake generator): {clients} concurrent streams for {seconds} s: {all.Count} runs, {all.Count / wall.Elapsed.TotalSeconds:F1} runs/s; " +
        $"first token.delta p50 {P(ttft, 0.5):F1} ms, p95 {P(ttft, 0.95):F1} ms; whole run p50 {P(total, 0.5):F1} ms, p95 {P(total, 0.95):F1} ms");
}

static async Task WaitDemoIngested(HttpClient http)
{
    for (var i = 0; i < 600; i++)
    {
        var docs = (await Get(http, "/v1/documents?corpus_id=c1&limit=100")).GetProperty("items").EnumerateArray().ToList();
        if (docs.Count > 0 && docs.All(d => d.GetProperty("status").GetString() == "succeeded")) return;
        await Task.Delay(100);
    }
    throw new TimeoutException("demo corpus not ingested");
}

static async Task<int> Count(HttpClient http, string corpus, string status) =>
    (await Get(http, $"/v1/documents?corpus_id={corpus}&status={status}&limit=100")).GetProperty("items").GetArrayLength();

static async Task<JsonElement> Get(HttpClient http, string path)
{
    using var resp = await http.GetAsync(path);
    var body = await resp.Content.ReadAsStringAsync();
    if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"GET {path}: {(int)resp.StatusCode} {body}");
    return JsonDocument.Parse(body).RootElement.GetProperty("data").Clone();
}

static string MakeDoc(Random rng, string[] vocab, int size)
{
    var sb = new StringBuilder(size + 200);
    while (sb.Length < size)
    {
        var words = rng.Next(40, 90);
        for (var w = 0; w < words; w++) sb.Append(vocab[rng.Next(vocab.Length)]).Append(w % 12 == 11 ? ". " : " ");
        sb.Append("\n\n");
    }
    return sb.ToString();
}

static async Task<string> WaitForKey(string path)
{
    for (var i = 0; i < 600; i++)
    {
        if (File.Exists(path) && (await File.ReadAllTextAsync(path)).Trim() is { Length: > 0 } k) return k;
        await Task.Delay(100);
    }
    throw new TimeoutException("server did not bootstrap");
}

static async Task WaitHealthy(HttpClient http)
{
    for (var i = 0; i < 300; i++)
    {
        try { if ((await http.GetAsync("/v1/health")).IsSuccessStatusCode) return; } catch (HttpRequestException) { }
        await Task.Delay(100);
    }
    throw new TimeoutException("server not healthy");
}

static void Run(string file, string arguments)
{
    using var p = Process.Start(new ProcessStartInfo(file, arguments))!;
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {arguments} failed");
}

static string FindRepoRoot()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "NexusRag.slnx"))) dir = dir.Parent;
    return dir?.FullName ?? throw new InvalidOperationException("run from inside the repository");
}

sealed record Args(string? Url, string? Key, int Docs, int Senders, int Clients, int Seconds, int Workers, string? DatabaseUrl, bool Propagation, bool RateLimit, string? RedisUrl, int Batch, int Rounds)
{
    public static Args Parse(string[] a)
    {
        string? Val(string name) => Array.IndexOf(a, name) is var i and >= 0 && i + 1 < a.Length ? a[i + 1] : null;
        return new Args(Val("--url"), Val("--key"), int.Parse(Val("--docs") ?? "1000"), int.Parse(Val("--senders") ?? "8"),
            int.Parse(Val("--clients") ?? "32"), int.Parse(Val("--seconds") ?? "10"), int.Parse(Val("--workers") ?? "2"),
            Val("--database-url"), a.Contains("--propagation"), a.Contains("--rate-limit"), Val("--redis-url"),
            int.Parse(Val("--batch") ?? "0"), int.Parse(Val("--rounds") ?? "1"));
    }
}
