using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace NexusRag.Storage;

public static class DatabaseErrors
{
    /// <summary>
    /// True when the exception (or one it wraps) means the database cannot be reached or is temporarily refusing work:
    /// connection refused or reset, server shutting down, too many clients, a locked SQLite file — not a bad query.
    /// </summary>
    public static bool IsUnavailable(Exception? ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SocketException:
                case TimeoutException:
                case NpgsqlException { IsTransient: true }:
                case PostgresException { SqlState: "57P01" or "57P02" or "57P03" or "53300" or "08000" or "08003" or "08006" or "08001" or "08004" }:
                case SqliteException { SqliteErrorCode: 5 or 6 or 14 }: // BUSY, LOCKED, CANTOPEN
                    return true;
                case NpgsqlException when e.InnerException is IOException or SocketException or EndOfStreamException:
                    return true;
            }
        }
        return false;
    }
}
