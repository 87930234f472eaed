namespace NexusRag.Server.Hosting;

/// <summary>
/// What this process does: <c>api</c> serves HTTP and follows the index, <c>worker</c> runs ingestion jobs (health only,
/// on a random loopback port unless <c>--urls</c> says otherwise), <c>all</c> (default) both.
/// Chosen by <c>--role</c> or <c>NEXUSRAG_ROLE</c>.
/// </summary>
public enum ServerRole { All, Api, Worker }

public static class ServerRoles
{
    public static bool TryRead(IConfiguration config, out ServerRole role, out string? error)
    {
        var raw = (config["role"] ?? config["NEXUSRAG_ROLE"] ?? "all").Trim().ToLowerInvariant();
        (role, error) = raw switch
        {
            "all" => (ServerRole.All, null),
            "api" => (ServerRole.Api, null),
            "worker" => (ServerRole.Worker, (string?)null),
            _ => (ServerRole.All, $"nexusrag: refusing to start: --role must be api, worker or all, got '{raw}'"),
        };
        return error is null;
    }

    public static bool ServesApi(this ServerRole role) => role != ServerRole.Worker;
    public static bool RunsWorker(this ServerRole role) => role != ServerRole.Api;
    public static string Wire(this ServerRole role) => role.ToString().ToLowerInvariant();
}

/// <summary>This process's role, as a service.</summary>
public sealed record RoleInfo(ServerRole Role);
