using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NexusRag.Core.Bootstrap;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Ports;
using NexusRag.Core.Services;

namespace NexusRag.Core;

public static class CoreServiceCollectionExtensions
{
    /// <summary>Application services and the ingestion pipeline (extract → chunk → write), shared by the server and the CLI.</summary>
    public static IServiceCollection AddNexusRagApplication(this IServiceCollection services, IConfiguration config)
    {
        services.AddSingleton<Observability.NexusInstrumentation>(); // its IMeterFactory comes with every host builder
        services.TryAddSingleton<Observability.CircuitBreakerBoard>();
        services.AddOptions<Authorization.AuthzOptions>()
            .Bind(config.GetSection(Authorization.AuthzOptions.Section))
            .Configure(o =>
            {
                FlatSettings.Bool(config, "AUTHZ_DEFAULT_DENY", v => o.DefaultDeny = v, o.ParseErrors);
                FlatSettings.Bool(config, "AUTHZ_ADMIN_BYPASS_DOCUMENT_ACL", v => o.AdminBypassDocumentAcl = v, o.ParseErrors);
                FlatSettings.Bool(config, "AUTHZ_ALLOW_WILDCARDS", v => o.AllowWildcards = v, o.ParseErrors);
                FlatSettings.Bool(config, "AUTHZ_ABAC_ENABLED", v => o.AbacEnabled = v, o.ParseErrors);
            })
            .ValidateParseErrors()
            .ValidateSettings(Authorization.AuthzOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<Authorization.DocumentAuthorizer>();
        services.AddOptions<IngestionOptions>()
            .Bind(config.GetSection(IngestionOptions.Section))
            .Configure(o => FlatSettings.Int(config, "INGEST_MAX_CONCURRENCY", v => o.WorkerConcurrency = v, o.ParseErrors))
            .ValidateParseErrors()
            .ValidateSettings(IngestionOptions.Section)
            .Validate(o => o.DefaultChunkOverlapChars < o.DefaultChunkSizeChars, "DefaultChunkOverlapChars must be less than DefaultChunkSizeChars")
            .Validate(o => o.DefaultChunkSizeChars <= o.MaxChunkSizeChars, "DefaultChunkSizeChars must not exceed MaxChunkSizeChars")
            .ValidateOnStart();

        services.AddOptions<ExtractionOptions>()
            .Bind(config.GetSection(ExtractionOptions.Section))
            .Configure(o =>
            {
                if (config["MAX_UPLOAD_BYTES"] is { Length: > 0 } max)
                {
                    if (long.TryParse(max, out var n)) o.MaxUploadBytes = n;
                    else o.ParseErrors.Add($"MAX_UPLOAD_BYTES must be an integer, got '{max}'");
                }
                FlatSettings.Int(config, "MAX_PAGES", v => o.MaxPages = v, o.ParseErrors);
                FlatSettings.Int(config, "EXTRACT_TIMEOUT_S", v => o.TimeoutSeconds = v, o.ParseErrors);
                FlatSettings.Bool(config, "OCR_ENABLED", v => o.OcrEnabled = v, o.ParseErrors);
                if (config["OCR_LANGUAGES"] is { Length: > 0 } langs) o.OcrLanguages = langs.Trim();
                if (config["EML_ATTACHMENTS"] is { Length: > 0 } att) o.EmlAttachments = att.Trim().ToLowerInvariant();
            })
            .ValidateParseErrors()
            .ValidateSettings(ExtractionOptions.Section)
            .Validate(o => ExtractionOptions.AttachmentModes.Contains(o.EmlAttachments), "EML_ATTACHMENTS must be ingest or skip")
            .ValidateOnStart();

        services.AddOptions<Chat.RunOptions>()
            .Bind(config.GetSection(Chat.RunOptions.Section))
            .Configure(o =>
            {
                FlatSettings.Double(config, "RUN_SSE_HEARTBEAT_S", v => o.HeartbeatSeconds = v, o.ParseErrors);
                FlatSettings.Int(config, "RUN_HISTORY_TURNS", v => o.HistoryTurns = v, o.ParseErrors);
                FlatSettings.Bool(config, "DEBUG_EVENTS", v => o.DebugEvents = v, o.ParseErrors);
            })
            .ValidateSettings(Chat.RunOptions.Section)
            .ValidateParseErrors()
            .ValidateOnStart();

        services.AddOptions<Governance.RateLimitOptions>()
            .Bind(config.GetSection(Governance.RateLimitOptions.Section))
            .Configure(o =>
            {
                FlatSettings.Bool(config, "RATE_LIMIT_ENABLED", v => o.Enabled = v, o.ParseErrors);
                if (config["RL_FAIL_MODE"] is { Length: > 0 } mode) o.FailMode = mode.Trim().ToLowerInvariant();
            })
            .ValidateParseErrors()
            .Validate(o => o.FailMode is "open" or "closed", "RL_FAIL_MODE must be open or closed")
            .Validate(o => new[] { o.Run, o.Mutation, o.Read, o.Ops }.All(c => c.Key.Rps > 0 && c.Key.Burst >= 1 && c.Tenant.Rps > 0 && c.Tenant.Burst >= 1),
                "rate limits need rps > 0 and burst >= 1")
            .ValidateOnStart();

        services.AddOptions<Crypto.CryptoOptions>()
            .Bind(config.GetSection(Crypto.CryptoOptions.Section))
            .Configure(o =>
            {
                FlatSettings.Bool(config, "CRYPTO_ENABLED", v => o.Enabled = v, o.ParseErrors);
                FlatSettings.Bool(config, "CRYPTO_REQUIRE_ENCRYPTION_FOR_SENSITIVE", v => o.RequireEncryptionForSensitive = v, o.ParseErrors);
                FlatSettings.Int(config, "CRYPTO_ROTATION_INTERVAL_DAYS", v => o.RotationIntervalDays = v, o.ParseErrors);
                FlatSettings.Int(config, "CRYPTO_KEY_CACHE_SECONDS", v => o.KeyCacheSeconds = v, o.ParseErrors);
                FlatSettings.Int(config, "CRYPTO_REENCRYPT_BATCH_SIZE", v => o.ReencryptBatchSize = v, o.ParseErrors);
                if (config["CRYPTO_PROVIDER"] is { Length: > 0 } provider) o.Provider = provider.Trim().ToLowerInvariant();
                if (config["CRYPTO_LOCAL_MASTER_KEY"] is { Length: > 0 } master) o.LocalMasterKey = master;
                if (config["CRYPTO_DEFAULT_KEY_ALIAS"] is { Length: > 0 } alias) o.DefaultKeyAlias = alias.Trim();
                if (config["CRYPTO_FAIL_MODE"] is { Length: > 0 } mode) o.FailMode = mode.Trim().ToLowerInvariant();
                if (config["CRYPTO_AWS_KMS_ENDPOINT"] is { Length: > 0 } endpoint) o.AwsKmsEndpoint = endpoint.Trim();
                if (config["CRYPTO_AWS_REGION"] is { Length: > 0 } region) o.AwsRegion = region.Trim();
            })
            .ValidateParseErrors()
            .ValidateSettings(Crypto.CryptoOptions.Section)
            .Validate(o => Crypto.CryptoOptions.Providers.Contains(o.Provider), $"CRYPTO_PROVIDER must be one of {string.Join(", ", Crypto.CryptoOptions.Providers)}")
            .Validate(o => o.FailMode is "open" or "closed", "CRYPTO_FAIL_MODE must be open or closed")
            .Validate(o => !o.Enabled || o.Provider != "local_kms" || Backups.BackupCipher.ParseKey(o.LocalMasterKey) is not null,
                "CRYPTO_LOCAL_MASTER_KEY must be 32 bytes, base64 or hex (openssl rand -base64 32), when CRYPTO_ENABLED=true and CRYPTO_PROVIDER=local_kms")
            .Validate(o => o.Enabled || o.RequireEncryptionForSensitive != true,
                "CRYPTO_REQUIRE_ENCRYPTION_FOR_SENSITIVE=true needs CRYPTO_ENABLED=true")
            .Validate(o => o.FailClosed || !IsProd(config), "CRYPTO_FAIL_MODE=open is not allowed when NEXUSRAG_ENV=prod")
            .ValidateOnStart();
        services.AddOptions<Crypto.KeyringOptions>()
            .Configure(o =>
            {
                if (config["KEYRING_MASTER_KEY"] is { Length: > 0 } key) o.MasterKey = key;
                FlatSettings.Bool(config, "KEYRING_MASTER_KEY_REQUIRED", v => o.MasterKeyRequired = v, o.ParseErrors);
            })
            .ValidateParseErrors()
            .Validate(o => string.IsNullOrEmpty(o.MasterKey) || Backups.BackupCipher.ParseKey(o.MasterKey) is not null,
                "KEYRING_MASTER_KEY must be 32 bytes, base64 or hex (openssl rand -base64 32)")
            .ValidateOnStart();
        services.AddOptions<DataGovernance.DataGovernanceOptions>()
            .Configure(o =>
            {
                FlatSettings.Bool(config, "GOVERNANCE_POLICY_ENGINE_ENABLED", v => o.PolicyEngineEnabled = v, o.ParseErrors);
                FlatSettings.Bool(config, "DSAR_REQUIRE_APPROVAL", v => o.DsarRequireApproval = v, o.ParseErrors);
            })
            .ValidateParseErrors()
            .ValidateOnStart();
        services.AddSingleton<DataGovernance.LegalHolds>();
        services.AddSingleton<DataGovernance.RetentionService>();
        services.AddSingleton<DataGovernance.DsarService>();
        services.AddSingleton<DataGovernance.GovernancePolicyEngine>();
        services.AddSingleton<Jobs.IJobHandler, DataGovernance.RetentionJobHandler>();
        services.AddSingleton<Jobs.IJobHandler, DataGovernance.DsarJobHandler>();
        services.AddSingleton<Backups.IMaintenanceTask, DataGovernance.GovernanceRetentionTask>();
        services.AddOptions<Compliance.ComplianceOptions>()
            .Configure(o =>
            {
                FlatSettings.Bool(config, "COMPLIANCE_ENABLED", v => o.Enabled = v, o.ParseErrors);
                FlatSettings.Int(config, "COMPLIANCE_KEY_MAX_AGE_DAYS", v => o.KeyMaxAgeDays = v, o.ParseErrors);
                FlatSettings.Int(config, "COMPLIANCE_EVIDENCE_RETENTION_DAYS", v => o.EvidenceRetentionDays = v, o.ParseErrors);
            })
            .ValidateParseErrors()
            .ValidateSettings("NexusRag:Compliance")
            .ValidateOnStart();
        services.AddSingleton<Compliance.IControlCheck, Compliance.AccessControlCheck>();
        services.AddSingleton<Compliance.IControlCheck, Compliance.ApiKeyGovernanceCheck>();
        services.AddSingleton<Compliance.IControlCheck, Compliance.ChangeManagementCheck>();
        services.AddSingleton<Compliance.IControlCheck, Compliance.MonitoringReadinessCheck>();
        services.AddSingleton<Compliance.IControlCheck, Compliance.PatchCadenceCheck>();
        services.AddSingleton<Compliance.IControlCheck, Compliance.BackupRestoreCheck>();
        services.AddSingleton<Compliance.IControlCheck, Compliance.EncryptionPostureCheck>();
        services.AddSingleton<Compliance.ComplianceService>();
        services.AddSingleton<Backups.IMaintenanceTask, Compliance.PruneComplianceEvidenceTask>();
        services.AddSingleton<Crypto.Keyring>();
        services.AddSingleton<Crypto.DataKeyService>();
        services.AddSingleton<Crypto.IFileSealer, Crypto.PlatformFileSealer>();
        services.AddSingleton<Crypto.KeyRotationService>();
        services.AddSingleton<Jobs.IJobHandler, Crypto.ReencryptionJobHandler>();

        services.AddOptions<Governance.IdempotencyOptions>()
            .Configure(o => FlatSettings.Bool(config, "IDEMPOTENCY_ENABLED", v => o.Enabled = v, o.ParseErrors))
            .ValidateParseErrors()
            .ValidateOnStart();

        services.TryAddSingleton(TimeProvider.System);

        // Ingestion pipeline: extract → chunk → embed → write (the embedder comes from AddNexusRagEmbeddings). Later registrations of an extractor win per media type.
        services.AddSingleton<IContentExtractor, PlainTextExtractor>();
        services.AddSingleton<IContentExtractor, MarkdownExtractor>();
        services.AddSingleton<IContentExtractor, JsonTextExtractor>();
        services.AddSingleton<ContentExtractorRegistry>();
        services.AddSingleton<IChunker, SlidingWindowChunker>();
        services.AddSingleton<IDocumentChunker, StructuredChunker>();
        services.AddSingleton<Documents.OriginalLocks>();
        services.AddSingleton<IJobSignal, InProcessJobSignal>();
        services.AddSingleton<DocumentPipeline>();
        services.AddSingleton<Jobs.IJobHandler, IngestionJobHandler>();
        services.AddSingleton<Jobs.IJobHandler, Indexing.IndexBuildJobHandler>();
        services.AddSingleton<Jobs.IJobHandler, Backups.MaintenanceJobHandler>();
        services.AddSingleton<Backups.MaintenanceScheduler>();
        services.AddOptions<Backups.MaintenanceOptions>()
            .Bind(config.GetSection(Backups.MaintenanceOptions.Section))
            .Configure(o =>
            {
                FlatSettings.Int(config, "AUDIT_RETENTION_DAYS", v => o.AuditRetentionDays = v, o.ParseErrors);
                FlatSettings.Int(config, "USAGE_COUNTER_RETENTION_DAYS", v => o.UsageRetentionDays = v, o.ParseErrors);
                if (config["MAINTENANCE_SCHEDULE"] is { } schedule) o.Schedule = schedule.Trim();
            })
            .ValidateParseErrors()
            .ValidateSettings(Backups.MaintenanceOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<Indexing.IndexVersionService>();
        services.AddOptions<Indexing.IndexVersionOptions>()
            .Bind(config.GetSection(Indexing.IndexVersionOptions.Section))
            .Configure(o =>
            {
                FlatSettings.Double(config, "INDEX_PROMOTION_MAX_NDCG_DROP", v => o.PromotionMaxNdcgDrop = v, o.ParseErrors);
                FlatSettings.Double(config, "INDEX_RETIRED_RETENTION_HOURS", v => o.RetiredRetentionHours = v, o.ParseErrors);
            })
            .ValidateParseErrors()
            .ValidateSettings(Indexing.IndexVersionOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<Jobs.JobExecutor>();
        services.AddSingleton<Search.RerankStage>();
        services.AddSingleton<Search.SearchService>();
        services.AddSingleton<Chat.RunService>();
        services.AddSingleton<Governance.RolloutGate>();
        services.AddSingleton<Governance.QuotaLimitsProvider>();
        services.AddSingleton<Governance.Entitlements>();
        services.AddOptions<Governance.PlanOptions>()
            .Configure(o => { if (config["DEFAULT_PLAN"] is { Length: > 0 } plan) o.DefaultPlan = plan.Trim().ToLowerInvariant(); })
            .Validate(o => Governance.Plans.All.Contains(o.DefaultPlan), "DEFAULT_PLAN must be free, pro or enterprise")
            .ValidateOnStart();

        services.AddOptions<Transactions.OutboxOptions>().Bind(config.GetSection(Transactions.OutboxOptions.Section)).ValidateSettings(Transactions.OutboxOptions.Section).ValidateOnStart();
        services.AddSingleton<Transactions.OutboxDispatcher>();
        services.AddSingleton<Transactions.IOutboxSubscriber, Transactions.LogOutboxSubscriber>();

        services.AddOptions<ApiKeyPolicyOptions>()
            .Bind(config.GetSection(ApiKeyPolicyOptions.Section))
            .Configure(o =>
            {
                FlatSettings.Bool(config, "AUTH_API_KEY_INACTIVE_ENFORCED", v => o.InactiveEnforced = v, o.ParseErrors);
                FlatSettings.Int(config, "AUTH_API_KEY_INACTIVE_DAYS", v => o.InactiveDays = v, o.ParseErrors);
            })
            .ValidateParseErrors()
            .ValidateSettings(ApiKeyPolicyOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<DocumentService>();
        services.AddSingleton<DemoSeeder>();
        return services;
    }

    private static bool IsProd(IConfiguration config) =>
        (config["NEXUSRAG_ENV"] ?? config["NexusRag:Env"] ?? "local").Trim().Equals("prod", StringComparison.OrdinalIgnoreCase);
}
