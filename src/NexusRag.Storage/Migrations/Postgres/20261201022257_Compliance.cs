using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class Compliance : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "compliance_artifacts",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    artifact_type = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    artifact_uri = table.Column<string>(type: "text", nullable: false),
                    sha256 = table.Column<string>(type: "text", nullable: true),
                    notes = table.Column<string>(type: "text", nullable: true),
                    uploaded_by = table.Column<string>(type: "text", nullable: false),
                    uploaded_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_compliance_artifacts", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "compliance_bundles",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    snapshot_id = table.Column<string>(type: "text", nullable: false),
                    bundle_type = table.Column<string>(type: "text", nullable: false),
                    period_start = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    period_end = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    sha256 = table.Column<string>(type: "text", nullable: false),
                    bytes = table.Column<long>(type: "bigint", nullable: false),
                    signing_key_id = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    created_by = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_compliance_bundles", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "compliance_snapshots",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    captured_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    window_days = table.Column<int>(type: "integer", nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    results_json = table.Column<string>(type: "text", nullable: false),
                    created_by = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_compliance_snapshots", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_compliance_artifacts_uploaded_at",
                table: "compliance_artifacts",
                column: "uploaded_at");

            migrationBuilder.CreateIndex(
                name: "ix_compliance_bundles_created_at",
                table: "compliance_bundles",
                column: "created_at");

            migrationBuilder.CreateIndex(
                name: "ix_compliance_snapshots_captured_at",
                table: "compliance_snapshots",
                column: "captured_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "compliance_artifacts");

            migrationBuilder.DropTable(
                name: "compliance_bundles");

            migrationBuilder.DropTable(
                name: "compliance_snapshots");
        }
    }
}
