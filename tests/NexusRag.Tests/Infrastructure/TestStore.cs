using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace NexusRag.Tests.Infrastructure;

/// <summary>
/// Which store the suite runs on. scripts/test.sh runs the whole suite twice: on SQLite, and with
/// <c>NEXUSRAG_TEST_STORE=postgres</c> on the throwaway PostgreSQL it started (<c>NEXUSRAG_TEST_POSTGRES</c>).
/// On PostgreSQL every data directory gets its own database, so a restart test (same folder) finds its data again.
/// </summary>
public static class TestStore
{
    public static bool IsPostgres => Environment.GetEnvironmentVariable("NEXUSRAG_TEST_STORE") == "postgres";

    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable("NEXUSRAG_TEST_POSTGRES")
        ?? throw new InvalidOperationException("NEXUSRAG_TEST_STORE=postgres needs NEXUSRAG_TEST_POSTGRES (scripts/test.sh sets both)");

    /// <summary>The settings that point a server or the CLI at the store for this data directory.</summary>
    public static Dictionary<string, string?> SettingsFor(string dataDir)
    {
        // Tests embed with the hash embedder for speed; the built-in local model (the product default) has its own tests.
        var settings = new Dictionary<string, string?> { ["NEXUSRAG_DATA_DIR"] = dataDir, ["EMBEDDINGS_PROVIDER"] = "hash" };
        if (IsPostgres) settings["DATABASE_URL"] = DatabaseFor(dataDir);
        return settings;
    }

    private static readonly object Gate = new();

    /// <summary>A database named after the folder, created on first use.</summary>
    public static string DatabaseFor(string dataDir)
    {
        var name = "nx_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(dataDir))))[..20];
        lock (Gate)
        {
            using var conn = new NpgsqlConnection(AdminConnectionString);
            conn.Open();
            using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @n", conn);
            exists.Parameters.AddWithValue("n", name);
            if (exists.ExecuteScalar() is null)
            {
                using var create = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
                create.ExecuteNonQuery();
            }
        }
        // Many servers run side by side in one test process: keep each pool small, and let idle connections go soon,
        // so the servers of finished tests do not hold the throwaway server's connection slots.
        return new NpgsqlConnectionStringBuilder(AdminConnectionString)
        {
            Database = name, MaxPoolSize = 20, ConnectionIdleLifetime = 5, ConnectionPruningInterval = 2,
        }.ConnectionString;
    }
}
