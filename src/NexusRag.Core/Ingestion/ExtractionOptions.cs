using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Ingestion;

/// <summary>
/// Document extraction (section <c>NexusRag:Extraction</c>; flat names <c>MAX_UPLOAD_BYTES</c>, <c>MAX_PAGES</c>,
/// <c>EXTRACT_TIMEOUT_S</c>, <c>OCR_ENABLED</c>, <c>OCR_LANGUAGES</c>, <c>EML_ATTACHMENTS</c>). The zip limits bound what an
/// OOXML container (DOCX, PPTX, XLSX) may inflate to before any of it is read.
/// </summary>
public sealed class ExtractionOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Extraction";
    public static readonly string[] AttachmentModes = ["ingest", "skip"];

    /// <summary>Largest file accepted by <c>POST /v1/documents</c> (the JSON body cap is separate).</summary>
    [Range(1024, 1L << 40)] [FlatName("MAX_UPLOAD_BYTES")] public long MaxUploadBytes { get; set; } = 100L * 1024 * 1024;
    [Range(1, 1_000_000)] [FlatName("MAX_PAGES")] public int MaxPages { get; set; } = 2_000;
    [Range(1, 86_400)] [FlatName("EXTRACT_TIMEOUT_S")] public int TimeoutSeconds { get; set; } = 300;
    /// <summary>OCR image pages and image uploads with Tesseract when it is installed.</summary>
    [FlatName("OCR_ENABLED")] public bool OcrEnabled { get; set; } = true;
    /// <summary>Tesseract language codes joined by '+', e.g. <c>eng+deu</c>.</summary>
    [RegularExpression("^[a-z_]{3,16}(\\+[a-z_]{3,16}){0,7}$")] [FlatName("OCR_LANGUAGES")] public string OcrLanguages { get; set; } = "eng";
    [Range(1, 3_600)] public int OcrPageTimeoutSeconds { get; set; } = 60;
    /// <summary>The Tesseract binary (a name on PATH or a full path).</summary>
    [Required] public string TesseractPath { get; set; } = "tesseract";
    /// <summary>E-mail attachments: <c>ingest</c> as child documents, or <c>skip</c>.</summary>
    [FlatName("EML_ATTACHMENTS")] public string EmlAttachments { get; set; } = "ingest";
    [Range(1, 1000)] public int MaxAttachments { get; set; } = 50;
    [Range(1024, 1L << 40)] public long ZipMaxTotalUncompressedBytes { get; set; } = 512L * 1024 * 1024;
    [Range(1024, 1L << 40)] public long ZipMaxEntryUncompressedBytes { get; set; } = 256L * 1024 * 1024;
    [Range(2, 100_000)] public int ZipMaxCompressionRatio { get; set; } = 200;
    [Range(1, 1_000_000)] public int ZipMaxEntries { get; set; } = 10_000;
    /// <summary>HTML nesting deeper than this is refused (browsers stop building the tree around 512).</summary>
    [Range(16, 100_000)] public int HtmlMaxDepth { get; set; } = 1_024;
    [Range(1, 10_000_000)] public int MaxRows { get; set; } = 1_000_000;
    public List<string> ParseErrors { get; } = [];
}
