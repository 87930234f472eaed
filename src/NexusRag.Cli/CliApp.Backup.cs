using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Backups;
using NexusRag.Storage.Backups;
using Spectre.Console;

namespace NexusRag.Cli;

public sealed partial class CliApp
{
    private Command BackupCommand()
    {
        var backup = new Command("backup", "Backups you can restore: create, list, verify, restore (with --dry-run), prune");

        var type = new Option<string>("--type") { Description = "all (database, schema, metadata, originals, index snapshot) | db | schema | metadata", DefaultValueFactory = _ => "all" };
        type.AcceptOnlyFromAmong(BackupTypes.All);
        var create = new Command("create", "Write a backup set to BACKUP_LOCAL_DIR (consistent while the server runs)") { type };
        create.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            var m = await sp.GetRequiredService<BackupService>().CreateAsync(pr.GetValue(type)!, ct2);
            _console.MarkupLine($"[green]Backup[/] [bold]{m.Id}[/] ({m.Type}, {m.Store}, schema {Markup.Escape(m.SchemaVersion)}) in {m.DurationMs / 1000:F1} s: " +
                                $"{string.Join(", ", m.Components.Select(c => $"{c.Name} {c.Bytes:N0} B"))}; encryption {m.Policy.Encryption}, signing {m.Policy.Signing}");
            _console.WriteLine(sp.GetRequiredService<BackupService>().ManifestPath(m.Id));
            return 0;
        }, migrateFirst: false));

        var list = new Command("list", "List the backup sets, newest first");
        list.SetAction((pr, ct) => WithServices(ct, (sp, _) =>
        {
            var table = new Table().AddColumns("id", "created", "type", "store", "schema", "bytes", "encryption", "signing");
            var sets = sp.GetRequiredService<BackupService>().List();
            foreach (var m in sets)
                table.AddRow(m.Id, m.CreatedAt.ToString("u"), m.Type, m.Store, Markup.Escape(m.SchemaVersion), m.Components.Sum(c => c.Bytes).ToString("N0"), m.Policy.Encryption, m.Policy.Signing);
            _console.Write(table);
            _console.WriteLine($"{sets.Count} backup set(s)");
            return Task.FromResult(0);
        }, migrateFirst: false));

        var manifest = new Option<string>("--manifest") { Description = "Path to the set's manifest.json", Required = true };
        var components = new Option<string>("--components") { Description = "all, or a list of db, schema, originals, index", DefaultValueFactory = _ => "all" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Verify signature, checksums and decryption and report what would change; touch nothing" };
        var allow = new Option<bool>("--allow-destructive") { Description = "Allow overwriting a store that holds data" };
        var restore = new Command("restore", "Restore a backup set into this store (stop the servers first)") { manifest, components, dryRun, allow };
        restore.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            var raw = pr.GetValue(components)!;
            IReadOnlyCollection<string>? wanted = raw.Trim() == "all" ? null : raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var report = await sp.GetRequiredService<BackupService>().RestoreAsync(pr.GetValue(manifest)!, wanted, pr.GetValue(dryRun), pr.GetValue(allow), ct2);
            _console.MarkupLine($"{(report.DryRun ? "[yellow]Dry run[/] of" : "[green]Restored[/]")} backup [bold]{report.Manifest.Id}[/] " +
                                $"({report.Manifest.Store}, {(report.Signed ? "signature verified" : "unsigned")}, checksums verified): {string.Join(", ", report.Components)}");
            foreach (var a in report.Actions) _console.WriteLine((report.DryRun ? "  would " : "  did ") + a);
            _console.WriteLine($"  store before: {BackupService.Describe(report.Before)}");
            if (report.Backup is { } b) _console.WriteLine($"  backup:       {BackupService.Describe(b)}");
            if (report.After is { } after)
            {
                _console.WriteLine($"  store after:  {BackupService.Describe(after)}");
                if (report.MigrationsApplied.Count > 0) _console.WriteLine($"  migrated: {string.Join(", ", report.MigrationsApplied)}");
            }
            return 0;
        }, migrateFirst: false));

        var verify = new Command("verify", "Check a set's signature and checksums (and that it decrypts) without restoring") { manifest };
        verify.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            var report = await sp.GetRequiredService<BackupService>().RestoreAsync(pr.GetValue(manifest)!, null, dryRun: true, allowDestructive: false, ct2);
            _console.MarkupLine($"[green]ok[/] {report.Manifest.Id}: {(report.Signed ? "signature verified" : "unsigned")}, {report.Manifest.Components.Count} component(s) sound");
            return 0;
        }, migrateFirst: false));

        var prune = new Command("prune", "Delete sets older than BACKUP_RETENTION_DAYS (the newest, and any under a backup_set legal hold, are kept)");
        prune.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            var task = sp.GetServices<NexusRag.Core.Backups.IMaintenanceTask>().Single(t => t.Name == NexusRag.Core.Backups.MaintenanceTasks.BackupPruneRetention);
            var result = System.Text.Json.JsonSerializer.SerializeToElement(await task.RunAsync(default, ct2));
            var pruned = result.GetProperty("pruned").EnumerateArray().Select(e => e.GetString()).ToList();
            var held = result.GetProperty("held").EnumerateArray().Select(e => e.GetString()).ToList();
            _console.WriteLine(pruned.Count == 0 ? "Nothing to prune." : $"Pruned {pruned.Count}: {string.Join(", ", pruned)}");
            if (held.Count > 0) _console.WriteLine($"Kept under legal hold: {string.Join(", ", held)}");
            return 0;
        }));

        backup.Subcommands.Add(create);
        backup.Subcommands.Add(list);
        backup.Subcommands.Add(verify);
        backup.Subcommands.Add(restore);
        backup.Subcommands.Add(prune);
        return backup;
    }
}
