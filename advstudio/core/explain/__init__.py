"""Why a prediction is what it is: attributions (attribution.py), the loss landscape (landscape.py), the decision
plane (boundary.py), the penultimate-layer projection (projection.py), their PNG-ready figures (figures.py) and the
plain sentences that say what each shows (words.py).

Nothing is imported here: words.py and figures.py are numpy only, so the window's views can use them without
importing torch."""
