"""The About box text: what the app is, and the licences of what it ships with, including MNIST's."""

from __future__ import annotations

from advstudio import __version__

ABOUT_HTML = f"""
<h2>Adversarial Studio {__version__}</h2>
<p>Draw a digit, watch a small convolutional network read it, then nudge every pixel by at most ε with the
Fast Gradient Sign Method (Goodfellow, Shlens &amp; Szegedy, 2014) and watch the reading flip.</p>
<p>Adversarial Studio is released under the MIT licence.</p>
<h3>Data</h3>
<p>The bundled model was trained on <b>MNIST</b>, by Yann LeCun and Corinna Cortes (with Christopher J.C.
Burges), licensed under <a href="https://creativecommons.org/licenses/by-sa/3.0/">CC BY-SA 3.0</a>.
The gallery reads MNIST from a folder you choose; no MNIST images are shipped with the application.</p>
<h3>Software</h3>
<ul>
<li>Qt 6 and PySide6 (Qt for Python): LGPL v3</li>
<li>pyqtgraph: MIT</li>
<li>PyTorch: BSD-3-Clause</li>
<li>NumPy: BSD-3-Clause</li>
<li>Pillow: MIT-CMU (HPND)</li>
<li>safetensors: Apache-2.0</li>
<li>platformdirs: MIT</li>
</ul>
"""

