"""Camera-placement design: the fewest cameras (or the best K) reaching a read-rate goal (docs/optimize.md)."""
