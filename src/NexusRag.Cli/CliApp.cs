using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core;
using NexusRag.Core.Auth;
using NexusRag.Core.Bootstrap;
using NexusRag.Core.Errors;
using NexusRag.Core.Services;
using NexusRag.Embeddings;
using NexusRag.Search;
using NexusRag.Storage;
using Spectre.Console;

namespace NexusRag.Cli;

/// <summary>
/// The <c>nexusrag</c> command line. Reads the same configuration as the server (environment variables,
/// <c>NEXUSRAG_DATA_DIR</c>, <c>DATABASE_URL</c>), so it works on the same <c>./var</c> database.
/// </summary>
public sealed partial class CliApp(IReadOnlyDictionary<string, string?>? configOverrides = null, IAnsiConsole? console = null)
{
    private readonly IAnsiConsole _console = Widen(console ?? AnsiConsole.Console);

    private static IAnsiConsole Widen(IAnsiConsole c)
    {
        // Redirected output defaults to 80 columns, which folds the key table; logs and pipes prefer long lines.
        if (Console.IsOutputRedirected && c.Profile.Width < 200) c.Profile.Width = 200;
        return c;
    }

    public async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("NexusRAG command line: API keys, database migrations, demo data, evaluation, index, audit and backups.");
        root.Subcommands.Add(KeysCommand());
        root.Subcommands.Add(Simple("migrate", "Apply database migrations", MigrateAsync, migrateFirst: false));
        root.Subcommands.Add(Simple("seed", "Create the demo tenant t1, corpus c1 and its documents (idempotent)", SeedAsync));
        root.Subcommands.Add(EvalCommand());
        root.Subcommands.Add(IndexCommand());
        root.Subcommands.Add(AuditCommand());
        root.Subcommands.Add(BackupCommand());
        root.Subcommands.Add(PreflightCommand());
        root.Subcommands.Add(ComplianceCommand());
        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = new ConsoleWriter(_console), Error = new ConsoleWriter(_console) });
    }

    private Command KeysCommand()
    {
        var keys = new Command("keys", "Manage API keys");

        var tenant = new Option<string?>("--tenant") { Description = "Tenant id (created if new); not with --operator" };
        var role = new Option<string?>("--role") { Description = "reader | editor | admin; not with --operator" };
        var name = new Option<string>("--name") { Description = "A label for the key", Required = true };
        var expires = new Option<string?>("--expires-in") { Description = "Lifetime such as 30d, 12h, 45m" };
        var asOperator = new Option<bool>("--operator")
        {
            Description = "A platform-operator key (plans, quota limits, global kill switches for every tenant); only this command mints one",
        };
        var create = new Command("create", "Create an API key and print it once") { tenant, role, name, expires, asOperator };
        create.Validators.Add(r =>
        {
            var op = r.GetValue(asOperator);
            if (op && (r.GetValue(tenant) is not null || r.GetValue(role) is not null)) r.AddError("--operator keys belong to no tenant and hold no role: drop --tenant and --role");
            if (!op && (r.GetValue(tenant) is null || r.GetValue(role) is null)) r.AddError("--tenant and --role are required (or --operator for a platform-operator key)");
        });
        create.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            if (pr.GetValue(asOperator))
            {
                var op = await sp.GetRequiredService<ApiKeyService>().CreateOperatorAsync(pr.GetValue(name)!, ApiKeyService.ParseDuration(pr.GetValue(expires)), "cli", ct2);
                _console.MarkupLine($"[green]Created[/] platform-operator key [bold]{op.Key.Id}[/]{(op.Key.ExpiresAt is { } oe ? $" (expires {oe:u})" : "")}.");
                _console.MarkupLine("This is the only time the key is shown:");
                _console.WriteLine(op.Plaintext);
                return 0;
            }
            if (!Roles.TryParse(pr.GetValue(role), out var r)) throw NexusException.Validation("role", "must be reader, editor or admin");
            var created = await sp.GetRequiredService<ApiKeyService>().CreateAsync(pr.GetValue(tenant)!, r, pr.GetValue(name)!,
                ApiKeyService.ParseDuration(pr.GetValue(expires)), "cli", ct2);
            _console.MarkupLine($"[green]Created[/] key [bold]{created.Key.Id}[/] for tenant [bold]{Markup.Escape(created.Key.TenantId)}[/] (role {r.ToWire()}{(created.Key.ExpiresAt is { } e ? $", expires {e:u}" : "")}).");
            _console.MarkupLine("This is the only time the key is shown:");
            _console.WriteLine(created.Plaintext);
            return 0;
        }));

        var listTenant = new Option<string?>("--tenant") { Description = "Tenant id" };
        var listOperator = new Option<bool>("--operator") { Description = "List the platform-operator keys instead" };
        var inactiveOnly = new Option<bool>("--inactive-only") { Description = "Only keys unused for longer than AUTH_API_KEY_INACTIVE_DAYS (never used: since created)" };
        var list = new Command("list", "List a tenant's API keys, or the operator keys (never their secrets)") { listTenant, listOperator, inactiveOnly };
        list.Validators.Add(r =>
        {
            if (r.GetValue(listOperator) == (r.GetValue(listTenant) is not null)) r.AddError("give exactly one of --tenant or --operator");
        });
        list.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            var items = await sp.GetRequiredService<IIdentityStore>().ListApiKeysAsync(pr.GetValue(listOperator) ? Principal.PlatformTenant : pr.GetValue(listTenant)!, ct2);
            if (pr.GetValue(inactiveOnly))
            {
                var service = sp.GetRequiredService<ApiKeyService>();
                items = items.Where(k => k.RevokedAt is null && service.IsPastInactivityLimit(k)).ToList();
            }
            var table = new Table().AddColumns("id", "name", "role", "prefix", "created", "expires", "revoked", "last used");
            foreach (var k in items)
            {
                table.AddRow(k.Id, Markup.Escape(k.Name), k.IsOperator ? "operator" : k.Role.ToWire(), k.Prefix, k.CreatedAt.ToString("u"),
                    k.ExpiresAt?.ToString("u") ?? "-", k.RevokedAt?.ToString("u") ?? "-", k.LastUsedAt?.ToString("u") ?? "-");
            }
            _console.Write(table);
            _console.WriteLine($"{items.Count} key(s)");
            return 0;
        }));

        var keyId = new Argument<string>("id") { Description = "Key id (key_…)" };
        var revoke = new Command("revoke", "Revoke an API key") { keyId };
        revoke.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            var key = await sp.GetRequiredService<ApiKeyService>().RevokeAsync(pr.GetValue(keyId)!, "cli", ct2);
            if (key is null)
            {
                _console.MarkupLine($"[red]No such key:[/] {Markup.Escape(pr.GetValue(keyId)!)}");
                return 1;
            }
            _console.MarkupLine($"Revoked key [bold]{key.Id}[/] of tenant [bold]{Markup.Escape(key.TenantId)}[/].");
            return 0;
        }));

        var rotateId = new Argument<string>("id") { Description = "Key id (key_…)" };
        var keepOld = new Option<bool>("--keep-old-active") { Description = "Keep the old key working until you revoke it (default: revoke it now)" };
        var rotate = new Command("rotate", "Replace a key with a new one (same tenant, role, name, expiry) and print the new key once") { rotateId, keepOld };
        rotate.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            var rotated = await sp.GetRequiredService<ApiKeyService>().RotateAsync(null, pr.GetValue(rotateId)!, pr.GetValue(keepOld), "system", "cli", null, ct2);
            if (rotated is null)
            {
                _console.MarkupLine($"[red]No such key:[/] {Markup.Escape(pr.GetValue(rotateId)!)}");
                return 1;
            }
            _console.MarkupLine($"Rotated key [bold]{rotated.Previous.Id}[/] of tenant [bold]{Markup.Escape(rotated.Previous.TenantId)}[/] → [bold]{rotated.Created.Key.Id}[/]; " +
                                (rotated.PreviousActive ? "the old key stays active until revoked." : "the old key is revoked."));
            _console.WriteLine("The new key (shown once):");
            _console.WriteLine(rotated.Created.Plaintext);
            return 0;
        }));

        keys.Subcommands.Add(create);
        keys.Subcommands.Add(rotate);
        keys.Subcommands.Add(list);
        keys.Subcommands.Add(revoke);
        return keys;
    }

    private Command Simple(string name, string description, Func<IServiceProvider, CancellationToken, Task<int>> action, bool migrateFirst = true)
    {
        var cmd = new Command(name, description);
        cmd.SetAction((_, ct) => WithServices(ct, action, migrateFirst));
        return cmd;
    }

    private async Task<int> MigrateAsync(IServiceProvider sp, CancellationToken ct)
    {
        var applied = await sp.GetRequiredService<DatabaseMigrator>().MigrateAsync(ct);
        _console.WriteLine(applied.Count == 0 ? "Database is up to date." : $"Applied {applied.Count} migration(s): {string.Join(", ", applied)}");
        return 0;
    }

    private async Task<int> SeedAsync(IServiceProvider sp, CancellationToken ct)
    {
        var result = await sp.GetRequiredService<DemoSeeder>().SeedAsync(ct);
        _console.WriteLine(result.AlreadySeeded
            ? "already seeded"
            : $"Seeded tenant {DemoData.TenantId}, corpus {DemoData.CorpusId}: {result.DocumentsQueued} document(s) queued for ingestion (a running server's worker processes them).");
        return 0;
    }

    private async Task<int> WithServices(CancellationToken ct, Func<IServiceProvider, CancellationToken, Task<int>> action, bool migrateFirst = true,
        IReadOnlyDictionary<string, string?>? extraConfig = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        builder.Configuration.AddInMemoryCollection(configOverrides ?? new Dictionary<string, string?>());
        if (extraConfig is not null) builder.Configuration.AddInMemoryCollection(extraConfig);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddNexusRagApplication(builder.Configuration).AddNexusRagStore(builder.Configuration)
            .AddNexusRagEmbeddings(builder.Configuration)
            .AddNexusRagReranking(builder.Configuration)
            .AddHybridSearchIndex(builder.Configuration, sp => sp.GetRequiredService<IOptions<StorageOptions>>().Value.IndexSnapshotPath(), followInBackground: false);
        using var host = builder.Build();
        try
        {
            host.Services.GetService<IStartupValidator>()?.Validate(); // every setting, as the server checks them
            if (migrateFirst) await host.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(ct);
            return await action(host.Services, ct);
        }
        catch (OptionsValidationException ex)
        {
            _console.MarkupLine($"[red]Configuration error:[/] {Markup.Escape(string.Join("; ", ex.Failures))}");
            return 2;
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is OptionsValidationException))
        {
            _console.MarkupLine($"[red]Configuration error:[/] {Markup.Escape(string.Join("; ", ex.InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures)))}");
            return 2;
        }
        catch (NexusException ex)
        {
            _console.MarkupLine($"[red]{Markup.Escape(ex.Code)}:[/] {Markup.Escape(ex.Message)}");
            return 1;
        }
        catch (Core.Backups.BackupIntegrityException ex)
        {
            _console.MarkupLine($"[red]Refused:[/] {Markup.Escape(ex.Message)}");
            return 1;
        }
        catch (InvalidOperationException ex) when (ex.Message.Contains("pg_", StringComparison.Ordinal) || ex.Message.Contains("psql", StringComparison.Ordinal))
        {
            _console.MarkupLine($"[red]Error:[/] {Markup.Escape(ex.Message)}");
            return 1;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or System.Text.Json.JsonException)
        {
            _console.MarkupLine($"[red]Error:[/] {Markup.Escape(ex.Message)}");
            return 1;
        }
    }

    private sealed class ConsoleWriter(IAnsiConsole console) : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void Write(char value) => console.Write(value.ToString());
        public override void Write(string? value) => console.Write(value ?? "");
    }
}
