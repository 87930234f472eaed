using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace NexusRag.Storage;

/// <summary>Used only by <c>dotnet ef migrations add</c>.</summary>
public sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteNexusDbContext>
{
    public SqliteNexusDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteNexusDbContext>().UseSqlite("Data Source=design-time.db").Options);
}
