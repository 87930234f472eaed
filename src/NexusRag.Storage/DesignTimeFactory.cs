using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace NexusRag.Storage;

/// <summary>Used only by <c>dotnet ef migrations add</c>.</summary>
public sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteNexusDbContext>
{
    public SqliteNexusDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteNexusDbContext>().UseSqlite("Data Source=design-time.db").Options);
}

/// <summary>Used only by <c>dotnet ef migrations add --context PostgresNexusDbContext</c> (no connection is opened).</summary>
public sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresNexusDbContext>
{
    public PostgresNexusDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresNexusDbContext>().UseNpgsql("Host=localhost;Database=design_time").Options);
}
