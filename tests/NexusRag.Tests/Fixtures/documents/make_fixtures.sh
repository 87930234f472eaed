#!/usr/bin/env bash
# How the committed document fixtures were made (Debian: libreoffice-*-nogui, pandoc, poppler-utils, img2pdf, qpdf).
# Run from this folder; the results are committed, so tests never need these tools (OCR tests need tesseract).
set -euo pipefail
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
cp handbook.html deck.md page.md inventory.csv "$w"/ && cd "$w"
soffice --headless --infilter="HTML (StarWriter)" --convert-to odt handbook.html   # headings, a table, page breaks
soffice --headless --convert-to docx handbook.odt                                  # -> handbook.docx (LibreOffice)
soffice --headless --convert-to pdf handbook.odt                                   # -> handbook.pdf, 3 pages (LibreOffice)
soffice --headless --convert-to xlsx inventory.csv                                 # -> inventory.xlsx (LibreOffice)
pandoc deck.md -o deck.pptx                                                        # 3 slides, notes, a table
pandoc page.md -s -o page.html                                                     # nav, script and footer boilerplate
pdftoppm -f 2 -l 2 -r 150 -jpeg -jpegopt quality=60 handbook.pdf scan && img2pdf scan-2.jpg -o scanned.pdf   # image-only page
pdftoppm -f 3 -l 3 -r 100 -png -gray handbook.pdf shot && mv shot-3.png appendix-page.png                 # an image upload
qpdf --encrypt secret owner 256 -- handbook.pdf encrypted.pdf                     # password-protected
head -c 9000 handbook.pdf > truncated.pdf                                          # cut short
head -c 3000 handbook.docx > corrupt.docx                                          # a broken zip
python3 - <<'PY'
import random, zipfile, io
from email.message import EmailMessage
random.seed(7)
open('junk-with-pdf-header.pdf','wb').write(b'%PDF-1.7\n' + bytes(random.getrandbits(8) for _ in range(20000)))
objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 5000000 >>", b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"]
out = io.BytesIO(); out.write(b"%PDF-1.4\n"); offs = []
for i, o in enumerate(objs, 1):
    offs.append(out.tell()); out.write(b"%d 0 obj\n" % i + o + b"\nendobj\n")
x = out.tell()
out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
for o in offs: out.write(b"%010d 00000 n \n" % o)
out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, x))
open('many-pages.pdf','wb').write(out.getvalue())                                # claims 5,000,000 pages
ct = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
with zipfile.ZipFile('bomb.docx', 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:  # 64 MiB part, ~1000:1
    z.writestr('[Content_Types].xml', ct)
    z.writestr('word/document.xml', b'<?xml version="1.0"?>' + b' ' * (64 * 1024 * 1024))
m = EmailMessage()
m['From'] = 'Dana Ortiz <dana@example.org>'; m['To'] = 'Platform Team <platform@example.org>'
m['Subject'] = 'Datacenter migration schedule'; m['Date'] = 'Tue, 03 Nov 2026 10:15:00 +0000'
m['Message-ID'] = '<migration-2026@example.org>'
m.set_content("Hello team,\n\nThe datacenter migration moves the billing cluster on the night of 14 November.\nThe freeze window starts at 18:00 and ends at 06:00.\n\nThe attached runbook lists the cutover steps.\n\nDana\n")
m.add_attachment(b"Cutover runbook\n\nStep one: drain the billing queue and confirm the marigold checksum matches.\nStep two: switch DNS to the new cluster.\n", maintype='text', subtype='plain', filename='runbook.txt')
open('migration.eml', 'wb').write(bytes(m))
PY
qpdf --empty --pages handbook.pdf 1 scanned.pdf 1 -- mixed.pdf                  # a text page, then a scanned one
cp mixed.pdf handbook.docx handbook.pdf inventory.xlsx deck.pptx page.html scanned.pdf appendix-page.png encrypted.pdf truncated.pdf corrupt.docx \
   junk-with-pdf-header.pdf many-pages.pdf bomb.docx migration.eml "$OLDPWD"/
