using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Maintenance : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTime>(
                name: "checkpoint_at",
                table: "audit_chain_heads",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "checkpoint_hash",
                table: "audit_chain_heads",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "checkpoint_seq",
                table: "audit_chain_heads",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.CreateTable(
                name: "maintenance_runs",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    task = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    trigger = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    job_id = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    started_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    finished_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    result_json = table.Column<string>(type: "TEXT", nullable: true),
                    error = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_maintenance_runs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "maintenance_schedules",
                columns: table => new
                {
                    task = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    next_run_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_maintenance_schedules", x => x.task);
                });

            migrationBuilder.CreateIndex(
                name: "ix_maintenance_runs_task_created_at",
                table: "maintenance_runs",
                columns: new[] { "task", "created_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "maintenance_runs");

            migrationBuilder.DropTable(
                name: "maintenance_schedules");

            migrationBuilder.DropColumn(
                name: "checkpoint_at",
                table: "audit_chain_heads");

            migrationBuilder.DropColumn(
                name: "checkpoint_hash",
                table: "audit_chain_heads");

            migrationBuilder.DropColumn(
                name: "checkpoint_seq",
                table: "audit_chain_heads");
        }
    }
}
