"""The session report's look: its style sheet, the Qt variant for the PDF path, and the curves' colours."""

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
CSS = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 18pt auto;
       max-width: 720pt; font-size: 10.5pt; }
p, li { line-height: 1.4; }
h1 { font-size: 18pt; margin-bottom: 3pt; }
h2 { font-size: 14pt; border-bottom: 2px solid #444; padding-bottom: 2pt; margin-top: 24pt; }
h2.section { page-break-before: always; }
h3 { font-size: 12.5pt; margin: 16pt 0 5pt 0; }
h4 { font-size: 11pt; margin: 12pt 0 4pt 0; }
table.who th { background: none; border: none; padding: 2pt 12pt 2pt 0; font-size: 11pt; }
table.who td { border: none; font-size: 11pt; }
p.finding { font-size: 11pt; }
table { border-collapse: collapse; margin: 5pt 0; }
td, th { border: 1px solid #bbb; padding: 2pt 5pt; text-align: left; vertical-align: top; font-size: 9.5pt; }
th { background: #eee; }
td.num, th.num { text-align: right; }
table.images td { border: none; text-align: center; padding: 3pt 8pt; }
table.images img { border: 1px solid #999; }
.settings { background: #f4f4f4; border-left: 4px solid #888; padding: 4pt 7pt; font-size: 9pt; color: #333; }
.meta { color: #555; font-size: 9.5pt; }
.flipped { color: #b2182b; font-weight: bold; }
.held { color: #1a7a2e; font-weight: bold; }
.figure { page-break-inside: avoid; margin-bottom: 14pt; }
code { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 9pt; }
.swatch { font-size: 12pt; }
@media print {
  .settings { background: none; }
  body { margin: 0; max-width: none; }
  .figure, table.images, svg, img { page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""
# Qt's rich text (the PDF path) paints a block's background across page breaks: no shaded boxes there
QT_CSS = ".settings { background-color: #ffffff; }\n"
