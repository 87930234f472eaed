using System.ComponentModel.DataAnnotations;

namespace NexusRag.Storage;

/// <summary>
/// Where the system of record lives. <c>NEXUSRAG_DATA_DIR</c> (default <c>./var</c>) holds the embedded
/// SQLite database; <c>DATABASE_URL</c> overrides it (<c>sqlite:///path/file.db</c> or a SQLite connection string).
/// </summary>
public sealed class StorageOptions
{
    public const string Section = "NexusRag:Storage";

    [Required] public string DataDir { get; set; } = "var";
    public string? DatabaseUrl { get; set; }
    /// <summary>Seconds a command waits on a locked SQLite database before failing.</summary>
    [Range(1, 600)] public int BusyTimeoutSeconds { get; set; } = 30;

    /// <summary>Where original files are kept (<c>ORIGINALS_DIR</c>; default <c>{data dir}/originals</c>). Shared by every replica that runs workers.</summary>
    [Core.FlatName("ORIGINALS_DIR")] public string? OriginalsDir { get; set; }

    public string ResolveDataDir() => Path.GetFullPath(DataDir);

    public string ResolveOriginalsDir() => Path.GetFullPath(string.IsNullOrWhiteSpace(OriginalsDir) ? Path.Combine(ResolveDataDir(), "originals") : OriginalsDir);

    /// <summary>Where the search index keeps its snapshot (derived data; safe to delete).</summary>
    public string IndexSnapshotPath() => Path.Combine(ResolveDataDir(), "index", "search.snapshot");

    /// <summary>The scheme of a <c>DATABASE_URL</c> that names neither store (<c>mysql://…</c>), else null.</summary>
    public string? UnsupportedScheme()
    {
        var url = DatabaseUrl?.Trim();
        if (string.IsNullOrEmpty(url)) return null;
        var i = url.IndexOf("://", StringComparison.Ordinal);
        if (i <= 0) return null; // a connection string, judged by its store
        var scheme = url[..i].ToLowerInvariant();
        return scheme is "postgres" or "postgresql" or "postgresql+psycopg" or "sqlite" ? null : scheme;
    }

    public StoreKind Kind
    {
        get
        {
            var url = DatabaseUrl?.Trim();
            if (string.IsNullOrEmpty(url)) return StoreKind.Sqlite;
            if (url.StartsWith("postgres", StringComparison.OrdinalIgnoreCase) || url.Contains("Host=", StringComparison.OrdinalIgnoreCase))
                return StoreKind.Postgres;
            return StoreKind.Sqlite;
        }
    }

    /// <summary>
    /// The Npgsql connection string: a <c>postgresql://user:pass@host:port/db?sslmode=require</c> URL (the seed's form) is
    /// translated; an Npgsql connection string (<c>Host=…;Database=…</c>) is used as is.
    /// </summary>
    public string PostgresConnectionString()
    {
        var url = DatabaseUrl!.Trim();
        if (!url.StartsWith("postgres", StringComparison.OrdinalIgnoreCase)) return url;
        var uri = new Uri(url.Replace("postgresql+psycopg://", "postgresql://", StringComparison.OrdinalIgnoreCase));
        var csb = new Npgsql.NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) is { Length: > 0 } db ? db : "postgres",
        };
        if (uri.UserInfo is { Length: > 0 } info)
        {
            var parts = info.Split(':', 2);
            csb.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length > 1) csb.Password = Uri.UnescapeDataString(parts[1]);
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            if (kv.Length == 2 && kv[0].Equals("sslmode", StringComparison.OrdinalIgnoreCase)
                && Enum.TryParse<Npgsql.SslMode>(Uri.UnescapeDataString(kv[1]).Replace("-", ""), ignoreCase: true, out var mode))
                csb.SslMode = mode;
        }
        return csb.ConnectionString;
    }

    public string SqliteConnectionString()
    {
        var url = DatabaseUrl?.Trim();
        string path;
        if (string.IsNullOrEmpty(url)) path = Path.Combine(ResolveDataDir(), "nexusrag.db");
        else if (url.StartsWith("sqlite:///", StringComparison.OrdinalIgnoreCase)) path = Path.GetFullPath(url["sqlite:///".Length..]);
        else if (url.StartsWith("sqlite://", StringComparison.OrdinalIgnoreCase)) path = Path.GetFullPath(url["sqlite://".Length..]);
        else return url;
        return $"Data Source={path};Default Timeout={BusyTimeoutSeconds};Pooling=True";
    }
}

public enum StoreKind { Sqlite, Postgres }
