using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace NexusRag.Storage.Stores;

internal static class DbExtensions
{
    /// <summary>Reserves <paramref name="count"/> consecutive values of a named counter; returns the first. Must run inside the caller's transaction.</summary>
    public static async Task<long> ReserveSeqAsync(this NexusDbContext db, string name, int count, CancellationToken ct)
    {
        var conn = db.Database.GetDbConnection();
        await using var cmd = conn.CreateCommand();
        cmd.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
        cmd.CommandText = "UPDATE seq_counters SET value = value + @n WHERE name = @name RETURNING value";
        AddParam(cmd, "@n", (long)count);
        AddParam(cmd, "@name", name);
        var last = Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        return last - count + 1;
    }

    private static void AddParam(DbCommand cmd, string name, object value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        cmd.Parameters.Add(p);
    }
}
