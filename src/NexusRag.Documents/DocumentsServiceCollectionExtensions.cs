using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NexusRag.Core.Ingestion;

namespace NexusRag.Documents;

public static class DocumentsServiceCollectionExtensions
{
    /// <summary>Extractors for PDF, DOCX, PPTX, XLSX, HTML, CSV, e-mail and images (OCR with Tesseract), next to Core's text ones.</summary>
    public static IServiceCollection AddNexusRagDocuments(this IServiceCollection services)
    {
        services.TryAddSingleton<IOcrEngine, TesseractOcr>();
        services.AddSingleton<IContentExtractor, PdfExtractor>();
        services.AddSingleton<IContentExtractor, ImageExtractor>();
        services.AddSingleton<IContentExtractor, DocxExtractor>();
        services.AddSingleton<IContentExtractor, PptxExtractor>();
        services.AddSingleton<IContentExtractor, XlsxExtractor>();
        services.AddSingleton<IContentExtractor, HtmlExtractor>();
        services.AddSingleton<IContentExtractor, CsvExtractor>();
        services.AddSingleton<IContentExtractor, EmlExtractor>();
        return services;
    }
}
