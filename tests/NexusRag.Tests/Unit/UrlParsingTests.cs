using NexusRag.Storage;
using NexusRag.Storage.Redis;
using Npgsql;

namespace NexusRag.Tests.Unit;

public class UrlParsingTests
{
    [Fact]
    public void A_postgresql_url_becomes_an_npgsql_connection_string()
    {
        var o = new StorageOptions { DatabaseUrl = "postgresql://nexus:s%40cret@db.internal:6543/rag?sslmode=require" };
        Assert.Equal(StoreKind.Postgres, o.Kind);
        var csb = new NpgsqlConnectionStringBuilder(o.PostgresConnectionString());
        Assert.Equal(("db.internal", 6543, "rag", "nexus", "s@cret", SslMode.Require), (csb.Host, csb.Port, csb.Database, csb.Username, csb.Password, csb.SslMode));

        var plain = new StorageOptions { DatabaseUrl = "postgres://u@localhost/x" };
        Assert.Equal((5432, "x", "u"), (new NpgsqlConnectionStringBuilder(plain.PostgresConnectionString()).Port, new NpgsqlConnectionStringBuilder(plain.PostgresConnectionString()).Database, new NpgsqlConnectionStringBuilder(plain.PostgresConnectionString()).Username));

        var npgsql = new StorageOptions { DatabaseUrl = "Host=h;Database=d;Username=u" };
        Assert.Equal(StoreKind.Postgres, npgsql.Kind);
        Assert.Equal("Host=h;Database=d;Username=u", npgsql.PostgresConnectionString());
        Assert.Equal(StoreKind.Sqlite, new StorageOptions { DatabaseUrl = "sqlite:///tmp/x.db" }.Kind);
        Assert.Equal(StoreKind.Sqlite, new StorageOptions().Kind);
    }

    [Fact]
    public void A_redis_url_becomes_client_options()
    {
        var o = RedisUrl.Parse("rediss://:p%40ss@cache.internal:6380/2");
        Assert.True(o.Ssl);
        Assert.Equal("p@ss", o.Password);
        Assert.Equal(2, o.DefaultDatabase);
        Assert.Equal("cache.internal:6380", o.EndPoints.Single().ToString()!.Replace("Unspecified/", ""));
        Assert.False(o.AbortOnConnectFail);
        var plain = RedisUrl.Parse("redis://localhost");
        Assert.False(plain.Ssl);
        Assert.Null(plain.Password);
    }
}
