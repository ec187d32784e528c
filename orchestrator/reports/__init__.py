"""The reports of every run as markdown, with their pictures (matplotlib SVG) and a
self-contained HTML twin: the column model (columns.py), how values are written
(_format.py), rendering per report kind (render.py and the *_report.py modules, templates/),
the numbers behind each picture (series.py) and their drawing (pictures.py,
walker_pictures.py), and writing them to ``dump/`` atomically (dump.py)."""
