using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Quotas : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "tenant_quotas",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "TEXT", nullable: false),
                    daily_requests_limit = table.Column<int>(type: "INTEGER", nullable: true),
                    monthly_requests_limit = table.Column<int>(type: "INTEGER", nullable: true),
                    soft_cap_ratio = table.Column<double>(type: "REAL", nullable: false),
                    hard_cap_enabled = table.Column<bool>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_tenant_quotas", x => x.tenant_id);
                });

            migrationBuilder.CreateTable(
                name: "usage_counters",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "TEXT", nullable: false),
                    period_key = table.Column<string>(type: "TEXT", nullable: false),
                    used = table.Column<long>(type: "INTEGER", nullable: false),
                    soft_cap_notified = table.Column<bool>(type: "INTEGER", nullable: false),
                    overage_notified = table.Column<bool>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_counters", x => new { x.tenant_id, x.period_key });
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "tenant_quotas");

            migrationBuilder.DropTable(
                name: "usage_counters");
        }
    }
}
