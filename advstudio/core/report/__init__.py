"""The session report: one self-contained HTML page. page.py assembles it (build_report_html), sections.py writes
each section, figures.py draws the images, curves and bars, markup.py holds the HTML helpers, style.py the CSS."""
