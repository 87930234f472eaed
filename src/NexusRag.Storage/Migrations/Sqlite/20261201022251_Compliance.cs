using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Sqlite
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
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    artifact_type = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    artifact_uri = table.Column<string>(type: "TEXT", nullable: false),
                    sha256 = table.Column<string>(type: "TEXT", nullable: true),
                    notes = table.Column<string>(type: "TEXT", nullable: true),
                    uploaded_by = table.Column<string>(type: "TEXT", nullable: false),
                    uploaded_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_compliance_artifacts", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "compliance_bundles",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    snapshot_id = table.Column<string>(type: "TEXT", nullable: false),
                    bundle_type = table.Column<string>(type: "TEXT", nullable: false),
                    period_start = table.Column<DateTime>(type: "TEXT", nullable: false),
                    period_end = table.Column<DateTime>(type: "TEXT", nullable: false),
                    sha256 = table.Column<string>(type: "TEXT", nullable: false),
                    bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    signing_key_id = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    created_by = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_compliance_bundles", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "compliance_snapshots",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    captured_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    window_days = table.Column<int>(type: "INTEGER", nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    results_json = table.Column<string>(type: "TEXT", nullable: false),
                    created_by = table.Column<string>(type: "TEXT", nullable: false)
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
