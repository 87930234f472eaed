using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NexusRag.Storage.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class CorpusEmbeddingIdentity : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "embedding_dimensions",
                table: "corpora",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "embedding_model",
                table: "corpora",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "embedding_provider",
                table: "corpora",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "embedding_dimensions",
                table: "corpora");

            migrationBuilder.DropColumn(
                name: "embedding_model",
                table: "corpora");

            migrationBuilder.DropColumn(
                name: "embedding_provider",
                table: "corpora");
        }
    }
}
