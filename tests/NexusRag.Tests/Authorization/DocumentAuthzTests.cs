using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;
using NexusRag.Tests.Run;

namespace NexusRag.Tests.Authorization;

/// <summary>
/// Seed "Authorization Model (RBAC + ABAC + Document ACL)" through every read path: get, chunks, content, list, search
/// and run, under each server setting (default deny, admin bypass, ABAC off).
/// </summary>
public sealed class DocumentAuthzTests
{
    /// <summary>The seed's first example policy.</summary>
    private static readonly object DenyHighSensitivity = new
    {
        name = "deny-high-sensitivity", effect = "deny", resource_type = "document", action = "read", priority = 200,
        condition_json = new { eq = new object[] { new { var = "resource.labels.sensitivity" }, "high" } },
    };

    private static readonly object AllowPublic = new
    {
        name = "allow-public", effect = "allow", resource_type = "document", action = "read", priority = 100,
        condition_json = new { eq = new object[] { new { var = "resource.labels.audience" }, "all" } },
    };

    /// <summary>One tenant: documents with every combination the decision looks at, and the keys that read them.</summary>
    private sealed class World
    {
        public required HttpClient Creator { get; init; }   // admin that created every document (owner entries)
        public required HttpClient Admin { get; init; }     // another admin
        public required HttpClient Granted { get; init; }   // reader with explicit read grants
        public required HttpClient Reader { get; init; }    // reader without grants
        public static readonly string[] Docs = ["plain", "high", "granted", "public", "highgranted"];
    }

    private static async Task<World> BuildAsync(NexusAppFactory app, string tenant)
    {
        var creator = await app.AdminForTenantAsync(tenant);
        var grantedKey = await app.CreateKeyAsync(tenant, Role.Reader, "granted");
        var keyId = (await (await creator.GetAsync("/v1/self-serve/api-keys")).DataAsync()).EnumerateArray()
            .Single(k => k.GetProperty("name").GetString() == "granted").GetProperty("id").GetString()!;
        var labels = new Dictionary<string, object?>
        {
            ["plain"] = null, ["high"] = new { sensitivity = "high" }, ["granted"] = null, ["public"] = new { audience = "all" },
            ["highgranted"] = new { sensitivity = "high" },
        };
        foreach (var d in World.Docs)
        {
            var body = new Dictionary<string, object?>
            {
                ["corpus_id"] = "docs", ["document_id"] = d, ["text"] = $"The zephyr report {d}token describes the zephyr winds of {d}.",
            };
            if (labels[d] is { } l) body["labels"] = l;
            await (await creator.PostAsJsonAsync("/v1/documents/text", body)).DataAsync(202);
        }
        foreach (var d in World.Docs) await creator.WaitForDocumentAsync(d);
        foreach (var d in new[] { "granted", "highgranted" })
            await (await creator.PostAsJsonAsync($"/v1/admin/authz/documents/{d}/permissions", new { principal_type = "api_key", principal_id = keyId, permission = "read" })).DataAsync(201);
        await (await creator.PostAsJsonAsync("/v1/admin/authz/policies", DenyHighSensitivity)).DataAsync(201);
        await (await creator.PostAsJsonAsync("/v1/admin/authz/policies", AllowPublic)).DataAsync(201);
        return new World
        {
            Creator = creator, Admin = app.ClientWithKey(await app.CreateKeyAsync(tenant, Role.Admin, "other-admin")),
            Granted = app.ClientWithKey(grantedKey), Reader = app.ClientWithKey(await app.CreateKeyAsync(tenant, Role.Reader, "plain-reader")),
        };
    }

    /// <summary>Asserts that exactly <paramref name="readable"/> are visible to <paramref name="client"/> on every read path.</summary>
    private static async Task AssertSeesAsync(HttpClient client, string who, params string[] readable)
    {
        foreach (var d in World.Docs)
        {
            var expected = readable.Contains(d) ? HttpStatusCode.OK : HttpStatusCode.NotFound;
            Assert.True((await client.GetAsync($"/v1/documents/{d}")).StatusCode == expected, $"{who} GET {d}: expected {expected}");
            Assert.True((await client.GetAsync($"/v1/documents/{d}/chunks")).StatusCode == expected, $"{who} chunks {d}: expected {expected}");
            Assert.True((await client.GetAsync($"/v1/documents/{d}/content")).StatusCode == expected, $"{who} content {d}: expected {expected}");
        }
        var listed = (await (await client.GetAsync("/v1/documents?corpus_id=docs&limit=2")).DataAsync()).GetProperty("items").EnumerateArray()
            .Select(x => x.GetProperty("id").GetString()!).ToList();
        var all = new List<string>(listed);
        var page = await (await client.GetAsync("/v1/documents?corpus_id=docs&limit=2")).DataAsync();
        while (page.GetProperty("page").GetProperty("next_cursor").GetString() is { } cursor)
        {
            page = await (await client.GetAsync($"/v1/documents?corpus_id=docs&limit=2&cursor={cursor}")).DataAsync();
            all.AddRange(page.GetProperty("items").EnumerateArray().Select(x => x.GetProperty("id").GetString()!));
        }
        Assert.True(readable.Order().SequenceEqual(all.Order()), $"{who} list: [{string.Join(",", all)}], expected [{string.Join(",", readable)}]");
        Assert.True(listed.Count == Math.Min(2, readable.Length), $"{who}: a page is filled from readable documents ({listed.Count})");

        var search = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "zephyr winds report", top_k = 10, mode = "lexical", explain = true })).DataAsync();
        var found = search.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()!).Distinct().ToList();
        Assert.True(readable.Order().SequenceEqual(found.Order()), $"{who} search: [{string.Join(",", found)}], expected [{string.Join(",", readable)}]");

        var (_, frames) = await SseClient.RunAsync(client, new { session_id = $"s-{who}-{Guid.NewGuid():N}"[..40], corpus_id = "docs", message = "What do the zephyr reports say?", top_k = 10 });
        var streamed = string.Join("\n", frames.Select(f => f.Data.GetRawText()));
        foreach (var d in World.Docs.Except(readable))
            Assert.DoesNotContain($"{d}token", streamed, StringComparison.Ordinal); // no token, citation or debug event of a forbidden chunk
        var cited = frames.Single(f => f.Event == "message.final").Data.GetProperty("data").GetProperty("citations").EnumerateArray()
            .Select(c => c.GetProperty("source").GetString()!).ToList();
        Assert.All(cited, c => Assert.Contains(c["document://".Length..], readable));
    }

    [Fact]
    public async Task Without_default_deny_only_an_ABAC_deny_restricts_and_it_beats_grants_owner_and_admin()
    {
        using var app = new NexusAppFactory(new() { ["DEBUG_EVENTS"] = "true" });
        var w = await BuildAsync(app, "authz-open");
        await AssertSeesAsync(w.Reader, "reader", "plain", "granted", "public");
        await AssertSeesAsync(w.Granted, "granted", "plain", "granted", "public");
        await AssertSeesAsync(w.Admin, "admin", "plain", "granted", "public");
        await AssertSeesAsync(w.Creator, "owner", "plain", "granted", "public");
    }

    [Fact]
    public async Task With_default_deny_a_grant_owner_entry_or_allow_policy_admits_and_a_deny_still_wins()
    {
        using var app = new NexusAppFactory(new() { ["AUTHZ_DEFAULT_DENY"] = "true", ["DEBUG_EVENTS"] = "true" });
        var w = await BuildAsync(app, "authz-closed");
        await AssertSeesAsync(w.Reader, "reader", "public");
        await AssertSeesAsync(w.Granted, "granted", "granted", "public");
        await AssertSeesAsync(w.Admin, "admin", "public");
        await AssertSeesAsync(w.Creator, "owner", "plain", "granted", "public");
    }

    [Fact]
    public async Task The_admin_bypass_opens_the_ACL_step_to_admins_only_and_never_past_a_deny()
    {
        using var app = new NexusAppFactory(new() { ["AUTHZ_DEFAULT_DENY"] = "true", ["AUTHZ_ADMIN_BYPASS_DOCUMENT_ACL"] = "true" });
        var w = await BuildAsync(app, "authz-bypass");
        await AssertSeesAsync(w.Admin, "admin", "plain", "granted", "public");
        await AssertSeesAsync(w.Reader, "reader", "public");
    }

    [Fact]
    public async Task With_ABAC_off_policies_neither_deny_nor_allow()
    {
        using var app = new NexusAppFactory(new() { ["AUTHZ_ABAC_ENABLED"] = "false" });
        var w = await BuildAsync(app, "authz-noabac");
        await AssertSeesAsync(w.Reader, "reader", World.Docs);
    }

    [Fact]
    public async Task Top_k_is_filled_from_readable_chunks_when_the_best_ones_are_forbidden()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("authz-topk");
        for (var i = 0; i < 12; i++)
            await admin.IngestTextAsync("docs", $"Basalt basalt basalt basalt columns number {i}, basalt everywhere.", $"secret-{i:D2}",
                extra: null);
        for (var i = 0; i < 12; i++)
            await (await admin.PatchAsJsonAsync($"/v1/documents/secret-{i:D2}", new { labels = new { sensitivity = "high" } })).DataAsync();
        for (var i = 0; i < 6; i++) await admin.IngestTextAsync("docs", $"A short note {i} that mentions basalt once among many other words about weather.", $"open-{i}");
        for (var i = 0; i < 6; i++) await admin.WaitForDocumentAsync($"open-{i}");
        await (await admin.PostAsJsonAsync("/v1/admin/authz/policies", DenyHighSensitivity)).DataAsync(201);
        var reader = app.ClientWithKey(await app.CreateKeyAsync("authz-topk", Role.Reader));
        foreach (var mode in new[] { "lexical", "vector", "hybrid" })
        {
            var results = (await (await reader.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "basalt columns", top_k = 5, mode })).DataAsync())
                .GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()!).ToList();
            Assert.Equal(5, results.Count);
            Assert.All(results, d => Assert.StartsWith("open-", d));
        }
        // The admin (no bypass) is denied too; an unrestricted view would have ranked the secrets first.
        var byAdmin = (await (await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "basalt columns", top_k = 5, mode = "lexical" })).DataAsync())
            .GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()!).ToList();
        Assert.All(byAdmin, d => Assert.StartsWith("open-", d));
        await (await admin.DeleteAsync($"/v1/admin/authz/policies/{(await (await admin.GetAsync("/v1/admin/authz/policies")).DataAsync())[0].GetProperty("id").GetString()}")).DataAsync();
        var unrestricted = (await (await reader.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "basalt columns", top_k = 5, mode = "lexical" })).DataAsync())
            .GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()!).ToList();
        Assert.All(unrestricted, d => Assert.StartsWith("secret-", d)); // and a change counts on the next request
    }

    [Fact]
    public async Task An_expired_grant_is_ignored()
    {
        using var app = new NexusAppFactory(new() { ["AUTHZ_DEFAULT_DENY"] = "true" });
        var admin = await app.AdminForTenantAsync("authz-expiry");
        await admin.IngestTextAsync("docs", "Temporary access to the quarterly figures.", "q");
        await admin.WaitForDocumentAsync("q");
        var reader = app.ClientWithKey(await app.CreateKeyAsync("authz-expiry", Role.Reader));
        Assert.Equal(HttpStatusCode.NotFound, (await reader.GetAsync("/v1/documents/q")).StatusCode);
        var expires = DateTime.UtcNow.AddSeconds(2);
        var grant = await (await admin.PostAsJsonAsync("/v1/admin/authz/documents/q/permissions",
            new { principal_type = "role", principal_id = "reader", permission = "read", expires_at = expires })).DataAsync(201);
        Assert.True(grant.GetProperty("active").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/v1/documents/q")).StatusCode);
        await Task.Delay(expires - DateTime.UtcNow + TimeSpan.FromMilliseconds(300));
        Assert.Equal(HttpStatusCode.NotFound, (await reader.GetAsync("/v1/documents/q")).StatusCode);
        var listed = (await (await admin.GetAsync("/v1/admin/authz/documents/q/permissions")).DataAsync()).EnumerateArray().ToList();
        Assert.Contains(listed, g => g.GetProperty("principal_type").GetString() == "role" && !g.GetProperty("active").GetBoolean());
        Assert.Contains(listed, g => g.GetProperty("permission").GetString() == "owner"); // the creator's entry
        await (await admin.PostAsJsonAsync("/v1/admin/authz/documents/q/permissions",
            new { principal_type = "role", principal_id = "reader", permission = "read", expires_at = DateTime.UtcNow.AddMinutes(-1) })).AssertErrorAsync(422);
    }

    [Fact]
    public async Task Write_actions_need_a_write_grant_under_default_deny_and_the_seed_business_hours_policy_decides_by_time()
    {
        using var app = new NexusAppFactory(new() { ["AUTHZ_DEFAULT_DENY"] = "true" });
        var admin = await app.AdminForTenantAsync("authz-write");
        await admin.IngestTextAsync("docs", "A draft that editors may relabel.", "draft");
        await admin.WaitForDocumentAsync("draft");
        var editor = app.ClientWithKey(await app.CreateKeyAsync("authz-write", Role.Editor));
        await (await admin.PostAsJsonAsync("/v1/admin/authz/documents/draft/permissions", new { principal_type = "role", principal_id = "editor", permission = "read" })).DataAsync(201);
        // Readable but not writable: 403, not 404.
        await (await editor.PatchAsJsonAsync("/v1/documents/draft", new { labels = new { stage = "review" } })).AssertErrorAsync(403, "FORBIDDEN");
        await (await editor.PostAsJsonAsync("/v1/documents/draft/reindex", new { })).AssertErrorAsync(403, "FORBIDDEN");
        await (await editor.DeleteAsync("/v1/documents/draft")).AssertErrorAsync(403, "FORBIDDEN");

        // The seed's second example, with a window around now: editors may write.
        var now = DateTime.UtcNow;
        var inside = new { start = now.AddHours(-1).ToString("HH:mm"), end = now.AddHours(1).ToString("HH:mm") };
        var outside = new { start = now.AddHours(2).ToString("HH:mm"), end = now.AddHours(3).ToString("HH:mm") };
        object Hours(object window) => new
        {
            name = "allow-editors-hours", effect = "allow", resource_type = "document", action = "write", priority = 100,
            condition_json = new
            {
                all = new object[]
                {
                    new { eq = new object[] { new { var = "principal.role" }, "editor" } },
                    new { time_between = new object[] { new { var = "request.time" }, window } },
                },
            },
        };
        var policy = await (await admin.PostAsJsonAsync("/v1/admin/authz/policies", Hours(inside))).DataAsync(201);
        var relabeled = await (await editor.PatchAsJsonAsync("/v1/documents/draft", new { labels = new { stage = "review" } })).DataAsync();
        Assert.Equal("review", relabeled.GetProperty("labels").GetProperty("stage").GetString());
        await (await admin.PatchAsJsonAsync($"/v1/admin/authz/policies/{policy.GetProperty("id").GetString()}", new { condition_json = ((dynamic)Hours(outside)).condition_json })).DataAsync();
        await (await editor.PatchAsJsonAsync("/v1/documents/draft", new { labels = new { stage = "final" } })).AssertErrorAsync(403, "FORBIDDEN");
        // A write grant admits whatever the hour.
        await (await admin.PostAsJsonAsync("/v1/admin/authz/documents/draft/permissions", new { principal_type = "role", principal_id = "editor", permission = "write" })).DataAsync(201);
        await (await editor.PatchAsJsonAsync("/v1/documents/draft", new { labels = (object?)null })).DataAsync();

        // Simulate the policy at 10:00 and at 20:00 (the seed's body shape, plus request.time).
        var id = policy.GetProperty("id").GetString();
        await (await admin.PatchAsJsonAsync($"/v1/admin/authz/policies/{id}", new { condition_json = ((dynamic)Hours(new { start = "09:00", end = "18:00" })).condition_json })).DataAsync();
        foreach (var (time, expected) in new[] { ("2026-12-01T10:00:00Z", true), ("2026-12-01T20:00:00Z", false) })
        {
            var sim = await (await admin.PostAsJsonAsync($"/v1/admin/authz/policies/{id}/simulate", new
            {
                resource_type = "document", action = "write", principal = new { role = "editor" }, resource = new { labels = new { } }, request = new { time },
            })).DataAsync();
            Assert.Equal(expected, sim.GetProperty("matches").GetBoolean());
            Assert.Equal(expected, sim.GetProperty("decision").GetProperty("allowed").GetBoolean());
            Assert.NotEmpty(sim.GetProperty("trace").EnumerateArray());
        }
    }

    [Fact]
    public async Task Policies_validate_their_DSL_naming_the_bad_node_and_wildcards_need_the_flag()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("authz-dsl");
        var bad = await (await admin.PostAsJsonAsync("/v1/admin/authz/policies", new
        {
            name = "broken", effect = "deny", resource_type = "document", action = "read",
            condition_json = new { all = new object[] { new { eq = new object[] { new { var = "resource.labels.a" }, "x" } }, new { gt = new object[] { 1, 2 } } } },
        })).JsonAsync();
        Assert.Equal("VALIDATION_ERROR", bad.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("$.all[1].gt", bad.GetProperty("error").GetProperty("details").GetProperty("fields").GetProperty("condition_json")[0].GetString());
        var badVar = await (await admin.PostAsJsonAsync("/v1/admin/authz/policies", new
        {
            name = "badvar", effect = "deny", resource_type = "document", action = "read", condition_json = new { exists = new { var = "secrets.key" } },
        })).JsonAsync();
        Assert.Contains("$.exists.var", badVar.GetProperty("error").GetProperty("details").GetProperty("fields").GetProperty("condition_json")[0].GetString());
        var wildcard = new { name = "all", effect = "allow", resource_type = "*", action = "*", condition_json = new { eq = new object[] { 1, 1 } } };
        await (await admin.PostAsJsonAsync("/v1/admin/authz/policies", wildcard)).AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync("/v1/admin/authz/policies", new { name = "x", effect = "maybe", resource_type = "document", action = "read", condition_json = new { eq = new object[] { 1, 1 } } })).AssertErrorAsync(422);
        // Simulate refuses what it cannot use, never a 500.
        var valid = await (await admin.PostAsJsonAsync("/v1/admin/authz/policies", new
        {
            name = "ok", effect = "deny", resource_type = "document", action = "read", condition_json = new { eq = new object[] { new { var = "principal.role" }, "reader" } },
        })).DataAsync(201);
        var sim = $"/v1/admin/authz/policies/{valid.GetProperty("id").GetString()}/simulate";
        await (await admin.PostAsJsonAsync(sim, new { principal = new { role = 7 } })).AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync(sim, new { principal = new { role = "root" } })).AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync(sim, new { resource = new { labels = new[] { "x" } } })).AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync(sim, new { request = new { time = 12 } })).AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync(sim, new { action = "delete" })).AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync(sim, new { principal = "reader" })).AssertErrorAsync(422);
        var simulated = await (await admin.PostAsJsonAsync(sim, new { principal = new { role = "reader", groups = new object[] { "g", 3 } } })).DataAsync();
        Assert.False(simulated.GetProperty("decision").GetProperty("allowed").GetBoolean());
        using var flagged = new NexusAppFactory(new() { ["AUTHZ_ALLOW_WILDCARDS"] = "true" });
        var admin2 = await flagged.AdminForTenantAsync("authz-wild");
        await (await admin2.PostAsJsonAsync("/v1/admin/authz/policies", wildcard)).DataAsync(201);
    }

    [Fact]
    public async Task Simulate_agrees_with_enforcement_on_a_thousand_random_cases()
    {
        using var app = new NexusAppFactory(new() { ["AUTHZ_DEFAULT_DENY"] = "true" });
        var creator = await app.AdminForTenantAsync("authz-sim");
        var rng = new Random(20261130);
        string[] sensitivities = ["low", "medium", "high"], teams = ["legal", "sales", "ops"];
        var docs = new List<(string Id, string Sensitivity, string Team)>();
        for (var i = 0; i < 24; i++)
        {
            var (s, t) = (sensitivities[rng.Next(3)], teams[rng.Next(3)]);
            await (await creator.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", document_id = $"r{i}", text = $"Random document {i}.", labels = new { sensitivity = s, team = t } })).DataAsync(202);
            docs.Add(($"r{i}", s, t));
        }
        foreach (var d in docs) await creator.WaitForDocumentAsync(d.Id);
        object[] conditions =
        [
            new { eq = new object[] { new { var = "resource.labels.sensitivity" }, "high" } },
            new { @in = new object[] { new { var = "resource.labels.team" }, new[] { "legal", "ops" } } },
            new { all = new object[] { new { neq = new object[] { new { var = "principal.role" }, "reader" } }, new { eq = new object[] { new { var = "resource.labels.team" }, "sales" } } } },
            new { any = new object[] { new { eq = new object[] { new { var = "resource.labels.sensitivity" }, "low" } }, new { not = new { exists = new { var = "resource.labels.team" } } } } },
            new { not = new { eq = new object[] { new { var = "principal.role" }, "admin" } } },
        ];
        var ids = new List<string>();
        for (var i = 0; i < conditions.Length; i++)
        {
            var p = await (await creator.PostAsJsonAsync("/v1/admin/authz/policies", new
            {
                name = $"p{i}", effect = i % 2 == 0 ? "allow" : "deny", resource_type = "document", action = "read", priority = rng.Next(0, 300), condition_json = conditions[i],
            })).DataAsync(201);
            ids.Add(p.GetProperty("id").GetString()!);
        }
        var clients = new Dictionary<string, HttpClient>
        {
            ["reader"] = app.ClientWithKey(await app.CreateKeyAsync("authz-sim", Role.Reader)),
            ["editor"] = app.ClientWithKey(await app.CreateKeyAsync("authz-sim", Role.Editor)),
            ["admin"] = app.ClientWithKey(await app.CreateKeyAsync("authz-sim", Role.Admin)),
        };
        var disagreements = new List<string>();
        var allowedCount = 0;
        for (var n = 0; n < 1000; n++)
        {
            var role = clients.Keys.ElementAt(rng.Next(3));
            var d = docs[rng.Next(docs.Count)];
            var sim = await (await creator.PostAsJsonAsync($"/v1/admin/authz/policies/{ids[rng.Next(ids.Count)]}/simulate", new
            {
                resource_type = "document", action = "read", principal = new { role }, resource = new { id = d.Id, labels = new { sensitivity = d.Sensitivity, team = d.Team } },
            })).DataAsync();
            var simulated = sim.GetProperty("decision").GetProperty("allowed").GetBoolean();
            var enforced = (await clients[role].GetAsync($"/v1/documents/{d.Id}")).StatusCode == HttpStatusCode.OK;
            if (simulated) allowedCount++;
            if (simulated != enforced) disagreements.Add($"{role} {d}: simulate {simulated}, enforced {enforced}");
        }
        Assert.Empty(disagreements);
        Assert.InRange(allowedCount, 50, 950); // both outcomes occur: the comparison means something
    }

    [Fact]
    public async Task The_tenant_boundary_holds_even_with_a_wildcard_allow_and_authz_admin_routes_stay_in_their_tenant()
    {
        using var app = new NexusAppFactory(new() { ["AUTHZ_ALLOW_WILDCARDS"] = "true", ["AUTHZ_DEFAULT_DENY"] = "true" });
        var a = await app.AdminForTenantAsync("authz-ta");
        var b = await app.AdminForTenantAsync("authz-tb");
        await a.IngestTextAsync("docs", "Tenant A's private memo about otters.", "memo");
        await a.WaitForDocumentAsync("memo");
        var policyA = await (await a.PostAsJsonAsync("/v1/admin/authz/policies", new
        {
            name = "everything", effect = "allow", resource_type = "*", action = "*", condition_json = new { eq = new object[] { 1, 1 } },
        })).DataAsync(201);
        await (await b.PostAsJsonAsync("/v1/admin/authz/policies", new
        {
            name = "everything", effect = "allow", resource_type = "*", action = "*", condition_json = new { eq = new object[] { 1, 1 } },
        })).DataAsync(201);
        var bReader = app.ClientWithKey(await app.CreateKeyAsync("authz-tb", Role.Reader));
        foreach (var client in new[] { b, bReader })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v1/documents/memo")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v1/documents/memo/content")).StatusCode);
            var results = (await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "otters memo" })).DataAsync()).GetProperty("results");
            Assert.Equal(0, results.GetArrayLength());
        }
        await (await b.GetAsync("/v1/admin/authz/documents/memo/permissions")).AssertErrorAsync(404);
        await (await b.PostAsJsonAsync("/v1/admin/authz/documents/memo/permissions", new { principal_type = "role", principal_id = "reader", permission = "read" })).AssertErrorAsync(404);
        var aPolicyId = policyA.GetProperty("id").GetString();
        await (await b.GetAsync($"/v1/admin/authz/policies/{aPolicyId}")).AssertErrorAsync(404);
        await (await b.PatchAsJsonAsync($"/v1/admin/authz/policies/{aPolicyId}", new { enabled = false })).AssertErrorAsync(404);
        await (await b.PostAsJsonAsync($"/v1/admin/authz/policies/{aPolicyId}/simulate", new { action = "read" })).AssertErrorAsync(404);
        await (await b.DeleteAsync($"/v1/admin/authz/policies/{aPolicyId}")).AssertErrorAsync(404);
        Assert.Single((await (await b.GetAsync("/v1/admin/authz/policies")).DataAsync()).EnumerateArray());
        // Non-admins never manage authorization.
        await (await bReader.GetAsync("/v1/admin/authz/policies")).AssertErrorAsync(403);
        var editor = app.ClientWithKey(await app.CreateKeyAsync("authz-ta", Role.Editor));
        await (await editor.PostAsJsonAsync("/v1/admin/authz/documents/memo/permissions", new { principal_type = "role", principal_id = "reader", permission = "read" })).AssertErrorAsync(403);
        // The operator holds no tenant role: it cannot manage a tenant's document permissions either.
        var op = await app.OperatorAsync();
        await (await op.GetAsync("/v1/admin/authz/policies")).AssertErrorAsync(403);
    }

    [Fact]
    public async Task Labels_are_validated_and_kept_across_a_re_ingest_without_labels()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("authz-labels");
        await (await admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", text = "x y z", labels = "high" })).AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", text = "x y z", labels = new { nested = new { a = 1 } } })).AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", document_id = "l1", text = "Labelled text.", labels = new { sensitivity = "high", teams = new[] { "a", "b" } } })).DataAsync(202);
        await admin.WaitForDocumentAsync("l1");
        await (await admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", document_id = "l1", text = "Labelled text, replaced.", overwrite = true })).DataAsync(202);
        var doc = await admin.WaitForDocumentAsync("l1");
        Assert.Equal("high", doc.GetProperty("labels").GetProperty("sensitivity").GetString());
        await (await admin.PatchAsJsonAsync("/v1/documents/l1", new { })).AssertErrorAsync(422);
        var reader = app.ClientWithKey(await app.CreateKeyAsync("authz-labels", Role.Reader));
        await (await reader.PatchAsJsonAsync("/v1/documents/l1", new { labels = (object?)null })).AssertErrorAsync(403);
        await (await admin.PatchAsJsonAsync("/v1/documents/nope", new { labels = (object?)null })).AssertErrorAsync(404);
    }
}
