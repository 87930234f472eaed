using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Postgres
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
                name: "kind",
                table: "jobs",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                oldClrType: typeof(string),
                oldType: "text");

            migrationBuilder.AlterColumn<string>(
                name: "document_id",
                table: "jobs",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text");

            migrationBuilder.AlterColumn<string>(
                name: "corpus_id",
                table: "jobs",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text");

            migrationBuilder.AddColumn<string>(
                name: "payload_json",
                table: "jobs",
                type: "text",
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
                name: "kind",
                table: "ingestion_jobs",
                type: "text",
                nullable: false,
                oldClrType: typeof(string),
                oldType: "character varying(64)",
                oldMaxLength: 64);

            migrationBuilder.AlterColumn<string>(
                name: "document_id",
                table: "ingestion_jobs",
                type: "text",
                nullable: false,
                defaultValue: "",
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true);

            migrationBuilder.AlterColumn<string>(
                name: "corpus_id",
                table: "ingestion_jobs",
                type: "text",
                nullable: false,
                defaultValue: "",
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true);

            migrationBuilder.AddPrimaryKey(
                name: "pk_ingestion_jobs",
                table: "ingestion_jobs",
                column: "id");
        }
    }
}
