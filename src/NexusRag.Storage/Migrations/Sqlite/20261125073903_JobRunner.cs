using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class JobRunner : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "pk_ingestion_jobs",
                table: "ingestion_jobs");

            migrationBuilder.RenameTable(
                name: "ingestion_jobs",
                newName: "jobs");

            migrationBuilder.RenameIndex(
                name: "ix_ingestion_jobs_tenant_id_document_id",
                table: "jobs",
                newName: "ix_jobs_tenant_id_document_id");

            migrationBuilder.RenameIndex(
                name: "ix_ingestion_jobs_status_available_at",
                table: "jobs",
                newName: "ix_jobs_status_available_at");

            migrationBuilder.AlterColumn<string>(
                name: "document_id",
                table: "jobs",
                type: "TEXT",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "TEXT");

            migrationBuilder.AlterColumn<string>(
                name: "corpus_id",
                table: "jobs",
                type: "TEXT",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "TEXT");

            migrationBuilder.AddColumn<string>(
                name: "payload_json",
                table: "jobs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddPrimaryKey(
                name: "pk_jobs",
                table: "jobs",
                column: "id");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_kind_status",
                table: "jobs",
                columns: new[] { "kind", "status" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "pk_jobs",
                table: "jobs");

            migrationBuilder.DropIndex(
                name: "ix_jobs_kind_status",
                table: "jobs");

            migrationBuilder.DropColumn(
                name: "payload_json",
                table: "jobs");

            migrationBuilder.RenameTable(
                name: "jobs",
                newName: "ingestion_jobs");

            migrationBuilder.RenameIndex(
                name: "ix_jobs_tenant_id_document_id",
                table: "ingestion_jobs",
                newName: "ix_ingestion_jobs_tenant_id_document_id");

            migrationBuilder.RenameIndex(
                name: "ix_jobs_status_available_at",
                table: "ingestion_jobs",
                newName: "ix_ingestion_jobs_status_available_at");

            migrationBuilder.AlterColumn<string>(
                name: "document_id",
                table: "ingestion_jobs",
                type: "TEXT",
                nullable: false,
                defaultValue: "",
                oldClrType: typeof(string),
                oldType: "TEXT",
                oldNullable: true);

            migrationBuilder.AlterColumn<string>(
                name: "corpus_id",
                table: "ingestion_jobs",
                type: "TEXT",
                nullable: false,
                defaultValue: "",
                oldClrType: typeof(string),
                oldType: "TEXT",
                oldNullable: true);

            migrationBuilder.AddPrimaryKey(
                name: "pk_ingestion_jobs",
                table: "ingestion_jobs",
                column: "id");
        }
    }
}
