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

SHORTCUTS_HTML = """
<table>
<tr><td><b>Ctrl+O</b></td><td>open an image of a digit</td></tr>
<tr><td><b>Ctrl+M</b></td><td>open a model (.safetensors)</td></tr>
<tr><td><b>Ctrl+S</b></td><td>save the adversarial image, perturbation and figure</td></tr>
<tr><td><b>Ctrl+Z / Ctrl+Shift+Z</b></td><td>undo / redo a stroke</td></tr>
<tr><td><b>Delete</b></td><td>clear the canvas</td></tr>
<tr><td><b>E</b></td><td>eraser on/off</td></tr>
<tr><td><b>[ / ]</b></td><td>thinner / thicker brush</td></tr>
<tr><td><b>Ctrl+F</b></td><td>find the smallest ε that flips the prediction</td></tr>
<tr><td><b>Ctrl+Right / Ctrl+Left</b></td><td>ε up / down by 0.01</td></tr>
<tr><td><b>Ctrl+T</b></td><td>switch untargeted / targeted</td></tr>
<tr><td><b>Ctrl+Q</b></td><td>quit</td></tr>
</table>
"""
