using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace NexusRag.Storage.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class IndexVersions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_chunks_tenant_id_corpus_id",
                table: "chunks");

            migrationBuilder.DropIndex(
                name: "ix_chunks_tenant_id_document_id_chunk_index",
                table: "chunks");

            migrationBuilder.AddColumn<int>(
                name: "active_index_version",
                table: "corpora",
                type: "integer",
                nullable: false,
                defaultValue: 1); // existing rows are version 1

            migrationBuilder.AddColumn<int>(
                name: "index_version",
                table: "chunks",
                type: "integer",
                nullable: false,
                defaultValue: 1); // existing rows are version 1

            migrationBuilder.AddColumn<int>(
                name: "index_version",
                table: "chunk_deletions",
                type: "integer",
                nullable: false,
                defaultValue: 1); // existing rows are version 1

            migrationBuilder.CreateTable(
                name: "eval_sets",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    corpus_id = table.Column<string>(type: "text", nullable: false),
                    name = table.Column<string>(type: "text", nullable: false),
                    queries_json = table.Column<string>(type: "text", nullable: false),
                    qrels_json = table.Column<string>(type: "text", nullable: false),
                    query_count = table.Column<int>(type: "integer", nullable: false),
                    judgment_count = table.Column<int>(type: "integer", nullable: false),
                    created_by = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_sets", x => new { x.tenant_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "index_version_events",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    corpus_id = table.Column<string>(type: "text", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    event_type = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    actor_type = table.Column<string>(type: "text", nullable: false),
                    actor_id = table.Column<string>(type: "text", nullable: false),
                    reason = table.Column<string>(type: "text", nullable: true),
                    details_json = table.Column<string>(type: "text", nullable: true),
                    occurred_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_index_version_events", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "index_versions",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    corpus_id = table.Column<string>(type: "text", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    embedding_provider = table.Column<string>(type: "text", nullable: true),
                    embedding_model = table.Column<string>(type: "text", nullable: true),
                    embedding_dimensions = table.Column<int>(type: "integer", nullable: true),
                    chunk_size_chars = table.Column<int>(type: "integer", nullable: true),
                    chunk_overlap_chars = table.Column<int>(type: "integer", nullable: true),
                    documents_total = table.Column<int>(type: "integer", nullable: false),
                    documents_done = table.Column<int>(type: "integer", nullable: false),
                    documents_skipped = table.Column<int>(type: "integer", nullable: false),
                    build_cursor = table.Column<string>(type: "text", nullable: true),
                    job_id = table.Column<string>(type: "text", nullable: true),
                    evaluation_json = table.Column<string>(type: "text", nullable: true),
                    failure_reason = table.Column<string>(type: "text", nullable: true),
                    created_by = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    built_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    activated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    retired_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    dropped_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_index_versions", x => new { x.tenant_id, x.corpus_id, x.version });
                });

            migrationBuilder.CreateIndex(
                name: "ix_chunks_tenant_id_corpus_id_index_version",
                table: "chunks",
                columns: new[] { "tenant_id", "corpus_id", "index_version" });

            migrationBuilder.CreateIndex(
                name: "ix_chunks_tenant_id_document_id_index_version_chunk_index",
                table: "chunks",
                columns: new[] { "tenant_id", "document_id", "index_version", "chunk_index" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_eval_sets_tenant_id_corpus_id_created_at",
                table: "eval_sets",
                columns: new[] { "tenant_id", "corpus_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_index_version_events_tenant_id_corpus_id_id",
                table: "index_version_events",
                columns: new[] { "tenant_id", "corpus_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_index_versions_status_dropped_at",
                table: "index_versions",
                columns: new[] { "status", "dropped_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "eval_sets");

            migrationBuilder.DropTable(
                name: "index_version_events");

            migrationBuilder.DropTable(
                name: "index_versions");

            migrationBuilder.DropIndex(
                name: "ix_chunks_tenant_id_corpus_id_index_version",
                table: "chunks");

            migrationBuilder.DropIndex(
                name: "ix_chunks_tenant_id_document_id_index_version_chunk_index",
                table: "chunks");

            migrationBuilder.DropColumn(
                name: "active_index_version",
                table: "corpora");

            migrationBuilder.DropColumn(
                name: "index_version",
                table: "chunks");

            migrationBuilder.DropColumn(
                name: "index_version",
                table: "chunk_deletions");

            migrationBuilder.CreateIndex(
                name: "ix_chunks_tenant_id_corpus_id",
                table: "chunks",
                columns: new[] { "tenant_id", "corpus_id" });

            migrationBuilder.CreateIndex(
                name: "ix_chunks_tenant_id_document_id_chunk_index",
                table: "chunks",
                columns: new[] { "tenant_id", "document_id", "chunk_index" },
                unique: true);
        }
    }
}
