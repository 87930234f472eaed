using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Postgres
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
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    daily_requests_limit = table.Column<int>(type: "integer", nullable: true),
                    monthly_requests_limit = table.Column<int>(type: "integer", nullable: true),
                    soft_cap_ratio = table.Column<double>(type: "double precision", nullable: false),
                    hard_cap_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    updated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_tenant_quotas", x => x.tenant_id);
                });

            migrationBuilder.CreateTable(
                name: "usage_counters",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    period_key = table.Column<string>(type: "text", nullable: false),
                    used = table.Column<long>(type: "bigint", nullable: false),
                    soft_cap_notified = table.Column<bool>(type: "boolean", nullable: false),
                    overage_notified = table.Column<bool>(type: "boolean", nullable: false)
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
