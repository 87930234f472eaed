using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class DocumentOriginals : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "extraction_json",
                table: "documents",
                type: "text",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_documents_tenant_id_content_sha256",
                table: "documents",
                columns: new[] { "tenant_id", "content_sha256" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_documents_tenant_id_content_sha256",
                table: "documents");

            migrationBuilder.DropColumn(
                name: "extraction_json",
                table: "documents");
        }
    }
}
