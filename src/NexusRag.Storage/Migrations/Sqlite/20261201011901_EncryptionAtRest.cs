using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class EncryptionAtRest : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "key_version",
                table: "messages",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "key_version",
                table: "chunks",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "crypto_key_checks",
                columns: table => new
                {
                    provider = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    key_alias = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    value = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_crypto_key_checks", x => new { x.provider, x.key_alias });
                });

            migrationBuilder.CreateTable(
                name: "crypto_rotations",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<string>(type: "TEXT", nullable: false),
                    from_version = table.Column<int>(type: "INTEGER", nullable: true),
                    to_version = table.Column<int>(type: "INTEGER", nullable: false),
                    reencrypt = table.Column<bool>(type: "INTEGER", nullable: false),
                    reason = table.Column<string>(type: "TEXT", nullable: true),
                    requested_by = table.Column<string>(type: "TEXT", nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    job_id = table.Column<string>(type: "TEXT", nullable: true),
                    progress_json = table.Column<string>(type: "TEXT", nullable: false),
                    error_code = table.Column<string>(type: "TEXT", nullable: true),
                    error = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    started_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    finished_at = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_crypto_rotations", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "keyring_keys",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    purpose = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    wrapped = table.Column<byte[]>(type: "BLOB", nullable: false),
                    fingerprint = table.Column<string>(type: "TEXT", nullable: false),
                    created_by = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    rotated_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    retired_at = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_keyring_keys", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "tenant_data_keys",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "TEXT", nullable: false),
                    version = table.Column<int>(type: "INTEGER", nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    provider = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    key_alias = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    wrapped = table.Column<byte[]>(type: "BLOB", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    rotated_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    retired_at = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_tenant_data_keys", x => new { x.tenant_id, x.version });
                });

            migrationBuilder.CreateIndex(
                name: "ix_messages_tenant_id_key_version",
                table: "messages",
                columns: new[] { "tenant_id", "key_version" });

            migrationBuilder.CreateIndex(
                name: "ix_chunks_tenant_id_key_version",
                table: "chunks",
                columns: new[] { "tenant_id", "key_version" });

            migrationBuilder.CreateIndex(
                name: "ix_crypto_rotations_tenant_id_status",
                table: "crypto_rotations",
                columns: new[] { "tenant_id", "status" });

            migrationBuilder.CreateIndex(
                name: "ix_keyring_keys_purpose_status",
                table: "keyring_keys",
                columns: new[] { "purpose", "status" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "crypto_key_checks");

            migrationBuilder.DropTable(
                name: "crypto_rotations");

            migrationBuilder.DropTable(
                name: "keyring_keys");

            migrationBuilder.DropTable(
                name: "tenant_data_keys");

            migrationBuilder.DropIndex(
                name: "ix_messages_tenant_id_key_version",
                table: "messages");

            migrationBuilder.DropIndex(
                name: "ix_chunks_tenant_id_key_version",
                table: "chunks");

            migrationBuilder.DropColumn(
                name: "key_version",
                table: "messages");

            migrationBuilder.DropColumn(
                name: "key_version",
                table: "chunks");
        }
    }
}
