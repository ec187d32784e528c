"""A walker with ``walk_forward``: training sweeps per window, then each winner tested on
the window that follows."""
